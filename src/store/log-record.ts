/**
 * The log's record format: `[u32 length][u32 murmur3 of the body][body]`.
 *
 * A body is a batch of mutations. Sets and deletes, nearly every record, are written in a
 * fixed binary layout: packing them as msgpack maps cost more CPU than the rest of a durable
 * write together. Anything else (and a set whose numbers do not fit the layout) is one
 * msgpack value inside the batch. Bodies written before this layout are one msgpack array;
 * they start with an array byte, never with {@link BINARY}, so both are read back.
 */
import { pack, unpack } from "msgpackr";
import { murmur3 } from "../hashing/hash.js";
import type { Mutation } from "./storage-engine.js";

export const HEADER = 8;
/** First byte of a binary body: 0xc1 is the one byte msgpack never uses. */
const BINARY = 0xc1;
const SET = 1;
const DELETE = 2;
const PACKED = 3;

type KeyMutation = Extract<Mutation, { op: "set" | "delete" }>;

function fixed(m: Mutation): m is KeyMutation {
  return (m.op === "set" || m.op === "delete") && m.part <= 0xffff && m.gen <= 0xffffffff && Number.isInteger(m.gen);
}

/** Encode a batch as one record (header included). */
export function encodeRecord(muts: readonly Mutation[]): Buffer {
  const out = encodeBody(muts, HEADER);
  const body = out.subarray(HEADER);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(murmur3(body), 4);
  return out;
}

/**
 * Encode a batch as a record body, after `reserve` bytes left for the caller (the log's
 * header). Replication frames carry the same body, so a replica decodes what the log reads.
 */
export function encodeBody(muts: readonly Mutation[], reserve = 0): Buffer {
  let size = reserve + 1;
  const packed: (Buffer | undefined)[] = new Array(muts.length);
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
      // tag, part, gen, dict length + dict, key length + key, (deadline, value length + value)
      size += 1 + 2 + 4 + 2 + bytesOf(m.dict).length + 4 + m.key.byteLength;
      if (m.op === "set") size += 8 + 4 + m.value.byteLength;
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
    if (p !== undefined) {
      out[at++] = PACKED;
      at = out.writeUInt32LE(p.length, at);
      at += p.copy(out, at);
      continue;
    }
    const k = m as KeyMutation;
    out[at++] = k.op === "set" ? SET : DELETE;
    at = out.writeUInt16LE(k.part, at);
    at = out.writeUInt32LE(k.gen, at);
    const d = bytesOf(k.dict);
    at = out.writeUInt16LE(d.length, at);
    out.set(d, at);
    at += d.length;
    at = out.writeUInt32LE(k.key.byteLength, at);
    out.set(k.key, at);
    at += k.key.byteLength;
    if (k.op === "set") {
      at = out.writeDoubleLE(k.deadline, at);
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
 */
export function decodeBody(body: Buffer): Mutation[] {
  if (body[0] !== BINARY) return unpack(body) as Mutation[];
  const out: Mutation[] = [];
  let at = 1;
  while (at < body.length) {
    const tag = body[at++];
    if (tag === PACKED) {
      const len = body.readUInt32LE(at);
      at += 4;
      if (at + len > body.length) throw new Error("log item runs past its record");
      out.push(unpack(body.subarray(at, at + len)) as Mutation);
      at += len;
      continue;
    }
    if (tag !== SET && tag !== DELETE) throw new Error(`unknown log item ${String(tag)}`);
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
    if (tag === DELETE) {
      out.push({ op: "delete", part, dict, gen, key });
      continue;
    }
    const deadline = body.readDoubleLE(at);
    const valueLen = body.readUInt32LE(at + 8);
    at += 12;
    const value = body.subarray(at, at + valueLen);
    at += valueLen;
    if (at > body.length) throw new Error("log item runs past its record");
    out.push({ op: "set", part, dict, gen, key, value, deadline });
  }
  return out;
}
