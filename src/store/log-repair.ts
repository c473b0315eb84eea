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
import { openDataDir } from "./data-dir.js";
import { repairedFile, salvage, type BadRegion, type TrailerFound } from "./log-salvage.js";
import { readHead, syncDir } from "./log-io.js";
import { FILE_HEADER, hasRecords, KIND_SEGMENT, KIND_SNAPSHOT, scanFile, zerosFrom } from "./log-file.js";
import { segmentName } from "./segment-space.js";
import { CorruptStorageError } from "./storage-errors.js";

/** What dropped records cost, for every report that drops any. */
export const LOST_WRITES =
  "Dropped records are lost writes: the puts, deletes and clears they held are gone. Where a dropped record " +
  "overwrote or deleted a key, the value before it has come back (an older value, or a deleted key). " +
  "At replication factor 2 or more, prefer a rebuild from replicas (README \"Durability\").";

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
  return !zerosFrom(readFileSync(path), FILE_HEADER);
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
