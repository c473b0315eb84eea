/**
 * Shard storage as an append-only log (`storageEngine: "log"`). A shard already holds every
 * entry in memory, so storage only has to make mutations durable and give them back at
 * start: each commit batch is written into the current segment and `fdatasync`ed once, and
 * batches that arrive while a sync is running share the next one (group commit).
 *
 * Files in the node's folder:
 * - `NNNNNNNNNNNN.log`: segments, made ahead of use and filled with zeros (segment-space.ts),
 *   holding records (log-record.ts); reading one back is log-file.ts;
 * - `NNNNNNNNNNNN.snap`: a snapshot of the whole state, taken when segment NNN was next:
 *   recovery loads the newest snapshot and replays the segments from its number on. A
 *   snapshot is read back and checked before it is renamed into place, and only then are
 *   older files deleted.
 *
 * Failures: a write or sync that fails stops the engine for good (`onFatal`: the node stops
 * serving, and the process exits for its supervisor to restart it from disk). No segment is
 * opened after a failure, and no snapshot taken from memory that may hold the failed batch
 * is renamed into place. A full disk is not a failure: writes are refused before they
 * change anything (see {@link reserve}), and a snapshot that does not fit is dropped and
 * tried again later.
 */
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { encodeRecord } from "../encoding/log-record.js";
import { FILE_HEADER, hasRecords, KIND_SEGMENT, KIND_SNAPSHOT, lastNonZero, scanFile, zerosFrom } from "./log-file.js";
import { DEFAULT_SEGMENT_BYTES, SegmentSpace, segmentName, type Spare } from "./segment-space.js";
import { CorruptStorageError, isNoSpace, StorageFailedError } from "./storage-errors.js";
import type { BatchObserver, Mutation, RecoveredState, StorageEngine } from "./storage-engine.js";
import { Replay } from "./log-replay.js";
import { logFiles, readHead, syncDir, writeAllAt } from "./log-io.js";
import { writeSnapshotFile } from "./log-snapshot.js";
import { CommitLinger } from "./commit-linger.js";
import { Deferred } from "../util/deferred.js";
import { RoundTimes } from "./round-times.js";

/** Segments since the last snapshot may grow to this, or to twice the snapshot, first. */
const MIN_COMPACT_BYTES = 64 * 1024 * 1024;

/**
 * A sync is made on the event loop's own thread while syncs take less than this (a moving
 * average), on libuv's thread pool when they take longer. Handing a sync to the pool and
 * back costs two thread wake-ups, which on a small VM cost more CPU than the sync itself
 * (measured: 61 µs of CPU per inline fdatasync against 143–196 µs through the pool, and
 * half the wall time); but while a sync runs inline nothing else runs, so a slow disk
 * (a cloud volume at several ms a sync) gets the pool, and reads go on meanwhile.
 */
const INLINE_SYNC_MAX_MS = 2;

/** A snapshot that failed for lack of space is tried again this much later. */
const SNAPSHOT_RETRY_MS = 5_000;

/** Everything a snapshot must hold, as mutation batches read lazily from the live state. */
export type SnapshotSource = () => Iterator<Mutation[]>;

export interface LogEngineOptions {
  /** Size of a segment; the bigger, the fewer files (default 16 MiB). */
  segmentBytes?: number;
  /** The node, for messages. */
  node?: string;
  /**
   * Called once, synchronously, when a write or sync fails: the node must stop serving
   * before anything else runs (pending commits are rejected right after).
   */
  onFatal?: (err: StorageFailedError) => void;
  log?: (line: string) => void;
  /** Told of each batch synced (metrics). */
  onBatch?: BatchObserver;
  /** Whether a small round waits a moment for more writes (commit-linger.ts; default true). */
  linger?: boolean;
  /** The clock that times the pauses of that waiting (default `performance.now`; tests freeze it). */
  lingerClock?: () => number;
}

interface Current {
  fd: number;
  seq: number;
  size: number;
  /** Where the next record goes. */
  at: number;
}

export class LogEngine implements StorageEngine {
  readonly durable = true;
  private nextSeq = 1;
  /** The newest segment that received records: a snapshot covers it and everything before. */
  private lastWrittenSeq = 0;
  private current: Current | undefined;
  private readonly space: SegmentSpace;
  private fileBytes = 0;
  private snapshotBytes = 0;
  private queued: Mutation[] = [];
  /**
   * The round the next commits join: they share one promise, since a round is written and
   * synced whole and succeeds or fails whole (a promise, a waiter and two closures per
   * commit were a tenth of what a put allocated).
   */
  private round: Deferred | undefined;
  private writing: Promise<void> = Promise.resolve();
  private compacting: Promise<void> | undefined;
  private snapshotRetryAt = 0;
  private source: SnapshotSource | undefined;
  private closed = false;
  private failure: StorageFailedError | undefined;
  private readonly node: string;
  private readonly log: (line: string) => void;
  /** Group commit's delay: a small round waits for the next write (commit-linger.ts). */
  readonly linger: CommitLinger | undefined;
  /** The write loop's wall time by phase (metrics: where a round's latency goes). */
  readonly roundTimes = new RoundTimes();

  constructor(
    private readonly dir: string,
    private readonly opts: LogEngineOptions = {},
  ) {
    mkdirSync(dir, { recursive: true });
    this.node = opts.node ?? "this node";
    this.log = opts.log ?? ((l) => console.error(l));
    this.linger = opts.linger === false ? undefined : new CommitLinger(opts.lingerClock);
    this.space = new SegmentSpace({
      dir,
      segmentBytes: opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      node: this.node,
      syncDir: () => syncDir(dir),
      nextSeq: () => this.nextSeq++,
      log: this.log,
      onFailure: (err) => this.fail(err, "making a new log segment"),
    });
  }

  /** Where snapshots read the live state from (the shard's partitions, its dicts and answers). */
  setSnapshotSource(source: SnapshotSource): void {
    this.source = source;
  }

  get tight(): boolean {
    return this.space.tight;
  }

  reserve(bytes: number): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    return this.space.reserve(bytes);
  }

  release(bytes: number): void {
    this.space.release(bytes);
  }

  /**
   * Load the newest snapshot and replay the segments after it. Throws
   * {@link CorruptStorageError} on anything but a torn last record, which is zeroed (so a
   * later start does not mistake it for damage) before any new write.
   */
  recover(): RecoveredState {
    // Left-overs of a crash: snapshots and segments never finished.
    for (const name of readdirSync(this.dir)) if (name.endsWith(".prep")) unlinkSync(join(this.dir, name));
    const files = logFiles(this.dir);
    for (const f of files) if (f.ext === "tmp") unlinkSync(join(this.dir, f.name));
    const kept = files.filter((f) => f.ext === "log" || f.ext === "snap");
    const snap = kept.filter((f) => f.ext === "snap").at(-1);
    const from = snap?.seq ?? 0;
    const replay = new Replay();
    if (snap) {
      const buf = readFileSync(join(this.dir, snap.name));
      this.snapshotBytes = buf.length;
      for (const batch of scanFile(buf, snap.name, KIND_SNAPSHOT, false).batches) for (const m of batch) replay.apply(m);
    }
    // Which segments hold records is in their first bytes; each is read whole only to replay it.
    const segments = kept.filter((f) => f.ext === "log" && f.seq >= from).map((f) => ({ ...f, head: readHead(join(this.dir, f.name)) }));
    const written = segments.filter((s) => hasRecords(s.head));
    const newest = written.at(-1)?.seq;
    // A segment counts as unwritten by its first record header alone; it is reused or deleted
    // next, so make sure: one whose first header was zeroed but holds records is damage.
    for (const s of segments) {
      if (written.includes(s)) continue;
      const buf = readFileSync(join(this.dir, s.name));
      if (!zerosFrom(buf, FILE_HEADER)) {
        throw new CorruptStorageError(s.name, FILE_HEADER, `its first record header is zeros but it holds data (up to offset ${lastNonZero(buf, FILE_HEADER)})`);
      }
    }
    // What was read may sit in the page cache unsynced (the last run died on a failed sync):
    // make it durable before anything is served from it, or fail as that run did.
    for (const f of [...(snap ? [snap] : []), ...written]) {
      try {
        const fd = openSync(join(this.dir, f.name), "r+");
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } catch (err) {
        throw new StorageFailedError(`${this.node}: syncing ${f.name} in ${this.dir} at start failed: ${(err as Error).message}`, { cause: err });
      }
    }
    let logBytes = 0;
    for (const s of written) {
      const scanned = scanFile(readFileSync(join(this.dir, s.name)), s.name, KIND_SEGMENT, s.seq === newest);
      for (const batch of scanned.batches) for (const m of batch) replay.apply(m);
      logBytes += scanned.end;
      if (scanned.torn) this.cutTorn(s.name, scanned.torn);
    }
    // Segments never written: those after the newest are ready to use; any other is empty.
    for (const s of segments) {
      if (written.includes(s)) continue;
      if (newest === undefined || s.seq > newest) this.space.spares.push({ seq: s.seq, size: statSync(join(this.dir, s.name)).size });
      else unlinkSync(join(this.dir, s.name));
    }
    for (const f of kept) if (f.seq < from) unlinkSync(join(this.dir, f.name));
    this.nextSeq = files.reduce((max, f) => Math.max(max, f.seq), 0) + 1;
    this.lastWrittenSeq = newest ?? from;
    this.fileBytes = logBytes;
    this.space.keepAhead();
    return replay.state();
  }

  /**
   * Set the folder's files aside, untouched, and start over empty: for a node whose data is
   * corrupt and that is rebuilt from its replicas. Only before a successful recover (nothing
   * has been written or reserved yet). Returns where the files went.
   */
  quarantine(): string {
    if (this.current || this.lastWrittenSeq > 0 || this.space.spares.length > 0) throw new Error("quarantine() is only for a log that failed to recover");
    const aside = `${this.dir}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    renameSync(this.dir, aside);
    mkdirSync(this.dir);
    syncDir(dirname(this.dir));
    this.snapshotBytes = 0;
    this.fileBytes = 0;
    this.nextSeq = 1;
    return aside;
  }

  /** A crash cut this record short; it was never acknowledged. Zero it for good. */
  private cutTorn(name: string, torn: { offset: number; length: number }): void {
    this.log(`${this.node}: ${name}: discarding a torn last record at offset ${torn.offset} (${torn.length} bytes; a crash during its write, never acknowledged)`);
    const fd = openSync(join(this.dir, name), "r+");
    try {
      writeAllAt(fd, Buffer.alloc(torn.length), torn.offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Append to the log; resolves once the batch is on disk (fdatasync). */
  commit(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error("storage is closed"));
    // Answers kept only for replicas (a learner's copy of a primary's) are not written.
    const before = this.queued.length;
    for (const m of mutations) if (m.op !== "dedup" || !m.memoryOnly) this.queued.push(m);
    if (this.queued.length === before) return Promise.resolve();
    const round = (this.round ??= new Deferred());
    this.linger?.arrived();
    this.wake();
    return round.promise;
  }

  private looping = false;
  private compactRequested = false;
  /** A moving average of how long a sync takes (ms), which decides where the next one runs. */
  private syncMs = 0;

  private wake(): void {
    if (this.looping) return;
    this.looping = true;
    this.writing = this.writeLoop();
  }

  /**
   * Stop for good: the node is told first (synchronously, so it stops serving before any
   * rejected commit can be answered), then every waiting commit is rejected.
   */
  private fail(err: unknown, what: string): StorageFailedError {
    if (this.failure) return this.failure;
    const failure = new StorageFailedError(`${this.node}: ${what} failed in ${this.dir}: ${(err as Error).message}`, { cause: err });
    this.failure = failure;
    this.linger?.release();
    if (this.current) closeSync(this.current.fd);
    this.current = undefined;
    this.opts.onFatal?.(failure);
    const round = this.round;
    this.round = undefined;
    this.queued = [];
    round?.reject(failure);
    return failure;
  }

  /**
   * The next ready segment for a record of `bytes` that the current one cannot hold; one is
   * made now if none is big enough (only writes nobody reserved, or a record bigger than a
   * segment, get there). Segments are used in number order: smaller ones before it are dropped.
   */
  private async nextSegment(bytes: number): Promise<Current> {
    if (this.current) closeSync(this.current.fd);
    this.current = undefined;
    this.space.currentFree = 0;
    if (this.space.spares.every((s) => s.size - FILE_HEADER < bytes)) await this.space.make(bytes);
    let spare = this.space.spares.shift() as Spare;
    while (spare.size - FILE_HEADER < bytes) {
      unlinkSync(join(this.dir, segmentName(spare.seq, "log")));
      spare = this.space.spares.shift() as Spare;
    }
    const fd = openSync(join(this.dir, segmentName(spare.seq, "log")), "r+");
    this.current = { fd, seq: spare.seq, size: spare.size, at: FILE_HEADER };
    return this.current;
  }

  /**
   * One append and one sync per round; whatever arrives meanwhile goes in the next. Segment
   * rotation for a snapshot happens here too, between appends.
   */
  private async writeLoop(): Promise<void> {
    const times = this.roundTimes;
    times.enter("turn");
    // Let every connection whose messages arrived in this turn of the event loop queue its
    // mutations first: they share the sync.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.linger?.shouldWait(this.queued.length) && !this.closed && !this.failure) {
      times.enter("linger");
      await this.linger.wait();
      times.enter("turn");
      // The turn that brought the write may bring more: they join too.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    for (;;) {
      if (this.failure) {
        this.looping = false;
        times.enter("idle");
        return;
      }
      if (this.queued.length > 0) {
        const batch = this.queued;
        const round = this.round;
        this.queued = [];
        this.round = undefined;
        try {
          times.enter("write");
          const buf = encodeRecord(batch);
          const c = this.current;
          const seg = c && c.at + buf.length <= c.size ? c : await this.nextSegment(buf.length);
          // Into the page cache at once (microseconds); only the sync waits on the disk.
          writeAllAt(seg.fd, buf, seg.at);
          // One clock for the sync's phase and its histogram (shardict_fsync_duration_seconds).
          const syncStart = times.enter("sync");
          if (this.syncMs < INLINE_SYNC_MAX_MS) fdatasyncSync(seg.fd);
          else await new Promise<void>((resolve, reject) => fdatasync(seg.fd, (err) => (err ? reject(err) : resolve())));
          const took = times.synced("write") - syncStart;
          this.syncMs += (took - this.syncMs) / 8;
          this.opts.onBatch?.(batch.length, took / 1000);
          seg.at += buf.length;
          this.space.currentFree = seg.size - seg.at;
          this.lastWrittenSeq = seg.seq;
          this.fileBytes += buf.length;
          round?.resolve();
        } catch (err) {
          // Rejected after the node is told (fail), with the commits that came in meanwhile.
          round?.reject(this.fail(err, "a log write or sync"));
          this.looping = false;
          times.enter("idle");
          return;
        }
        this.space.keepAhead();
        continue;
      }
      const due = this.fileBytes > Math.max(MIN_COMPACT_BYTES, 2 * this.snapshotBytes) && Date.now() >= this.snapshotRetryAt;
      if (!this.compacting && this.source && !this.closed && (due || this.compactRequested)) {
        this.compactRequested = false;
        // Rotate: the snapshot covers every segment written so far, and later writes go to newer ones.
        if (this.current) closeSync(this.current.fd);
        this.current = undefined;
        this.space.currentFree = 0;
        const seq = this.lastWrittenSeq + 1;
        const covered = this.fileBytes;
        this.compacting = this.writeSnapshot(seq, this.source)
          .then(
            () => {
              this.fileBytes = Math.max(0, this.fileBytes - covered);
            },
            (err: unknown) => {
              if (isNoSpace(err)) {
                this.log(`${this.node}: a snapshot did not fit on the disk of ${this.dir}; the log is kept as it is and a snapshot tried again later`);
                this.snapshotRetryAt = Date.now() + SNAPSHOT_RETRY_MS;
              } else if (!this.failure && !this.closed) this.fail(err, "a snapshot");
              throw err;
            },
          )
          .finally(() => (this.compacting = undefined));
        this.compacting.catch(() => {});
        continue;
      }
      // Decided with nothing queued, in the same synchronous step: no commit is missed.
      this.looping = false;
      times.enter("idle");
      return;
    }
  }

  /** Take a snapshot now; resolves once it is durable and the files before it are gone. */
  async compact(): Promise<void> {
    await this.compacting?.catch(() => {});
    this.compactRequested = true;
    this.wake();
    await this.writing;
    await this.compacting;
  }

  /** Write a snapshot ({@link writeSnapshotFile}), then put it in place of what it replaces. */
  private async writeSnapshot(seq: number, source: SnapshotSource): Promise<void> {
    const stopped = () => this.closed || this.failure !== undefined;
    const { tmp, bytes } = await writeSnapshotFile(this.dir, seq, source, stopped);
    // A failed commit after this snapshot read memory means memory may hold what never became durable.
    if (stopped()) {
      unlinkSync(tmp);
      throw new Error("storage stopped during a snapshot");
    }
    renameSync(tmp, join(this.dir, segmentName(seq, "snap")));
    syncDir(this.dir);
    this.snapshotBytes = bytes;
    for (const f of logFiles(this.dir)) if (f.seq < seq && (f.ext === "log" || f.ext === "snap")) unlinkSync(join(this.dir, f.name));
  }

  async idle(): Promise<void> {
    while (this.looping || this.compacting) {
      await this.writing;
      await this.compacting?.catch(() => {});
    }
  }

  /** Old answers leave the log with the next snapshot. */
  expireDedup(): void {}

  async close(): Promise<void> {
    this.linger?.release();
    await this.writing;
    this.closed = true;
    await this.compacting?.catch(() => {});
    await this.space.idle();
    if (this.current) closeSync(this.current.fd);
    this.current = undefined;
  }
}
