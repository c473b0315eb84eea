/**
 * The body of a log record, and of a replication frame, which carries the same bytes: a
 * batch of mutations (see log-record.ts for the record around it and the format's history).
 * It has no checksum of its own, and no Node import, so the browser bundle can hold it.
 */
import { pack, Unpackr } from "msgpackr";
import type { Mutation } from "./mutation.js";
import { ObjectBudget } from "./decode-budget.js";
import { scanMsgpack } from "./msgpack-bounds.js";
import { LOG_ITEM_RULES, logBodyBudgetLimit } from "./decode-limits.js";

/** msgpackr's default reader (what `unpack` uses), only ever given bytes already scanned. */
const unpackr = new Unpackr({ useRecords: false });

/**
 * Decode a msgpack part of a body after checking it (msgpack-bounds.ts): a replication body
 * comes from a peer, and even our own files must not be able to make a reader balloon.
 */
function unpackItem(bytes: Buffer, budget: ObjectBudget): unknown {
  scanMsgpack(bytes, LOG_ITEM_RULES, budget);
  return unpackr.unpack(bytes);
}

/** First byte of a binary body: 0xc1 is the one byte msgpack never uses. */
const BINARY = 0xc1;
const SET = 1;
const DELETE = 2;
const PACKED = 3;
const DEDUP = 4;
/** A set with its version (its TTL the dict's). */
const SET_V = 5;
/** A delete with the partition's highest version at the time. */
const DELETE_V = 6;
/** A set with its version and its own TTL. */
const SET_VT = 7;

type KeyMutation = Extract<Mutation, { op: "set" | "delete" }>;
type DedupMutation = Extract<Mutation, { op: "dedup" }>;

/** An expiry's delete is packed (it is rare), so it keeps its `expired` flag: replicas tell watchers. */
function fixed(m: Mutation): m is KeyMutation {
  return (m.op === "set" || (m.op === "delete" && m.expired !== true)) && m.part <= 0xffff && m.gen <= 0xffffffff && Number.isInteger(m.gen);
}

function fixedDedup(m: Mutation): m is DedupMutation {
  return m.op === "dedup" && (m.part === undefined || (Number.isInteger(m.part) && m.part >= 0 && m.part < 0xffff)) && m.id.length < 0x4000;
}

/** A version as stored: a non-negative exact integer. */
function isVersion(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

/** The stored answers of nearly every write (a put's `true`), packed once. */
const PACKED_TRUE = pack({ r: true });
const PACKED_FALSE = pack({ r: false });

/** `pack(answer)`, without packing the two commonest answers again for every write. */
function packAnswer(answer: unknown): Buffer {
  const a = answer as { r?: unknown; c?: unknown; m?: unknown } | null;
  if (typeof a === "object" && a !== null && a.c === undefined && a.m === undefined) {
    if (a.r === true) return PACKED_TRUE;
    if (a.r === false) return PACKED_FALSE;
  }
  return pack(answer);
}

/**
 * Encode a batch as a record body, after `reserve` bytes left for the caller (the log's
 * header). Replication frames carry the same body, so a replica decodes what the log reads.
 */
export function encodeBody(muts: readonly Mutation[], reserve = 0): Buffer {
  let size = reserve + 1;
  const packed: (Buffer | undefined)[] = new Array(muts.length);
  // Per answer record, its id's UTF-8 length (written straight into the body, not via a Buffer of its own).
  const idBytes: (number | undefined)[] = new Array(muts.length);
  // A batch is nearly always one dict: its bytes are encoded once.
  let dict = "";
  let dictBytes: Buffer = Buffer.alloc(0);
  const bytesOf = (d: string): Buffer => {
    if (d !== dict) {
      dict = d;
      dictBytes = Buffer.from(d, "utf8");
    }
    return dictBytes;
  };
  for (let i = 0; i < muts.length; i++) {
    const m = muts[i] as Mutation;
    if (fixed(m)) {
      // tag, part, gen, dict length + dict, key length + key, version, (deadline, [ttl], value length + value)
      size += 1 + 2 + 4 + 2 + bytesOf(m.dict).length + 4 + m.key.byteLength + 8;
      if (m.op === "set") size += 8 + (m.ttl === 0 ? 0 : 8) + 4 + m.value.byteLength;
    } else if (fixedDedup(m)) {
      // tag, flags, part, at, id length + id, answer length + answer
      const idLength = Buffer.byteLength(m.id, "utf8");
      const p = packAnswer(m.answer);
      idBytes[i] = idLength;
      packed[i] = p;
      size += 1 + 1 + 2 + 8 + 2 + idLength + 4 + p.length;
    } else {
      const p = pack(m);
      packed[i] = p;
      size += 1 + 4 + p.length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  let at = reserve;
  out[at++] = BINARY;
  for (let i = 0; i < muts.length; i++) {
    const m = muts[i] as Mutation;
    const p = packed[i];
    const idLength = idBytes[i];
    if (idLength !== undefined && p !== undefined) {
      const d = m as DedupMutation;
      out[at++] = DEDUP;
      out[at++] = d.memoryOnly ? 1 : 0;
      at = out.writeUInt16LE(d.part ?? 0xffff, at);
      at = out.writeDoubleLE(d.at, at);
      at = out.writeUInt16LE(idLength, at);
      at += out.write(d.id, at, idLength, "utf8");
      at = out.writeUInt32LE(p.length, at);
      at += p.copy(out, at);
      continue;
    }
    if (p !== undefined) {
      out[at++] = PACKED;
      at = out.writeUInt32LE(p.length, at);
      at += p.copy(out, at);
      continue;
    }
    const k = m as KeyMutation;
    out[at++] = k.op === "set" ? (k.ttl === 0 ? SET_V : SET_VT) : DELETE_V;
    at = out.writeUInt16LE(k.part, at);
    at = out.writeUInt32LE(k.gen, at);
    const d = bytesOf(k.dict);
    at = out.writeUInt16LE(d.length, at);
    out.set(d, at);
    at += d.length;
    at = out.writeUInt32LE(k.key.byteLength, at);
    out.set(k.key, at);
    at += k.key.byteLength;
    at = out.writeDoubleLE(k.ver, at);
    if (k.op === "set") {
      at = out.writeDoubleLE(k.deadline, at);
      if (k.ttl !== 0) at = out.writeDoubleLE(k.ttl, at);
      at = out.writeUInt32LE(k.value.byteLength, at);
      out.set(k.value, at);
      at += k.value.byteLength;
    }
  }
  return out;
}

/**
 * The mutations of a record's body (checksum already verified). Keys and values are views
 * into `body`. Throws on a body that does not parse (it cannot, once its checksum matched,
 * unless written by a newer version; a replication frame's body is checked only by this).
 *
 * What decoding allocates is bounded by the body's length: each fixed item takes at least
 * 18 bytes for at most a mutation object, two views and a string, and the msgpack parts
 * share a budget of objects proportional to the body ({@link logBodyBudgetLimit}), never an
 * absolute one, so a large record this node wrote is never refused.
 *
 * With `budget` (a replication frame from a sender that is not a node: the message's
 * budget), every item is charged to it, the fixed ones too.
 */
export function decodeBody(body: Buffer, budget?: ObjectBudget): Mutation[] {
  const fixedObjects = budget === undefined ? 0 : 1;
  budget ??= new ObjectBudget(logBodyBudgetLimit(body.length), "a log record");
  if (body[0] !== BINARY) return unpackItem(body, budget) as Mutation[];
  const out: Mutation[] = [];
  let at = 1;
  while (at < body.length) {
    const tag = body[at++];
    if (tag === PACKED) {
      const len = body.readUInt32LE(at);
      at += 4;
      if (at + len > body.length) throw new Error("log item runs past its record");
      out.push(unpackItem(body.subarray(at, at + len), budget) as Mutation);
      at += len;
      continue;
    }
    if (tag === DEDUP) {
      budget.take(fixedObjects);
      const flags = body[at] as number;
      const part = body.readUInt16LE(at + 1);
      const when = body.readDoubleLE(at + 3);
      const idLen = body.readUInt16LE(at + 11);
      at += 13;
      if (at + idLen + 4 > body.length) throw new Error("log item runs past its record");
      const id = body.toString("utf8", at, at + idLen);
      at += idLen;
      const ansLen = body.readUInt32LE(at);
      at += 4;
      if (at + ansLen > body.length) throw new Error("log item runs past its record");
      const answer: unknown = unpackItem(body.subarray(at, at + ansLen), budget);
      at += ansLen;
      out.push({ op: "dedup", id, at: when, answer, ...((flags & 1) !== 0 && { memoryOnly: true }), ...(part !== 0xffff && { part }) });
      continue;
    }
    if (tag !== SET && tag !== DELETE && tag !== SET_V && tag !== DELETE_V && tag !== SET_VT) throw new Error(`unknown log item ${String(tag)}`);
    const versioned = tag !== SET && tag !== DELETE;
    // The mutation and its key view (and its value's, below).
    budget.take(2 * fixedObjects);
    const part = body.readUInt16LE(at);
    const gen = body.readUInt32LE(at + 2);
    const dictLen = body.readUInt16LE(at + 6);
    at += 8;
    const dict = body.toString("utf8", at, at + dictLen);
    at += dictLen;
    const keyLen = body.readUInt32LE(at);
    at += 4;
    const key = body.subarray(at, at + keyLen);
    at += keyLen;
    // Every length is checked against the body: a body from a peer has no checksum.
    if (at > body.length) throw new Error("log item runs past its record");
    let ver = 0;
    if (versioned) {
      ver = body.readDoubleLE(at);
      at += 8;
      if (!isVersion(ver)) throw new Error("log item has a bad version");
    }
    if (tag === DELETE || tag === DELETE_V) {
      out.push({ op: "delete", part, dict, gen, key, ver });
      continue;
    }
    budget.take(fixedObjects);
    const deadline = body.readDoubleLE(at);
    let ttl = 0;
    if (tag === SET_VT) {
      ttl = body.readDoubleLE(at + 8);
      at += 8;
      if (!(ttl > 0)) throw new Error("log item has a bad TTL");
    }
    const valueLen = body.readUInt32LE(at + 8);
    at += 12;
    const value = body.subarray(at, at + valueLen);
    at += valueLen;
    if (at > body.length) throw new Error("log item runs past its record");
    out.push({ op: "set", part, dict, gen, key, value, deadline, ver, ttl });
  }
  return out;
}
