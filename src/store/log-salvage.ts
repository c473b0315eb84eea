/**
 * Salvaging a damaged log file: every record whose header and body checksums hold, found by
 * resynchronising on the next valid record after each bad region, and the byte ranges that
 * were not. Pure functions over a file's bytes (log-repair.ts does the folder work).
 */
import { murmur3 } from "../hashing/hash.js";
import { allZero, fileHeader, FILE_HEADER, headerOk, KIND_SEGMENT, KIND_SNAPSHOT, lastNonZero, recordOk } from "./log-file.js";
import { decodeBody, encodeTrailer, FLAG_TRAILER, frameRecord, HEADER, headerChecksum, RECORD_MAGIC, RECORD_VERSION } from "../encoding/log-record.js";

/** Bytes of a file that held no record that checks. Offsets are into the original file. */
export interface BadRegion {
  from: number;
  to: number;
  reason: string;
}

/** A snapshot's trailer: how many records it counts, and how many valid ones came before it. */
export interface TrailerFound {
  offset: number;
  count: number;
  before: number;
}

/** What a damaged file still holds. */
export interface Salvage {
  /** 1: the earlier format (no file header, murmur3 records); 2: the current one. */
  format: 1 | 2;
  /** Valid records in file order, framed in the current format (trailers not among them). */
  records: Buffer[];
  regions: BadRegion[];
  /** The last trailer of a format-2 snapshot, if one checks. */
  trailer?: TrailerFound;
}

const V1_HEADER = 8;
const FILE_MAGIC = fileHeader(KIND_SEGMENT).subarray(0, 4);

function addRegion(regions: BadRegion[], from: number, to: number, reason: string): void {
  if (to <= from) return;
  const last = regions.at(-1);
  // Damage that runs on (a bad header, then zeros) is one region.
  if (last && last.to >= from) {
    last.to = Math.max(last.to, to);
    if (!last.reason.split("; ").includes(reason)) last.reason += `; ${reason}`;
    return;
  }
  regions.push({ from, to, reason });
}

/** The next offset at or after `from` where a format-2 record checks (magic, header and body checksums). */
function nextRecord(buf: Buffer, from: number): number | undefined {
  for (let p = buf.indexOf(RECORD_MAGIC, from); p !== -1; p = buf.indexOf(RECORD_MAGIC, p + 1)) if (recordOk(buf, p)) return p;
  return undefined;
}

function whyBad(buf: Buffer, at: number): string {
  if (allZero(buf, at, Math.min(at + HEADER, buf.length))) return "zeros where a record was expected";
  if (at + HEADER > buf.length) return "a record header runs past the end of the file";
  const checks = buf[at] === RECORD_MAGIC && buf[at + 1] === RECORD_VERSION && headerChecksum(buf.subarray(at, at + 8)) === buf.readUInt32LE(at + 8);
  if (!checks) return "bad record header (magic, version or its checksum)";
  return headerOk(buf, at) ? "record body checksum mismatch" : "a record that runs past the end of the file (cut short)";
}

/** Keep the valid record in [at, end), or say why it cannot be kept. */
function take(buf: Buffer, at: number, end: number, kind: number, out: Salvage): string | undefined {
  const body = buf.subarray(at + HEADER, end);
  if ((buf.readUInt16LE(at + 2) & FLAG_TRAILER) !== 0) {
    if (kind !== KIND_SNAPSHOT || body.length !== 4) return "a trailer record where none belongs";
    out.trailer = { offset: at, count: body.readUInt32LE(0), before: out.records.length };
    return undefined;
  }
  try {
    decodeBody(body);
  } catch (err) {
    return `a record with valid checksums that does not decode (${(err as Error).message})`;
  }
  out.records.push(buf.subarray(at, end));
  return undefined;
}

function salvageV2(buf: Buffer, kind: number): Salvage {
  const out: Salvage = { format: 2, records: [], regions: [] };
  if (!buf.subarray(0, FILE_HEADER).equals(fileHeader(kind))) addRegion(out.regions, 0, Math.min(FILE_HEADER, buf.length), "damaged file header");
  let at = FILE_HEADER;
  while (at < buf.length) {
    if (recordOk(buf, at)) {
      const end = at + HEADER + buf.readUInt32LE(at + 4);
      const dropped = take(buf, at, end, kind, out);
      if (dropped !== undefined) addRegion(out.regions, at, end, dropped);
      at = end;
      continue;
    }
    // A header that checks vouches for its length: skip the whole record rather than search
    // inside it, where a stored value could itself look like a record. (With a bad header
    // there is no length to trust, so such a value inside it would be kept: a limit of any
    // reader that resynchronises.)
    const skip = headerOk(buf, at) ? at + HEADER + buf.readUInt32LE(at + 4) : at + 1;
    const next = nextRecord(buf, skip);
    if (next !== undefined) {
      addRegion(out.regions, at, next, whyBad(buf, at));
      at = next;
      continue;
    }
    // Nothing valid after: what is not zero is damage; the zeros are a segment's unused space.
    const last = lastNonZero(buf, at);
    if (last >= at) addRegion(out.regions, at, Math.max(last + 1, skip), whyBad(buf, at));
    break;
  }
  return out;
}

/** The first body byte of a format-1 record: a msgpack array, or the binary layout's 0xc1. */
function plausibleV1Body(byte: number | undefined): boolean {
  return byte === 0xc1 || byte === 0xdc || byte === 0xdd || (byte !== undefined && byte >= 0x90 && byte <= 0x9f);
}

/** Where a valid format-1 record at `at` ends, or undefined. Having no magic, it must also decode. */
function v1RecordEnd(buf: Buffer, at: number): number | undefined {
  if (at + V1_HEADER >= buf.length) return undefined;
  const len = buf.readUInt32LE(at);
  const end = at + V1_HEADER + len;
  if (len === 0 || end > buf.length || !plausibleV1Body(buf[at + V1_HEADER])) return undefined;
  const body = buf.subarray(at + V1_HEADER, end);
  if (murmur3(body) !== buf.readUInt32LE(at + 4)) return undefined;
  try {
    decodeBody(body);
  } catch {
    return undefined;
  }
  return end;
}

function nextV1(buf: Buffer, from: number): number | undefined {
  for (let p = from; p + V1_HEADER < buf.length; p++) if (v1RecordEnd(buf, p) !== undefined) return p;
  return undefined;
}

function salvageV1(buf: Buffer): Salvage {
  const out: Salvage = { format: 1, records: [], regions: [] };
  let at = 0;
  while (at < buf.length) {
    const end = v1RecordEnd(buf, at);
    if (end !== undefined) {
      // Reframed in the current format: the engine reads both, and the new one checks its header.
      const rec = Buffer.alloc(HEADER + end - at - V1_HEADER);
      buf.copy(rec, HEADER, at + V1_HEADER, end);
      out.records.push(frameRecord(rec));
      at = end;
      continue;
    }
    const next = nextV1(buf, at + 1);
    if (next !== undefined) {
      addRegion(out.regions, at, next, "bad record (length or checksum)");
      at = next;
      continue;
    }
    const last = lastNonZero(buf, at);
    if (last >= at) addRegion(out.regions, at, last + 1, "bad record (length or checksum)");
    break;
  }
  return out;
}

/**
 * Every record of a damaged log file that still checks, and the byte ranges that do not.
 * After a bad region it resynchronises on the next record whose magic, header checksum and
 * body checksum hold (and whose body decodes). A file whose own header is damaged is still
 * read as the current format when records of that format are in it. `kind` is
 * `KIND_SEGMENT` or `KIND_SNAPSHOT` (from log-file.ts).
 */
export function salvage(buf: Buffer, kind: number): Salvage {
  const v2 = buf.subarray(0, 4).equals(FILE_MAGIC) || nextRecord(buf, FILE_HEADER) !== undefined || nextV1(buf, 0) === undefined;
  return v2 ? salvageV2(buf, kind) : salvageV1(buf);
}

/**
 * The file written in place of a damaged one: a file header and the valid records, in the
 * current format whatever the original's.
 *
 * A snapshot stays a snapshot, with a new trailer counting the records kept. Recovery replays
 * a snapshot's records exactly as a segment's; what sets a snapshot apart is that it must end
 * in a trailer that counts them, and that it starts the log: recovery reads no file numbered
 * below it (those were deleted when it was installed), and segment N.log, the first written
 * after it, shares its number N. So turning it into a segment could not keep its name, and
 * would gain nothing: the records it lost are lost either way. The new trailer is sound as
 * long as the report says what it no longer counts, which it does (the old trailer's count).
 */
export function repairedFile(s: Salvage, kind: number): Buffer {
  return Buffer.concat([fileHeader(kind), ...s.records, ...(kind === KIND_SNAPSHOT ? [encodeTrailer(s.records.length)] : [])]);
}
