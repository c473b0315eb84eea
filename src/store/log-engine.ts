/**
 * Shard storage as an append-only log (`storageEngine: "log"`). A shard already holds every
 * entry in memory, so storage only has to make mutations durable and give them back at
 * start: each commit batch is appended to the current segment and `fdatasync`ed once
 * (≈0.25 ms here, against ≈2.3 ms for a B+tree transaction that rewrites random pages; the
 * append itself is a `writeSync` into the page cache), and
 * batches that arrive while a sync is running share the next one (group commit).
 *
 * Files in the node's folder:
 * - `NNNNNNNNNNNN.log`: segments of records `[u32 length][u32 murmur3][mutations]`
 *   (see log-record.ts); a torn or corrupt tail (a crash in the middle of an append) ends the replay there;
 * - `NNNNNNNNNNNN.snap`: a snapshot (same record format) of the whole state, taken when
 *   segment NNN was started: recovery loads the newest complete snapshot and replays the
 *   segments from its number on. Older files are deleted once a snapshot is durable.
 *
 * A snapshot is written in the background when the segments since the last one outgrow it:
 * new commits go to a fresh segment, the node's live state is read in chunks (one per
 * event-loop turn) and appended to a temporary file, which is synced and renamed. Writes made
 * while it is being taken are both in it and in the new segment; replaying them again is
 * harmless, because sets and deletes are idempotent and a `clear` starts a new generation.
 */
import { close as closeFd, closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { join } from "node:path";
import { murmur3 } from "../hashing/hash.js";
import { decodeBody, encodeRecord, HEADER } from "./log-record.js";
import { generationKey, type Mutation, type RecoveredState, type StorageEngine, type StoredEntry } from "./storage-engine.js";

/** Segments since the last snapshot may grow to this, or to twice the snapshot, first. */
const MIN_COMPACT_BYTES = 64 * 1024 * 1024;

/** Everything a snapshot must hold, as mutation batches read lazily from the live state. */
export type SnapshotSource = () => Iterator<Mutation[]>;

function fileName(seq: number, ext: "log" | "snap" | "tmp"): string {
  return `${String(seq).padStart(12, "0")}.${ext}`;
}

/** The batches of a file, up to the first torn or corrupt record; and where that is. */
function* records(buf: Buffer): Generator<Mutation[], void, undefined> {
  let at = 0;
  while (at + HEADER <= buf.length) {
    const len = buf.readUInt32LE(at);
    const sum = buf.readUInt32LE(at + 4);
    if (at + HEADER + len > buf.length) return;
    const body = buf.subarray(at + HEADER, at + HEADER + len);
    if (murmur3(body) !== sum) return;
    yield decodeBody(body);
    at += HEADER + len;
  }
}

interface PartDict {
  part: number;
  dict: string;
  gen: number;
  entries: Map<string, StoredEntry>;
}

/** Replays mutations into the state recovery hands back. */
class Replay {
  private readonly slots = new Map<string, PartDict>();
  private readonly dicts = new Set<string>();
  private readonly dedup = new Map<string, { id: string; at: number; answer: unknown; part?: number }>();

  private slot(part: number, dict: string): PartDict {
    const id = generationKey(part, dict);
    let s = this.slots.get(id);
    if (!s) this.slots.set(id, (s = { part, dict, gen: 0, entries: new Map() }));
    return s;
  }

  apply(m: Mutation): void {
    switch (m.op) {
      case "set": {
        const s = this.slot(m.part, m.dict);
        if (m.gen < s.gen) return;
        if (m.gen > s.gen) {
          s.gen = m.gen;
          s.entries.clear();
        }
        const key = Buffer.from(m.key);
        s.entries.set(key.toString("latin1"), { part: m.part, dict: m.dict, gen: m.gen, key, value: Buffer.from(m.value), deadline: m.deadline });
        return;
      }
      case "delete": {
        const s = this.slots.get(generationKey(m.part, m.dict));
        if (s && s.gen === m.gen) s.entries.delete(Buffer.from(m.key).toString("latin1"));
        return;
      }
      case "clear": {
        const s = this.slot(m.part, m.dict);
        if (m.gen > s.gen) {
          s.gen = m.gen;
          s.entries.clear();
        }
        return;
      }
      case "addDict":
        this.dicts.add(m.dict);
        return;
      case "dropDict":
        this.dicts.delete(m.dict);
        for (const [id, s] of this.slots) if (s.dict === m.dict) this.slots.delete(id);
        return;
      case "dedup":
        if (!m.memoryOnly) this.dedup.set(m.id, { id: m.id, at: m.at, answer: m.answer, ...(m.part !== undefined && { part: m.part }) });
        return;
    }
  }

  state(): RecoveredState {
    const slots = [...this.slots.values()].filter((s) => this.dicts.has(s.dict));
    function* entries(): Generator<StoredEntry> {
      for (const s of slots) yield* s.entries.values();
    }
    return {
      entries: entries(),
      generations: new Map(slots.map((s) => [generationKey(s.part, s.dict), s.gen])),
      dicts: [...this.dicts],
      dedup: [...this.dedup.values()].sort((a, b) => a.at - b.at),
    };
  }
}

export class LogEngine implements StorageEngine {
  readonly durable = true;
  private seq = 0;
  /** The current segment, opened for appending (a plain fd: a FileHandle costs a promise per call). */
  private fd: number | undefined;
  private fileBytes = 0;
  private snapshotBytes = 0;
  private queued: Mutation[] = [];
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private writing: Promise<void> = Promise.resolve();
  private compacting: Promise<void> | undefined;
  private source: SnapshotSource | undefined;
  private closed = false;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Where snapshots read the live state from (the shard's partitions, its dicts and answers). */
  setSnapshotSource(source: SnapshotSource): void {
    this.source = source;
  }

  private files(): { seq: number; ext: string; name: string }[] {
    return readdirSync(this.dir)
      .map((name) => {
        const m = /^(\d{12})\.(log|snap|tmp)$/.exec(name);
        return m ? { seq: Number(m[1]), ext: m[2] as string, name } : undefined;
      })
      .filter((f): f is { seq: number; ext: string; name: string } => f !== undefined)
      .sort((a, b) => a.seq - b.seq || (a.ext === "snap" ? -1 : 1));
  }

  /** Load the newest snapshot and replay the segments after it; then start a new segment. */
  recover(): RecoveredState {
    const files = this.files();
    const snap = [...files].reverse().find((f) => f.ext === "snap");
    const from = snap?.seq ?? 0;
    const replay = new Replay();
    if (snap) {
      const buf = readFileSync(join(this.dir, snap.name));
      this.snapshotBytes = buf.length;
      for (const batch of records(buf)) for (const m of batch) replay.apply(m);
    }
    let logBytes = 0;
    for (const f of files) {
      if (f.ext !== "log" || f.seq < from) continue;
      const buf = readFileSync(join(this.dir, f.name));
      logBytes += buf.length;
      for (const batch of records(buf)) for (const m of batch) replay.apply(m);
    }
    for (const f of files) {
      // Left-overs: what a durable snapshot covers, and snapshots that never completed.
      if (f.ext === "tmp" || f.seq < from) unlinkSync(join(this.dir, f.name));
    }
    // Never append after a torn tail: every start gets a fresh segment.
    this.seq = Math.max(from, ...files.map((f) => f.seq)) + 1;
    this.fileBytes = logBytes;
    return replay.state();
  }

  private currentFd(): number {
    if (this.fd === undefined) {
      if (this.seq === 0) this.seq = Math.max(0, ...this.files().map((f) => f.seq)) + 1;
      this.fd = openSync(join(this.dir, fileName(this.seq, "log")), "a");
      syncDir(this.dir);
    }
    return this.fd;
  }

  /** Append to the log; resolves once the batch is on disk (fdatasync). */
  commit(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error("storage is closed"));
    // Answers kept only for replicas (plain puts) are not written: recovery would skip them.
    const before = this.queued.length;
    for (const m of mutations) if (m.op !== "dedup" || !m.memoryOnly) this.queued.push(m);
    if (this.queued.length === before) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.wake();
    return done;
  }

  private looping = false;
  private compactRequested = false;

  private wake(): void {
    if (this.looping) return;
    this.looping = true;
    this.writing = this.writeLoop();
  }

  /**
   * One append and one sync per round; whatever arrives meanwhile goes in the next. Segment
   * rotation for a snapshot happens here too, between appends.
   */
  private async writeLoop(): Promise<void> {
    // Let the rest of this event-loop turn queue its mutations first.
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    for (;;) {
      if (this.queued.length > 0) {
        const batch = this.queued;
        const waiters = this.waiters;
        this.queued = [];
        this.waiters = [];
        try {
          const fd = this.currentFd();
          const buf = encodeRecord(batch);
          // Into the page cache at once (microseconds); only the sync waits on the disk.
          writeAll(fd, buf);
          await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
          this.fileBytes += buf.length;
          for (const w of waiters) w.resolve();
        } catch (err) {
          // Replay stops at a torn record: later appends go to a fresh segment, not behind it.
          if (this.fd !== undefined) {
            this.closeFd();
            this.seq += 1;
          }
          for (const w of waiters) w.reject(err as Error);
        }
        continue;
      }
      const due = this.fileBytes > Math.max(MIN_COMPACT_BYTES, 2 * this.snapshotBytes);
      if (!this.compacting && this.source && !this.closed && (due || this.compactRequested)) {
        this.compactRequested = false;
        // Rotate: the snapshot covers everything before the new segment.
        this.closeFd();
        this.seq += 1;
        this.fileBytes = 0;
        this.compacting = this.writeSnapshot(this.seq, this.source).finally(() => (this.compacting = undefined));
        this.compacting.catch(() => {});
        continue;
      }
      // Decided with nothing queued, in the same synchronous step: no commit is missed.
      this.looping = false;
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

  private async writeSnapshot(seq: number, source: SnapshotSource): Promise<void> {
    const tmp = join(this.dir, fileName(seq, "tmp"));
    const out = await openFile(tmp, "w");
    let bytes = 0;
    try {
      const chunks = source();
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        if (this.closed) throw new Error("storage closed during a snapshot");
        if (next.value.length === 0) continue;
        const buf = encodeRecord(next.value);
        await out.write(buf);
        bytes += buf.length;
        // One chunk per turn: requests go on meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await out.datasync();
    } finally {
      await out.close();
    }
    renameSync(tmp, join(this.dir, fileName(seq, "snap")));
    syncDir(this.dir);
    this.snapshotBytes = bytes;
    for (const f of this.files()) if (f.seq < seq) unlinkSync(join(this.dir, f.name));
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
    await this.writing;
    this.closed = true;
    await this.compacting?.catch(() => {});
    this.closeFd();
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeFd(fd, () => {});
  }
}

/** `writeSync` may write less than asked (a full disk, a signal): go on until all is written. */
function writeAll(fd: number, buf: Buffer): void {
  for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at, buf.length - at);
}

/** Make a file's creation or renaming in `dir` durable. */
function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
