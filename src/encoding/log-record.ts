/**
 * The log's record format (version 2):
 * `[u8 0xA5][u8 version 2][u16 flags][u32 length][u32 crc32 of those 8 bytes][u32 crc32 of the body][body]`.
 *
 * The header has a checksum of its own: a length is trusted only once it checks, so a
 * flipped bit in a length can neither send the reader astray nor pass for a torn write.
 * The magic byte means sixteen zero bytes, which is what a preallocated segment holds after
 * its last record, never pass as a record.
 * Version 1 records (`[u32 length][u32 murmur3 of the body]`) are still read, see log-file.ts.
 * Sets and deletes written before entries had versions (tags 1 and 2) read as version 0
 * with the dict's TTL; every set and delete is now written with its version (tags 5 and 6,
 * and 7 for a set with its own TTL, which most are not: they save the 8 bytes). Tags 8 and 9
 * are 5 and 7 with the put's answer kept for retries (`{ r: true }` under a client's request
 * id) written after the set instead of as an item of its own; they read back as both.
 *
 * A body is a batch of mutations. Sets, deletes and answers kept for retries, nearly every
 * record, are written in a fixed binary layout: packing them as msgpack maps cost more CPU
 * than the rest of a durable write together. Anything else (and a set whose numbers do not
 * fit the layout) is one msgpack value inside the batch. Bodies written before this layout
 * are one msgpack array; they start with an array byte, never with the binary tag, so both
 * are read back.
 *
 * The body (what replication frames carry too) is log-body.ts, apart from the checksums:
 * the wire codec needs only the body, and the browser bundle, which has it, has no zlib.
 */
import { crc32 } from "node:zlib";
import type { Mutation } from "./mutation.js";
import { encodeBody } from "./log-body.js";
export { decodeBody, encodeBody } from "./log-body.js";

export const HEADER = 16;
export const RECORD_MAGIC = 0xa5;
export const RECORD_VERSION = 2;
/** Flag of a snapshot's last record, which counts the records before it. */
export const FLAG_TRAILER = 1;

/** The checksum of a record's header: its first 8 bytes. */
export function headerChecksum(header: Uint8Array): number {
  return crc32(header.subarray(0, 8));
}

export function bodyChecksum(body: Uint8Array): number {
  return crc32(body);
}

/** Frame a body that starts after `HEADER` reserved bytes of `out` (it is written in place). */
export function frameRecord(out: Buffer, flags = 0): Buffer {
  out[0] = RECORD_MAGIC;
  out[1] = RECORD_VERSION;
  out.writeUInt16LE(flags, 2);
  out.writeUInt32LE(out.length - HEADER, 4);
  out.writeUInt32LE(headerChecksum(out), 8);
  out.writeUInt32LE(bodyChecksum(out.subarray(HEADER)), 12);
  return out;
}

/** Encode a batch as one record (header included). */
export function encodeRecord(muts: readonly Mutation[]): Buffer {
  return frameRecord(encodeBody(muts, HEADER));
}

/** A snapshot's trailer: the number of records before it, so a cut-short snapshot is caught. */
export function encodeTrailer(records: number): Buffer {
  const out = Buffer.alloc(HEADER + 4);
  out.writeUInt32LE(records, HEADER);
  return frameRecord(out, FLAG_TRAILER);
}
