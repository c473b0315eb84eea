/**
 * A compact binary encoding for the frames of the data path (key reads and writes, bulk
 * updates, their plain replies and scan pages, and replication), which are nearly all the traffic. Packing them as
 * msgpack maps spent more CPU in both processes than the work the shard does for a read:
 * every frame repeats its field names, and every field goes through a generic encoder.
 *
 * A binary message starts with {@link BINARY_MESSAGE} (0xc1, the one byte msgpack never
 * uses, so the receiver tells the two apart by the first byte) and holds a batch of items,
 * each a tag byte and fixed fields; any other frame travels inside the batch as msgpack.
 * Decoding yields the same plain objects msgpack would, which the codec then validates
 * against the frame schemas like any other frame: the schemas stay the one definition.
 *
 * Numbers: `rid`, `op` and `epoch` as float64 (exact for safe integers), partitions as u16,
 * lengths as u32 (strings u8). A frame whose fields do not fit (a partition above 65535,
 * a dict id above 255 bytes, a field of the wrong type) goes as msgpack instead, so what
 * is invalid still reaches the receiver's validation and gets its typed error. Only the
 * fields of the frame's type are carried (frames come from our typed code).
 */
import type { Frame } from "./frames.js";
import { Latin1Bytes } from "../encoding/latin1-bytes.js";
import { ScanPage } from "../encoding/scan-page.js";
import { decodeBody, encodeBody } from "../encoding/log-record.js";
import { DecodeLimitError, type ObjectBudget } from "../encoding/decode-budget.js";
import type { Mutation } from "../encoding/mutation.js";

export const BINARY_MESSAGE = 0xc1;

const T_PACKED = 0;
const T_GET = 1;
const T_CONTAINS = 2;
const T_POP = 3;
const T_DEL = 4;
const T_PUT = 5;
const T_UPDATE_PARTS = 6;
/** Replication: the mutations travel as a log-record body (log-record.ts). */
const T_REPL = 7;
const T_OK = 16;
const T_OK_TRUE = 17;
const T_OK_FALSE = 18;
const T_OK_NULL = 19;
const T_OK_BYTES = 20;
const T_OK_NUMBER = 21;
const T_OK_PAGE = 22;
const NO_NEXT = 0xffffffff;

const KEY_OPS = { get: T_GET, contains: T_CONTAINS, pop: T_POP, del: T_DEL } as const;
const KEY_OP_NAMES = ["", "get", "contains", "pop", "del"] as const;

type AnyFrame = Record<string, unknown> & { type: string };

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isU16 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff;
const isNum = (v: unknown): v is number => typeof v === "number";
/** UTF-8 length of a dict id; ids are nearly always ASCII, and one dict is usually hot. */
let lastDict = "";
let lastDictBytes = 0;
function dictBytes(v: unknown): number {
  if (typeof v !== "string" || v.length > 64) return -1;
  if (v !== lastDict) {
    lastDict = v;
    lastDictBytes = Buffer.byteLength(v);
  }
  return lastDictBytes > 255 ? -1 : lastDictBytes;
}

/** The item size of a frame in binary, or -1 if it must travel as msgpack. */
function binarySize(f: AnyFrame): number {
  if (!isNum(f.rid)) return -1;
  switch (f.type) {
    case "get":
    case "contains":
    case "pop":
    case "del":
    case "put": {
      // (Frames come from our own typed code: no stray properties to carry.)
      const d = dictBytes(f.dict);
      if (d < 0 || !isU16(f.part) || !isNum(f.epoch) || !isBytes(f.key)) return -1;
      let n = 1 + 8 + 2 + 8 + 1 + d + 4 + f.key.byteLength;
      if (f.type === "put") {
        if (!isBytes(f.value) || typeof f.ifAbsent !== "boolean") return -1;
        n += 1 + 4 + f.value.byteLength;
      }
      return n;
    }
    case "updateParts": {
      const d = dictBytes(f.dict);
      if (!isNum(f.op) || d < 0 || !isNum(f.epoch) || !Array.isArray(f.parts)) return -1;
      let n = 1 + 8 + 8 + 8 + 1 + d + 4;
      for (const g of f.parts as unknown[]) {
        if (typeof g !== "object" || g === null) return -1;
        const { part, keys, values } = g as Record<string, unknown>;
        if (!isU16(part) || !Array.isArray(keys) || !Array.isArray(values) || keys.length !== values.length) return -1;
        n += 2 + 4;
        for (let i = 0; i < keys.length; i++) {
          const k: unknown = keys[i];
          const v: unknown = values[i];
          if (!isBytes(k) || !isBytes(v)) return -1;
          n += 8 + k.byteLength + v.byteLength;
        }
      }
      return n;
    }
    case "ok": {
      const r = f.result;
      if (r === undefined) return 9;
      if (typeof r === "boolean" || r === null) return 9;
      if (typeof r === "number") return 17;
      if (isBytes(r)) return 13 + r.byteLength;
      if (r instanceof Latin1Bytes) return 13 + r.text.length;
      if (r instanceof ScanPage) {
        if (r.session.length > 255 || Buffer.byteLength(r.session) > 255) return -1;
        let n = 1 + 8 + 1 + Buffer.byteLength(r.session) + 4 + (r.nextString?.length ?? 0) + 4 + 4;
        for (const k of r.keyStrings) n += 4 + k.length;
        for (const v of r.valueStrings) n += 4 + v.length;
        return n;
      }
      return -1;
    }
    default:
      return -1;
  }
}

/** Encode a batch; frames that have no binary form are embedded as `pack(frame)`. */
export function encodeBinary(frames: readonly Frame[], pack: (f: Frame) => Buffer): Buffer {
  const packed = new Array<Buffer | undefined>(frames.length);
  /** Replication bodies, encoded in the sizing pass and copied in the writing pass. */
  let bodies: Buffer[] | undefined;
  let total = 1;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as Frame;
    if (f.type === "repl" && isNum(f.rid) && isU16(f.part) && isNum(f.pepoch) && Array.isArray(f.muts)) {
      const body = encodeBody(f.muts as Mutation[]);
      (bodies ??= new Array<Buffer>(frames.length))[i] = body;
      total += 1 + 8 + 2 + 8 + 4 + body.length;
      continue;
    }
    const n = binarySize(f as unknown as AnyFrame);
    if (n < 0) {
      const p = pack(f);
      packed[i] = p;
      total += 5 + p.length;
    } else {
      total += n;
    }
  }
  const out = Buffer.allocUnsafe(total);
  out[0] = BINARY_MESSAGE;
  let at = 1;
  const bytes = (b: Uint8Array) => {
    at = out.writeUInt32LE(b.byteLength, at);
    out.set(b, at);
    at += b.byteLength;
  };
  const dict = (s: string) => {
    const n = out.write(s, at + 1, "utf8");
    out[at] = n;
    at += 1 + n;
  };
  // A byte string (latin1: one character per byte) as length + bytes.
  const latin1 = (s: string) => {
    at = out.writeUInt32LE(s.length, at);
    at += out.write(s, at, "latin1");
  };
  for (let i = 0; i < frames.length; i++) {
    const p = packed[i];
    if (p !== undefined) {
      out[at++] = T_PACKED;
      at = out.writeUInt32LE(p.length, at);
      at += p.copy(out, at);
      continue;
    }
    const f = frames[i] as unknown as AnyFrame;
    const body = bodies?.[i];
    if (body !== undefined) {
      out[at++] = T_REPL;
      at = out.writeDoubleLE(f.rid as number, at);
      at = out.writeUInt16LE(f.part as number, at);
      at = out.writeDoubleLE(f.pepoch as number, at);
      bytes(body);
      continue;
    }
    switch (f.type) {
      case "get":
      case "contains":
      case "pop":
      case "del":
      case "put":
        out[at++] = f.type === "put" ? T_PUT : KEY_OPS[f.type];
        at = out.writeDoubleLE(f.rid as number, at);
        at = out.writeUInt16LE(f.part as number, at);
        at = out.writeDoubleLE(f.epoch as number, at);
        dict(f.dict as string);
        bytes(f.key as Uint8Array);
        if (f.type === "put") {
          out[at++] = f.ifAbsent ? 1 : 0;
          bytes(f.value as Uint8Array);
        }
        break;
      case "updateParts": {
        out[at++] = T_UPDATE_PARTS;
        at = out.writeDoubleLE(f.rid as number, at);
        at = out.writeDoubleLE(f.op as number, at);
        at = out.writeDoubleLE(f.epoch as number, at);
        dict(f.dict as string);
        const parts = f.parts as { part: number; keys: Uint8Array[]; values: Uint8Array[] }[];
        at = out.writeUInt32LE(parts.length, at);
        for (const g of parts) {
          at = out.writeUInt16LE(g.part, at);
          at = out.writeUInt32LE(g.keys.length, at);
          for (let j = 0; j < g.keys.length; j++) {
            bytes(g.keys[j] as Uint8Array);
            bytes(g.values[j] as Uint8Array);
          }
        }
        break;
      }
      case "ok": {
        const r = f.result;
        if (r instanceof ScanPage) {
          out[at++] = T_OK_PAGE;
          at = out.writeDoubleLE(f.rid as number, at);
          dict(r.session);
          if (r.nextString === null) at = out.writeUInt32LE(NO_NEXT, at);
          else latin1(r.nextString);
          at = out.writeUInt32LE(r.keyStrings.length, at);
          for (const k of r.keyStrings) latin1(k);
          at = out.writeUInt32LE(r.valueStrings.length, at);
          for (const v of r.valueStrings) latin1(v);
          break;
        }
        const tag =
          r === undefined ? T_OK : r === true ? T_OK_TRUE : r === false ? T_OK_FALSE : r === null ? T_OK_NULL : typeof r === "number" ? T_OK_NUMBER : T_OK_BYTES;
        out[at++] = tag;
        at = out.writeDoubleLE(f.rid as number, at);
        if (tag === T_OK_NUMBER) at = out.writeDoubleLE(r as number, at);
        else if (r instanceof Latin1Bytes) latin1(r.text);
        else if (tag === T_OK_BYTES) bytes(r as Uint8Array);
        break;
      }
    }
  }
  if (at !== total) throw new Error(`binary batch size mismatch: wrote ${at} of ${total}`);
  return out;
}

/**
 * The last short string decoded (a dict id: nearly every frame names the same one), so a
 * frame naming it again gets the same string without decoding it, and later lookups keyed
 * by it compare one string object.
 */
let lastBytes = Buffer.alloc(0);
let lastString = "";

function cachedString(data: Buffer, from: number, n: number): string {
  if (n === lastBytes.length) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (data[from + i] !== lastBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastString;
  }
  lastString = data.toString("utf8", from, from + n);
  lastBytes = Buffer.from(data.subarray(from, from + n));
  return lastString;
}

export interface BinaryDecodeOptions {
  /** Frames one message may hold: more is refused while reading, not after. */
  maxItems: number;
  /** The message's object budget: frames, byte views, lists (and embedded msgpack). */
  budget: ObjectBudget;
  /** Decode an embedded msgpack frame under the same budget (or refuse it). */
  unpack(bytes: Buffer, budget: ObjectBudget): unknown;
  /**
   * Whether the sender is a node (authenticated with the cluster secret). A replication
   * body from a node is bounded by its own length; from anyone else it is charged to the
   * message's budget like everything else (then refused by the node's role check).
   */
  node: boolean;
}

const truncated = () => new DecodeLimitError("format", "not a valid binary message: an item runs past its end");

/**
 * Decode a binary message into raw frame objects (to be validated like any decoded frame;
 * `unpack` may return what it likes for an embedded one). Throws a {@link DecodeLimitError}
 * when it is not a well-formed batch (truncated, an unknown tag, more than `maxItems`
 * frames) or holds more objects than its budget; counts are charged before the lists they
 * size are allocated. Byte fields are views into `data`.
 *
 * A replication body from a node is bounded by its own length instead (see log-record.ts):
 * the frame batches mutations of many writes, so no fixed count fits it. From any other
 * sender (`node: false`) it is held to the message's budget.
 */
export function decodeBinary(data: Buffer, opts: BinaryDecodeOptions): unknown[] {
  const { maxItems, budget } = opts;
  let at = 1;
  const need = (n: number) => {
    if (at + n > data.length) throw truncated();
  };
  const f64 = () => {
    need(8);
    const v = data.readDoubleLE(at);
    at += 8;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = data.readUInt32LE(at);
    at += 4;
    return v;
  };
  const u16 = () => {
    need(2);
    const v = data.readUInt16LE(at);
    at += 2;
    return v;
  };
  const bytes = () => {
    const n = u32();
    need(n);
    const b = data.subarray(at, at + n);
    at += n;
    return b;
  };
  const str = () => {
    need(1);
    const n = data[at] as number;
    need(1 + n);
    const s = cachedString(data, at + 1, n);
    at += 1 + n;
    return s;
  };
  const out: unknown[] = [];
  while (at < data.length) {
    if (out.length >= maxItems) throw new DecodeLimitError("batch", `a binary message of more than ${maxItems} frames`, maxItems);
    const tag = data[at++];
    switch (tag) {
      case T_PACKED: {
        const n = u32();
        need(n);
        out.push(opts.unpack(data.subarray(at, at + n), budget));
        at += n;
        break;
      }
      case T_GET:
      case T_CONTAINS:
      case T_POP:
      case T_DEL:
      case T_PUT: {
        const rid = f64();
        const part = u16();
        const epoch = f64();
        const dict = str();
        const key = bytes();
        if (tag === T_PUT) {
          budget.take(3);
          need(1);
          const ifAbsent = data[at++] === 1;
          out.push({ type: "put", rid, dict, part, epoch, key, value: bytes(), ifAbsent });
        } else {
          budget.take(2);
          out.push({ type: KEY_OP_NAMES[tag], rid, dict, part, epoch, key });
        }
        break;
      }
      case T_UPDATE_PARTS: {
        const rid = f64();
        const op = f64();
        const epoch = f64();
        const dict = str();
        const count = u32();
        // Each group takes at least 6 bytes: a count beyond the message is garbage.
        need(count * 6);
        // The frame, its list of groups, and per group an object and two lists.
        budget.take(2 + 3 * count);
        const parts = new Array<{ part: number; keys: Uint8Array[]; values: Uint8Array[] }>(count);
        for (let g = 0; g < count; g++) {
          const part = u16();
          const n = u32();
          need(n * 8);
          budget.take(2 * n);
          const keys = new Array<Uint8Array>(n);
          const values = new Array<Uint8Array>(n);
          for (let j = 0; j < n; j++) {
            keys[j] = bytes();
            values[j] = bytes();
          }
          parts[g] = { part, keys, values };
        }
        out.push({ type: "updateParts", rid, op, dict, epoch, parts });
        break;
      }
      case T_REPL: {
        const rid = f64();
        const part = u16();
        const pepoch = f64();
        budget.take(2);
        out.push({ type: "repl", rid, part, pepoch, muts: decodeBody(bytes(), opts.node ? undefined : budget) });
        break;
      }
      case T_OK:
        budget.take(1);
        out.push({ type: "ok", rid: f64() });
        break;
      case T_OK_TRUE:
      case T_OK_FALSE:
      case T_OK_NULL:
        budget.take(1);
        out.push({ type: "ok", rid: f64(), result: tag === T_OK_TRUE ? true : tag === T_OK_FALSE ? false : null });
        break;
      case T_OK_NUMBER: {
        budget.take(1);
        const rid = f64();
        out.push({ type: "ok", rid, result: f64() });
        break;
      }
      case T_OK_BYTES: {
        budget.take(2);
        const rid = f64();
        out.push({ type: "ok", rid, result: bytes() });
        break;
      }
      case T_OK_PAGE: {
        const rid = f64();
        const session = str();
        need(4);
        budget.take(3);
        const next = data.readUInt32LE(at) === NO_NEXT ? ((at += 4), null) : bytes();
        const list = () => {
          const n = u32();
          need(n * 4);
          budget.take(1 + n);
          const xs = new Array<Uint8Array>(n);
          for (let i = 0; i < n; i++) xs[i] = bytes();
          return xs;
        };
        const keys = list();
        out.push({ type: "ok", rid, result: { keys, values: list(), next, session } });
        break;
      }
      default:
        throw new DecodeLimitError("format", `not a valid binary message: unknown item tag ${String(tag)}`);
    }
  }
  return out;
}
