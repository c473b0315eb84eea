/**
 * `shardict repair` for the log engine: keep every record of a node's log files that still
 * checks, drop the rest, and say exactly what was dropped.
 *
 * Recovery refuses a file with damage a torn write cannot explain (log-file.ts): at rf 1,
 * serving less than was acknowledged has to be an operator's decision. This is that
 * decision made explicit. A file recovery refuses is rewritten with only its valid records
 * (the original is moved to `<node>/repair-<time>/`, never deleted), and the report names
 * every byte range dropped. Dropped records are lost writes; and since the log is replayed
 * in order, a dropped overwrite or delete brings back the value before it.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { murmur3 } from "../hashing/hash.js";
import { openDataDir } from "./data-dir.js";
import { readHead, syncDir } from "./log-io.js";
import { allZero, fileHeader, FILE_HEADER, hasRecords, headerOk, KIND_SEGMENT, KIND_SNAPSHOT, lastNonZero, recordOk, scanFile } from "./log-file.js";
import { decodeBody, encodeTrailer, FLAG_TRAILER, frameRecord, HEADER, headerChecksum, RECORD_MAGIC, RECORD_VERSION } from "../encoding/log-record.js";
import { segmentName } from "./segment-space.js";
import { CorruptStorageError } from "./storage-errors.js";

/** What dropped records cost, for every report that drops any. */
export const LOST_WRITES =
  "Dropped records are lost writes: the puts, deletes and clears they held are gone. Where a dropped record " +
  "overwrote or deleted a key, the value before it has come back (an older value, or a deleted key). " +
  "At replication factor 2 or more, prefer a rebuild from replicas (README \"Durability\").";

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

export type FileKind = "segment" | "snapshot";

export interface FileReport {
  file: string;
  kind: FileKind;
  /**
   * ok: recovery reads it as it is; damaged: recovery refuses it; superseded: numbered
   * below the newest snapshot, so recovery deletes it without reading it.
   */
  status: "ok" | "damaged" | "superseded";
  bytes: number;
  /** Records that check (a snapshot's trailer not counted); for a damaged file, the ones kept. */
  records: number;
  /** Where and why recovery refuses the file. */
  refused?: { offset: number; reason: string };
  format?: 1 | 2;
  badRegions: BadRegion[];
  bytesDropped: number;
  trailer?: TrailerFound;
  /** A torn last write that recovery cuts off by itself (never acknowledged). */
  torn?: { offset: number; length: number };
  /** Size of the file written in its place. */
  repairedBytes?: number;
}

export interface RepairReport {
  node: string;
  /** The log folder. */
  folder: string;
  dryRun: boolean;
  files: FileReport[];
  damaged: number;
  bytesDropped: number;
  /** Whether damaged files were replaced. */
  repaired: boolean;
  /** Where the originals of the damaged files are now. */
  backup?: string;
  /** What the drop costs ({@link LOST_WRITES}), when anything is dropped. */
  lostWrites?: string;
}

/** The folder cannot be repaired as asked: no log folder for that node. */
export class RepairError extends Error {
  override name = "RepairError";
}

interface Listed {
  name: string;
  seq: number;
  kind: number;
  /** Read by recovery (else superseded). */
  read: boolean;
  newest: boolean;
}

/**
 * The folder's segments and snapshots as recovery sees them; segments never written are left
 * out. Files numbered below the newest snapshot (left only by a crash between a snapshot's
 * rename and the deletion of what it replaces) are deleted by recovery unread: they are
 * listed as superseded and not read here either.
 */
function listFiles(dir: string): Listed[] {
  const files = readdirSync(dir)
    .map((name) => {
      const m = /^(\d{12})\.(log|snap)$/.exec(name);
      return m ? { name, seq: Number(m[1]), kind: m[2] === "snap" ? KIND_SNAPSHOT : KIND_SEGMENT } : undefined;
    })
    .filter((f) => f !== undefined)
    .sort((a, b) => a.seq - b.seq || b.kind - a.kind);
  const snap = files.findLast((f) => f.kind === KIND_SNAPSHOT);
  const from = snap?.seq ?? 0;
  const out: Listed[] = [];
  for (const f of files) {
    if (f.seq < from) out.push({ ...f, read: false, newest: false });
    else if (f.kind === KIND_SNAPSHOT || holdsData(join(dir, f.name))) out.push({ ...f, read: true, newest: false });
  }
  const newest = out.findLast((f) => f.read && f.kind === KIND_SEGMENT);
  if (newest) newest.newest = true;
  return out;
}

/**
 * Whether a segment holds anything: its first record header says so, or (as recovery checks
 * before it reuses a segment that looks unwritten) some byte after its file header does.
 */
function holdsData(path: string): boolean {
  if (hasRecords(readHead(path))) return true;
  return lastNonZero(readFileSync(path), FILE_HEADER) >= FILE_HEADER;
}

/** Check one file as recovery would; salvage it if recovery refuses it. */
function inspect(dir: string, f: Listed): { report: FileReport; repaired?: Buffer } {
  const kind = f.kind === KIND_SNAPSHOT ? "snapshot" : "segment";
  if (!f.read) return { report: { file: f.name, kind, status: "superseded", bytes: statSync(join(dir, f.name)).size, records: 0, badRegions: [], bytesDropped: 0 } };
  const buf = readFileSync(join(dir, f.name));
  const report: FileReport = { file: f.name, kind, status: "ok", bytes: buf.length, records: 0, badRegions: [], bytesDropped: 0 };
  try {
    const scanned = scanFile(buf, f.name, f.kind, f.newest);
    report.records = scanned.records;
    if (scanned.torn) report.torn = scanned.torn;
    return { report };
  } catch (err) {
    if (!(err instanceof CorruptStorageError)) throw err;
    report.refused = { offset: err.offset, reason: err.reason };
  }
  const s = salvage(buf, f.kind);
  const repaired = repairedFile(s, f.kind);
  report.status = "damaged";
  report.format = s.format;
  report.records = s.records.length;
  report.badRegions = s.regions;
  report.bytesDropped = s.regions.reduce((n, r) => n + r.to - r.from, 0);
  if (s.trailer) report.trailer = s.trailer;
  report.repairedBytes = repaired.length;
  return { report, repaired };
}

/** Put `data` in place of `name`, the original going to `backup`; durable before it returns. */
function replace(dir: string, backup: string, f: Listed, data: Buffer): void {
  const path = join(dir, f.name);
  try {
    linkSync(path, join(backup, f.name));
  } catch {
    // A file system without hard links: a copy, synced, serves as well.
    copyFileSync(path, join(backup, f.name));
    syncFile(join(backup, f.name));
  }
  syncDir(backup);
  // A `.tmp` name: if repair dies here, recovery deletes the leftover.
  const tmp = join(dir, segmentName(f.seq, "tmp"));
  const fd = openSync(tmp, "w");
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncDir(dir);
}

function syncFile(path: string): void {
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A new `repair-<time>` folder in `nodeDir`. */
function makeBackup(nodeDir: string, now: Date): string {
  const stamp = now.toISOString().replace(/[:.]/g, "-");
  for (let n = 1; ; n++) {
    const path = join(nodeDir, `repair-${stamp}${n > 1 ? `-${n}` : ""}`);
    try {
      mkdirSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw err;
    }
    syncDir(nodeDir);
    return path;
  }
}

export interface RepairOptions {
  dataDir: string;
  node: string;
  /** Report only; change nothing. */
  dryRun?: boolean;
  /** For the backup folder's name. */
  now?: Date;
}

/**
 * Repair the log folder of `<dataDir>/<node>/`: take the folder's lock (rejects with
 * DataDirLockedError while the node runs), check every segment and snapshot as recovery
 * does, and unless `dryRun`, replace each file recovery refuses by its valid records, the
 * original moved to `<dataDir>/<node>/repair-<time>/`. Throws {@link RepairError} when the
 * node has no log folder, and an Error if the repaired folder still fails the checks.
 */
export async function repairNode(opts: RepairOptions): Promise<RepairReport> {
  const nodeDir = join(opts.dataDir, opts.node);
  const dir = join(nodeDir, "log");
  // Before the lock, which would create the node's folder.
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    const lmdb = existsSync(join(nodeDir, "lmdb")) ? " (it holds LMDB data: repair is for the log engine)" : "";
    throw new RepairError(`${dir} does not exist: node ${opts.node} has no log data in ${opts.dataDir}${lmdb}`);
  }
  const lock = await openDataDir(opts.dataDir, opts.node);
  try {
    const dryRun = opts.dryRun ?? false;
    const report: RepairReport = { node: opts.node, folder: dir, dryRun, files: [], damaged: 0, bytesDropped: 0, repaired: false };
    for (const f of listFiles(dir)) {
      const { report: r, repaired } = inspect(dir, f);
      report.files.push(r);
      if (!repaired) continue;
      report.damaged++;
      report.bytesDropped += r.bytesDropped;
      if (dryRun) continue;
      report.backup ??= makeBackup(nodeDir, opts.now ?? new Date());
      replace(dir, report.backup, f, repaired);
    }
    if (report.damaged > 0) report.lostWrites = LOST_WRITES;
    if (report.damaged > 0 && !dryRun) {
      report.repaired = true;
      // What recovery will read now must pass recovery's own checks.
      for (const f of listFiles(dir)) {
        const { report: r } = inspect(dir, f);
        if (r.status === "damaged") throw new Error(`${f.name} in ${dir} still fails its checks after repair (offset ${r.refused?.offset}: ${r.refused?.reason}); the originals are in ${report.backup}`);
      }
    }
    return report;
  } finally {
    lock.release();
  }
}
