/**
 * Reading a log file back, and deciding what a bad record means.
 *
 * A file starts with an 8-byte header (`SDLG`, version, kind). Segments are preallocated
 * with zeros, so their records end at sixteen zero bytes. A crash can damage only the last
 * record written (each record is synced before the next is written, and every start writes
 * to a new segment), and only by leaving some of its sectors unwritten, i.e. still zero. So
 * a record that fails its checks is accepted as the end of the log (a *torn write*, never
 * acknowledged) only in the newest segment, only if what is wrong with it is missing
 * sectors (zeros), and only if no valid record follows it anywhere in the file. Anything
 * else (a flipped bit, a zeroed sector before other records, a bad or cut-short snapshot)
 * is corruption: the caller refuses to start rather than replay less than was acknowledged.
 *
 * Files without the header are version 1 (`[u32 length][u32 murmur3]` records, no
 * preallocation): there, a bad record is accepted only at the end of the newest segment.
 */
import { murmur3 } from "../hashing/hash.js";
import { bodyChecksum, decodeBody, FLAG_TRAILER, HEADER, headerChecksum, RECORD_MAGIC, RECORD_VERSION } from "../encoding/log-record.js";
import { CorruptStorageError } from "./storage-errors.js";
import type { Mutation } from "./storage-engine.js";

export const FILE_HEADER = 8;
const FILE_MAGIC = Buffer.from("SDLG", "latin1");
const FILE_VERSION = 2;
export const KIND_SEGMENT = 1;
export const KIND_SNAPSHOT = 2;
const SECTOR = 512;
const V1_HEADER = 8;

export function fileHeader(kind: number): Buffer {
  const out = Buffer.alloc(FILE_HEADER);
  FILE_MAGIC.copy(out, 0);
  out[4] = FILE_VERSION;
  out[5] = kind;
  return out;
}

export interface ScannedFile {
  batches: Mutation[][];
  /** Records read (a snapshot's trailer not counted). */
  records: number;
  /** Where the records end (the next append would go here). */
  end: number;
  /** A torn last record that was cut off: its offset and the bytes it spanned. */
  torn?: { offset: number; length: number };
}

export function allZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/** A valid record header (magic, version, its own checksum, a length inside the file) at `at`. */
export function headerOk(buf: Buffer, at: number): boolean {
  return (
    at + HEADER <= buf.length &&
    buf[at] === RECORD_MAGIC &&
    buf[at + 1] === RECORD_VERSION &&
    headerChecksum(buf.subarray(at, at + 8)) === buf.readUInt32LE(at + 8) &&
    at + HEADER + buf.readUInt32LE(at + 4) <= buf.length
  );
}

/** A valid record (header as {@link headerOk}, and its body's checksum) at `at`. */
export function recordOk(buf: Buffer, at: number): boolean {
  if (!headerOk(buf, at)) return false;
  const len = buf.readUInt32LE(at + 4);
  return bodyChecksum(buf.subarray(at + HEADER, at + HEADER + len)) === buf.readUInt32LE(at + 12);
}

/** Whether any valid record starts after `from` (then nothing before it can be a torn tail). */
function validAfter(buf: Buffer, from: number): boolean {
  for (let p = buf.indexOf(RECORD_MAGIC, from + 1); p !== -1; p = buf.indexOf(RECORD_MAGIC, p + 1)) if (recordOk(buf, p)) return true;
  return false;
}

/** Some aligned sector that starts in [from, to) is all zeros: a part of a write that never landed. */
function zeroSectorIn(buf: Buffer, from: number, to: number): boolean {
  for (let s = Math.ceil(from / SECTOR) * SECTOR; s < to; s += SECTOR) if (allZero(buf, s, Math.min(s + SECTOR, buf.length))) return true;
  return false;
}

/** What is wrong with the record at `at`, or undefined; and whether a torn write explains it. */
function checkV2(buf: Buffer, at: number): { bad: string; tearable: boolean } | undefined {
  if (!headerOk(buf, at)) {
    // A header is torn only by an unwritten (zero) sector: a zero magic, or a zero end past a sector boundary.
    const end = Math.min(at + HEADER, buf.length);
    const tearable = buf[at] === 0 || zeroSectorIn(buf, at + 1, end) || (Math.ceil((at + 1) / SECTOR) * SECTOR < end && allZero(buf, Math.ceil((at + 1) / SECTOR) * SECTOR, end));
    return { bad: at + HEADER > buf.length ? "a record header runs past the end of the file" : "bad record header (magic, version, length or its checksum)", tearable };
  }
  const len = buf.readUInt32LE(at + 4);
  if (bodyChecksum(buf.subarray(at + HEADER, at + HEADER + len)) !== buf.readUInt32LE(at + 12)) {
    return { bad: "record body checksum mismatch", tearable: zeroSectorIn(buf, at + HEADER, at + HEADER + len) };
  }
  return undefined;
}

function decodeAt(file: string, at: number, body: Buffer): Mutation[] {
  try {
    return decodeBody(body);
  } catch (err) {
    throw new CorruptStorageError(file, at, `a record with a valid checksum does not decode (${(err as Error).message})`);
  }
}

/**
 * Read a file's records. `newest` says the file is the newest segment holding records (the
 * only place a torn write can be); `kind` what the file must be.
 */
export function scanFile(buf: Buffer, file: string, kind: number, newest: boolean): ScannedFile {
  if (buf.length >= FILE_HEADER && buf.subarray(0, 4).equals(FILE_MAGIC)) return scanV2(buf, file, kind, newest);
  if (buf.length === 0) {
    // Every snapshot has at least a header and a trailer: an empty one lost its contents.
    if (kind === KIND_SNAPSHOT) throw new CorruptStorageError(file, 0, "the snapshot is empty (its contents were lost)");
    return { batches: [], records: 0, end: 0 };
  }
  return scanV1(buf, file, kind, newest);
}

function scanV2(buf: Buffer, file: string, kind: number, newest: boolean): ScannedFile {
  if (buf[4] !== FILE_VERSION) throw new CorruptStorageError(file, 4, `unknown file version ${String(buf[4])}`);
  if (buf[5] !== kind) throw new CorruptStorageError(file, 5, `file kind ${String(buf[5])} where ${kind} was expected`);
  const out: ScannedFile = { batches: [], records: 0, end: FILE_HEADER };
  let at = FILE_HEADER;
  let trailer = false;
  while (at < buf.length) {
    const problem = allZero(buf, at, Math.min(at + HEADER, buf.length)) ? { bad: "", tearable: true } : checkV2(buf, at);
    if (problem !== undefined) {
      // The end of the records (zeros), or a torn last write: either way nothing valid may follow.
      if (validAfter(buf, at)) throw new CorruptStorageError(file, at, problem.bad || "zeros where a record was expected, with records after them");
      if (problem.bad !== "") {
        if (kind !== KIND_SEGMENT || !newest || !problem.tearable) throw new CorruptStorageError(file, at, problem.bad);
        const len = headerOk(buf, at) ? buf.readUInt32LE(at + 4) : 0;
        out.torn = { offset: at, length: Math.min(buf.length, Math.max(at + HEADER + len, lastNonZero(buf, at) + 1)) - at };
      } else if (!allZero(buf, at, buf.length)) {
        // Non-zero bytes after the end that are no record: a torn write whose first sector never landed.
        if (kind !== KIND_SEGMENT || !newest) throw new CorruptStorageError(file, at, "unexpected bytes after the last record");
        out.torn = { offset: at, length: lastNonZero(buf, at) + 1 - at };
      }
      break;
    }
    if (trailer) throw new CorruptStorageError(file, at, "data after a snapshot's trailer");
    const len = buf.readUInt32LE(at + 4);
    const body = buf.subarray(at + HEADER, at + HEADER + len);
    if ((buf.readUInt16LE(at + 2) & FLAG_TRAILER) !== 0) {
      if (kind !== KIND_SNAPSHOT || len !== 4 || body.readUInt32LE(0) !== out.records) throw new CorruptStorageError(file, at, "a trailer that does not match the records before it");
      trailer = true;
    } else {
      out.batches.push(decodeAt(file, at, body));
      out.records++;
    }
    at += HEADER + len;
  }
  out.end = at;
  if (kind === KIND_SNAPSHOT && !trailer) throw new CorruptStorageError(file, at, "the snapshot ends before its trailer (cut short)");
  return out;
}

const ZEROS = Buffer.alloc(64 * 1024);

/**
 * Whether every byte from `from` on is zero, compared natively a chunk at a time (a spare
 * segment is 16 MiB of zeros, checked at every start).
 */
export function zerosFrom(buf: Buffer, from: number): boolean {
  for (let at = from; at < buf.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, buf.length - at);
    if (!buf.subarray(at, at + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

/** The last non-zero byte at or after `from`, or `from - 1`. */
export function lastNonZero(buf: Buffer, from: number): number {
  for (let i = buf.length - 1; i >= from; i--) if (buf[i] !== 0) return i;
  return from - 1;
}

function scanV1(buf: Buffer, file: string, kind: number, newest: boolean): ScannedFile {
  const out: ScannedFile = { batches: [], records: 0, end: 0 };
  let at = 0;
  while (at < buf.length) {
    let bad: string | undefined;
    if (at + V1_HEADER > buf.length) bad = "a record header runs past the end of the file";
    else {
      const len = buf.readUInt32LE(at);
      if (at + V1_HEADER + len > buf.length) bad = `a record of ${len} bytes runs past the end of the file`;
      else if (murmur3(buf.subarray(at + V1_HEADER, at + V1_HEADER + len)) !== buf.readUInt32LE(at + 4)) bad = "checksum mismatch";
    }
    if (bad !== undefined) {
      // Version 1 had no way to tell a torn write from damage: only its newest segment's end may be cut.
      if (kind !== KIND_SEGMENT || !newest) throw new CorruptStorageError(file, at, bad);
      out.torn = { offset: at, length: buf.length - at };
      break;
    }
    const len = buf.readUInt32LE(at);
    out.batches.push(decodeAt(file, at, buf.subarray(at + V1_HEADER, at + V1_HEADER + len)));
    out.records++;
    at += V1_HEADER + len;
  }
  out.end = at;
  return out;
}

/** Whether a file holds any record (a preallocated segment never written to holds none). */
export function hasRecords(buf: Buffer): boolean {
  if (buf.length >= FILE_HEADER && buf.subarray(0, 4).equals(FILE_MAGIC)) return !allZero(buf, FILE_HEADER, Math.min(buf.length, FILE_HEADER + HEADER));
  return buf.length > 0;
}
