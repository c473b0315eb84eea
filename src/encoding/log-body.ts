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
/**
 * {@link SET_V} and {@link SET_VT} followed by the write's answer kept for retries, `{ r: true }`
 * under a client's request id: `[f64 at][f64 request id][u16 length + client id]` after the
 * set. Nearly every put is one. As an item of its own the answer cost a shard ~11% of its CPU
 * per rf 1 put (its id built into a string, measured and written as UTF-8, its answer
 * checked and copied; README, Performance), and ~10 bytes more.
 */
const SET_VD = 8;
const SET_VTD = 9;

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
 * Whether a set and the answer after it can go as one item ({@link SET_VD}): the commonest
 * pair of every log round, a put and its `{ r: true }` kept for retries. Only an answer
 * under a client's request id, written to disk, of the same partition.
 */
function fusible(set: KeyMutation, next: Mutation | undefined): next is DedupMutation & { client: string; rid: number } {
  if (set.op !== "set" || next === undefined || next.op !== "dedup" || next.memoryOnly === true || next.part !== set.part) return false;
  if (next.client === undefined || next.rid === undefined || !Number.isSafeInteger(next.rid) || next.rid < 0 || next.client.length >= 0x4000) return false;
  const a = next.answer as { r?: unknown; c?: unknown; m?: unknown } | null;
  return typeof a === "object" && a !== null && a.r === true && a.c === undefined && a.m === undefined;
}

/** How each mutation of a batch is written. */
const AS_FIXED = 0;
const AS_DEDUP = 1;
const AS_PACKED = 2;
/** A set with the answer after it (which is then {@link AS_PART}). */
const AS_FUSED = 3;
const AS_PART = 4;

/** `bytes` after their u16 length, at `at` in `out`; returns where they end. */
function putBytes16(out: Buffer, at: number, bytes: Uint8Array): number {
  const from = out.writeUInt16LE(bytes.length, at);
  out.set(bytes, from);
  return from + bytes.length;
}

/**
 * A string's UTF-8 bytes, encoded again only for a string other than the last one asked for.
 * One per module, not per batch: batches follow one another with the same dict and client,
 * and at rf 2 a replica's batches are small (a closure pair and two buffers per call were
 * ~600 bytes per replicated put). Encoding is synchronous, so no two batches share it at once.
 */
class LastUtf8 {
  private last = "";
  private bytes: Buffer = Buffer.alloc(0);
  of(s: string): Buffer {
    if (s !== this.last) {
      this.last = s;
      this.bytes = Buffer.from(s, "utf8");
    }
    return this.bytes;
  }
}
const dictUtf8 = new LastUtf8();
const clientUtf8 = new LastUtf8();

/**
 * Encode a batch as a record body, after `reserve` bytes left for the caller (the log's
 * header). Replication frames carry the same body, so a replica decodes what the log reads.
 */
export function encodeBody(muts: readonly Mutation[], reserve = 0): Buffer {
  let size = reserve + 1;
  const as = new Uint8Array(muts.length);
  const packed: (Buffer | undefined)[] = new Array(muts.length);
  // Per answer record, its id's UTF-8 length (written straight into the body, not via a Buffer of its own).
  const idBytes: (number | undefined)[] = new Array(muts.length);
  for (let i = 0; i < muts.length; i++) {
    const m = muts[i] as Mutation;
    if (fixed(m)) {
      // tag, part, gen, dict length + dict, key length + key, version, (deadline, [ttl], value length + value)
      size += 1 + 2 + 4 + 2 + dictUtf8.of(m.dict).length + 4 + m.key.byteLength + 8;
      if (m.op === "set") size += 8 + (m.ttl === 0 ? 0 : 8) + 4 + m.value.byteLength;
      const next = muts[i + 1];
      if (fusible(m, next)) {
        // at, request id, client length + client
        size += 8 + 8 + 2 + clientUtf8.of(next.client).length;
        as[i] = AS_FUSED;
        as[++i] = AS_PART;
      }
    } else if (fixedDedup(m)) {
      // tag, flags, part, at, id length + id, answer length + answer
      const idLength = Buffer.byteLength(m.id, "utf8");
      const p = packAnswer(m.answer);
      idBytes[i] = idLength;
      packed[i] = p;
      as[i] = AS_DEDUP;
      size += 1 + 1 + 2 + 8 + 2 + idLength + 4 + p.length;
    } else {
      const p = pack(m);
      packed[i] = p;
      as[i] = AS_PACKED;
      size += 1 + 4 + p.length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  let at = reserve;
  out[at++] = BINARY;
  for (let i = 0; i < muts.length; i++) {
    const m = muts[i] as Mutation;
    const how = as[i];
    if (how === AS_PART) continue;
    if (how === AS_DEDUP) {
      const d = m as DedupMutation;
      const p = packed[i] as Buffer;
      const idLength = idBytes[i] as number;
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
    if (how === AS_PACKED) {
      const p = packed[i] as Buffer;
      out[at++] = PACKED;
      at = out.writeUInt32LE(p.length, at);
      at += p.copy(out, at);
      continue;
    }
    const k = m as KeyMutation;
    const fused = how === AS_FUSED;
    out[at++] = k.op === "set" ? (k.ttl === 0 ? (fused ? SET_VD : SET_V) : fused ? SET_VTD : SET_VT) : DELETE_V;
    at = out.writeUInt16LE(k.part, at);
    at = out.writeUInt32LE(k.gen, at);
    at = putBytes16(out, at, dictUtf8.of(k.dict));
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
    if (fused) {
      const a = muts[i + 1] as DedupMutation & { client: string; rid: number };
      at = out.writeDoubleLE(a.at, at);
      at = out.writeDoubleLE(a.rid, at);
      at = putBytes16(out, at, clientUtf8.of(a.client));
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
    if (tag !== SET && tag !== DELETE && tag !== SET_V && tag !== DELETE_V && tag !== SET_VT && tag !== SET_VD && tag !== SET_VTD) throw new Error(`unknown log item ${String(tag)}`);
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
    if (tag === SET_VT || tag === SET_VTD) {
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
    if (tag !== SET_VD && tag !== SET_VTD) continue;
    // The answer, its object and its id.
    budget.take(3 * fixedObjects);
    if (at + 18 > body.length) throw new Error("log item runs past its record");
    const when = body.readDoubleLE(at);
    const rid = body.readDoubleLE(at + 8);
    const clientLen = body.readUInt16LE(at + 16);
    at += 18;
    if (!Number.isSafeInteger(rid) || rid < 0) throw new Error("log item has a bad request id");
    if (at + clientLen > body.length) throw new Error("log item runs past its record");
    const client = body.toString("utf8", at, at + clientLen);
    at += clientLen;
    // The stored form of a request's id (DedupTable.id).
    out.push({ op: "dedup", id: `${client}:${rid}`, at: when, answer: { r: true }, part, client, rid });
  }
  return out;
}
