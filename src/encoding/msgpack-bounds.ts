/**
 * Bounded msgpack decoding: a structure scanner that walks msgpack bytes before msgpackr
 * decodes them, so that what a peer sends is refused before it costs memory or time.
 *
 * Why a scanner in front of msgpackr rather than options: msgpackr honours record
 * definitions (fixext 0x72) and record references (bytes 0x40–0x7f after a definition)
 * whatever `useRecords` says, its extensions (BigInt, Error, RegExp, Set, typed arrays…)
 * are registered globally for every instance, and a 1-byte msgpack item can become a
 * 40–200 byte JavaScript object (an empty map, array, byte string or typed array). So a
 * message is checked here, iteratively (no recursion, so no stack to exhaust), in one pass
 * over its bytes, against rules for its use (decode-limits.ts):
 *
 * - every declared length is checked against the bytes left before anything relies on it;
 * - containers may nest only so deep (msgpackr's reader and our own code recurse);
 * - *objects* (maps, arrays, byte strings, extension values, record instances) are counted
 *   against a budget ({@link ObjectBudget}) before they would be allocated: with every
 *   item at least one byte, that bounds what decoding allocates to the budget's objects
 *   plus a small multiple of the message's length, and the time to a multiple of its length;
 * - only the extension types the use allows pass, with their payload sizes bounded;
 * - records (values only) are followed, since a reference's field count comes from its
 *   definition, and the keys msgpackr would compile into a reader function are counted.
 *
 * A message that is not msgpack at all (truncated, lengths past its end, trailing bytes)
 * is a `format` error. One that is msgpack but breaks a rule is refused for its content;
 * in a batch of frames only the frame that breaks it is (see {@link scanMsgpack}).
 */
import { DecodeLimitError, type LimitKind, type ObjectBudget } from "./decode-budget.js";
import { skipValue, u16, u32 } from "./msgpack-skip.js";
import type { MsgpackRules, ScanResult } from "./msgpack-rules.js";
export type { ExtRule, MsgpackRules, ScanResult } from "./msgpack-rules.js";

class ContentError extends DecodeLimitError {}

const formatError = (rules: MsgpackRules, what: string) => new DecodeLimitError("format", `not a valid ${rules.what}: ${what}`);
const contentError = (rules: MsgpackRules, kind: LimitKind, what: string, limit?: number, size?: number) =>
  new ContentError(kind, `${rules.what} refused: ${what}`, limit, size);

/** "__proto__" in UTF-8. */
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];

/**
 * Per-scan state, module-level and reused: scans are synchronous and never nest, and a
 * value scan is on the SDK's and the shard's put path (allocations there cost more than
 * the scan). Record definitions are per message in msgpackr too.
 */
let stack = new Float64Array(80);
/** Per record id (0–63): its field count, or -1. Valid only while `recordsOn`. */
const recordFields = new Int32Array(64);
/** Per record id: how many objects of its current definition were read. */
const recordUses = new Int32Array(64);
let recordsOn = false;
let compiledKeys = 0;
let protoKeys: number[] | undefined;
/** When set (the `__proto__` path), record keys of 9 bytes are collected here (latin1). */
let keys9: Set<string> | undefined;
/** Where the header {@link arrayLength} read last ends. */
let headerEnd = 0;

/**
 * Check msgpack bytes `[start, end)` against `rules`, counting objects in `budget`.
 * Throws a {@link DecodeLimitError} for bytes that are not one well-formed msgpack value
 * (`format`), for the budget, and for a content rule. With `frames`, a frame that breaks a
 * content rule is listed in `refused` instead, and the scan goes on with the next frame of
 * a batch (it is skipped by its structure alone).
 */
export function scanMsgpack(bytes: Uint8Array, rules: MsgpackRules, budget: ObjectBudget, start = 0, end = bytes.length, collectKeys9?: Set<string>): ScanResult {
  if (stack.length < rules.maxDepth + 2) stack = new Float64Array(rules.maxDepth + 2);
  recordsOn = false;
  compiledKeys = 0;
  protoKeys = undefined;
  keys9 = collectKeys9;
  if (start >= end) throw formatError(rules, "no bytes");
  const n = rules.maxBatch === undefined ? -1 : arrayLength(bytes, start, end);
  if (n >= 0) {
    const maxBatch = rules.maxBatch as number;
    if (n > maxBatch) throw new DecodeLimitError("batch", `a batch of ${n} frames is more than the ${maxBatch} a message may hold`, maxBatch, n);
    const first = headerEnd;
    let pos = first;
    if (n > end - pos) throw formatError(rules, "a batch longer than its message");
    budget.take(1);
    let refused: Map<number, string> | undefined;
    for (let i = 0; i < n; i++) {
      const from = pos;
      try {
        pos = scanOne(bytes, pos, end, rules, budget, 1);
      } catch (err) {
        if (!(err instanceof ContentError)) throw err;
        pos = skipValue(bytes, from, end);
        (refused ??= new Map()).set(i, err.message);
      }
    }
    // (A refused frame can leave bytes over: msgpackr reads some extensions as longer than
    // msgpack does. Its reason then says more than "bytes after the end".)
    if (pos !== end) throw formatError(rules, refused?.values().next().value ?? "bytes after the end of the batch");
    return { refused, batch: n, first, protoKeys: undefined };
  }
  let pos: number;
  let refused: Map<number, string> | undefined;
  try {
    pos = scanOne(bytes, start, end, rules, budget, 0);
  } catch (err) {
    if (!(err instanceof ContentError) || rules.frames !== true) throw err;
    pos = skipValue(bytes, start, end);
    if (pos !== end) throw err;
    refused = new Map([[0, err.message]]);
  }
  if (pos !== end) throw formatError(rules, "bytes after the end of the value");
  return { refused, batch: -1, first: start, protoKeys };
}

/** The item count of an array header at `pos` (and where it ends, in `headerEnd`), or -1. */
function arrayLength(b: Uint8Array, pos: number, end: number): number {
  const t = b[pos] as number;
  if (t >= 0x90 && t <= 0x9f) {
    headerEnd = pos + 1;
    return t & 0x0f;
  }
  if (t === 0xdc && pos + 3 <= end) {
    headerEnd = pos + 3;
    return u16(b, pos + 1);
  }
  if (t === 0xdd && pos + 5 <= end) {
    headerEnd = pos + 5;
    return u32(b, pos + 1);
  }
  return -1;
}

/** The entry count of a map or array header at `pos` (the value a Set is built from), or 0. */
function containerSize(b: Uint8Array, pos: number, end: number): number {
  const a = arrayLength(b, pos, end);
  if (a >= 0) return a;
  const t = b[pos] as number;
  if (t >= 0x80 && t <= 0x8f) return t & 0x0f;
  if (t === 0xde && pos + 3 <= end) return u16(b, pos + 1);
  if (t === 0xdf && pos + 5 <= end) return u32(b, pos + 1);
  return 0;
}


/**
 * Scan the one value at `pos` (nested `base` containers deep); returns where it ends.
 * The hot loop: one branch per token, a counter per open container.
 */
function scanOne(b: Uint8Array, pos: number, end: number, rules: MsgpackRules, budget: ObjectBudget, base: number): number {
  const maxDepth = rules.maxDepth - base;
  let depth = 0;
  let left = 1; // items still to read in the innermost open container (or the value itself)
  for (;;) {
    while (left === 0) {
      if (depth === 0) return pos;
      left = stack[--depth] as number;
    }
    left--;
    if (pos >= end) throw formatError(rules, "it ends in the middle of a value");
    const t = b[pos++] as number;
    let open = -1; // items of a container this token opens
    if (t < 0x80) {
      // A positive fixint, unless a record with this id was defined earlier in the message.
      if (t < 0x40 || !recordsOn) continue;
      const id = t & 0x3f;
      const k = recordFields[id] as number;
      if (k < 0) continue;
      open = recordUse(rules, budget, id, k);
      if (open > end - pos) throw formatError(rules, "a record's values run past the end");
    } else if (t < 0x90) {
      open = mapOpen(rules, budget, t & 0x0f, pos, end);
    } else if (t < 0xa0) {
      open = t & 0x0f;
      if (open > end - pos) throw formatError(rules, "an array longer than the bytes left");
      budget.take(1);
    } else if (t < 0xc0) {
      pos += t & 0x1f;
      if (pos > end) throw formatError(rules, "a string runs past the end");
      continue;
    } else if (t >= 0xe0) {
      continue;
    } else {
      let n: number;
      switch (t) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          continue;
        case 0xc1:
          throw contentError(rules, "format", "byte 0xc1 (never used in msgpack)");
        case 0xc4:
        case 0xc5:
        case 0xc6:
        case 0xd9:
        case 0xda:
        case 0xdb: {
          const size = t === 0xc4 || t === 0xd9 ? 1 : t === 0xc5 || t === 0xda ? 2 : 4;
          if (pos + size > end) throw formatError(rules, "a length runs past the end");
          n = size === 1 ? (b[pos] as number) : size === 2 ? u16(b, pos) : u32(b, pos);
          pos += size;
          if (n > end - pos) throw formatError(rules, "a string or byte string runs past the end");
          pos += n;
          if (t <= 0xc6) budget.take(1);
          continue;
        }
        case 0xca:
        case 0xce:
        case 0xd2:
          pos += 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          pos += 8;
          break;
        case 0xcc:
        case 0xd0:
          pos += 1;
          break;
        case 0xcd:
        case 0xd1:
          pos += 2;
          break;
        case 0xdc:
        case 0xdd:
        case 0xde:
        case 0xdf: {
          const size = t === 0xdc || t === 0xde ? 2 : 4;
          if (pos + size > end) throw formatError(rules, "a length runs past the end");
          n = size === 2 ? u16(b, pos) : u32(b, pos);
          pos += size;
          if (t <= 0xdd) {
            if (n > end - pos) throw formatError(rules, "an array longer than the bytes left");
            budget.take(1);
            open = n;
          } else {
            open = mapOpen(rules, budget, n, pos, end);
          }
          break;
        }
        default: {
          // Extensions: c7–c9 (ext 8/16/32), d4–d8 (fixext 1/2/4/8/16).
          let len: number;
          if (t >= 0xd4) {
            len = 1 << (t - 0xd4);
          } else {
            const size = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4;
            if (pos + size > end) throw formatError(rules, "a length runs past the end");
            len = size === 1 ? (b[pos] as number) : size === 2 ? u16(b, pos) : u32(b, pos);
            pos += size;
          }
          if (len + 1 > end - pos) throw formatError(rules, "an extension runs past the end");
          const type = b[pos] as number;
          if (type === 0x72 && t <= 0xd5 && t >= 0xd4) {
            if (!rules.records) throw contentError(rules, "records", "msgpackr records are not accepted here");
            if (t === 0xd5) throw contentError(rules, "records", "two-byte record ids are not accepted");
            if (depth + 1 > maxDepth) throw depthError(rules);
            open = recordDefinition(b, pos + 2, end, rules, budget, b[pos + 1] as number);
            pos = headerEnd;
            break;
          }
          const rule = rules.ext[type];
          if (rule === undefined) throw contentError(rules, "ext", `extension type ${type > 127 ? type - 256 : type} is not accepted`);
          if (len < rule.min || len > rule.max) {
            throw contentError(rules, "ext", `extension type ${type > 127 ? type - 256 : type} with a payload of ${len} bytes (at most ${rule.max})`, rule.max, len);
          }
          const bad = rule.check?.(b, pos + 1, pos + 1 + len);
          if (bad !== undefined) throw contentError(rules, "ext", bad);
          budget.take(rule.objects);
          pos += 1 + len;
          if (!rule.follows) continue;
          if (rule.chargeFollower && pos < end) budget.take(containerSize(b, pos, end));
          open = 1; // the value the extension reads next, one level down (msgpackr recurses)
          break;
        }
      }
      if (open < 0) {
        if (pos > end) throw formatError(rules, "a number runs past the end");
        continue;
      }
    }
    if (depth + 1 > maxDepth) throw depthError(rules);
    stack[depth++] = left;
    left = open;
  }
}

function depthError(rules: MsgpackRules): DecodeLimitError {
  return contentError(rules, "depth", `nested more than ${rules.maxDepth} levels deep`, rules.maxDepth);
}

/** A map of `n` entries at `pos`: its item count (keys and values). */
function mapOpen(rules: MsgpackRules, budget: ObjectBudget, n: number, pos: number, end: number): number {
  if (2 * n > end - pos) throw formatError(rules, "a map longer than the bytes left");
  if (n > rules.maxMapEntries) throw contentError(rules, "map", `a map of ${n} entries (at most ${rules.maxMapEntries})`, rules.maxMapEntries, n);
  budget.take(rules.mapEntriesAreObjects ? 1 + n : 1);
  return 2 * n;
}

/** Another object of record `id` (with `k` fields): its item count. */
function recordUse(rules: MsgpackRules, budget: ObjectBudget, id: number, k: number): number {
  // msgpackr compiles a reader function for a record on its 4th object: the costly part.
  if (++(recordUses[id] as number) === 4) {
    compiledKeys += k;
    if (compiledKeys > rules.maxCompiledRecordKeys) {
      throw contentError(rules, "records", `records with more than ${rules.maxCompiledRecordKeys} keys in all used 4 times or more`, rules.maxCompiledRecordKeys, compiledKeys);
    }
  }
  budget.take(1);
  return k;
}

/**
 * A record definition (`d4 72 id`, then an array of key strings, then the first object's
 * values) whose keys start at `pos`: defines `id` and returns the first object's field
 * count; its values start at `headerEnd`.
 */
function recordDefinition(b: Uint8Array, pos: number, end: number, rules: MsgpackRules, budget: ObjectBudget, idByte: number): number {
  if (pos >= end) throw formatError(rules, "a record definition without keys");
  const k = arrayLength(b, pos, end);
  if (k < 0) throw contentError(rules, "records", "a record definition whose keys are not an array");
  pos = headerEnd;
  if (k > end - pos) throw formatError(rules, "a record's keys run past the end");
  // The keys array, its copy as strings, and the first object.
  budget.take(3);
  for (let i = 0; i < k; i++) {
    if (pos >= end) throw formatError(rules, "a record's keys run past the end");
    const t = b[pos] as number;
    let len: number;
    let at: number;
    if (t >= 0xa0 && t <= 0xbf) {
      len = t & 0x1f;
      at = pos + 1;
    } else if (t === 0xd9 && pos + 2 <= end) {
      len = b[pos + 1] as number;
      at = pos + 2;
    } else if (t === 0xda && pos + 3 <= end) {
      len = u16(b, pos + 1);
      at = pos + 3;
    } else if (t === 0xdb && pos + 5 <= end) {
      len = u32(b, pos + 1);
      at = pos + 5;
    } else {
      throw contentError(rules, "records", "a record key that is not a string");
    }
    if (len > end - at) throw formatError(rules, "a record key runs past the end");
    if (len === 9) {
      let proto = true;
      for (let j = 0; j < 9; j++) if (b[at + j] !== PROTO[j]) proto = false;
      if (proto) (protoKeys ??= []).push(pos);
      else keys9?.add(Buffer.from(b.buffer, b.byteOffset + at, 9).toString("latin1"));
    }
    pos = at + len;
  }
  if (k > end - pos) throw formatError(rules, "a record's values run past the end");
  if (!recordsOn) {
    recordFields.fill(-1);
    recordsOn = true;
  }
  const id = idByte & 0x3f;
  recordFields[id] = k;
  recordUses[id] = 0;
  headerEnd = pos;
  return recordUse(rules, budget, id, k);
}
