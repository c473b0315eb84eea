/**
 * Shard storage on LMDB (the `lmdb` package): a memory-mapped B+tree with ACID
 * transactions. Writes queued in one event-loop turn share one transaction, committed and
 * fsynced by lmdb's writer thread (group commit), so durability costs one flush per batch,
 * not per request.
 *
 * Space and failures, as in the log engine: a write is admitted only if the file system has
 * room for it (`reserve`, disk-space.ts), else refused with `StorageFullError` before it
 * changes anything; a failed transaction stops the engine for good (`onFatal`: the node
 * stops serving and exits for its supervisor to restart it from disk).
 *
 * Layout, in one environment per node:
 * - `entries`: `dict ␀ part(u16) gen(u32) keyBytes` → `flags(u8) deadline(f64) [ver(f64) ttl(f64)] [keyLen(u32) key] value`
 *   (version and TTL with flag 2; records without it are from before versions: 0 and 0).
 *   Keys too long for LMDB (1978 bytes) are stored under `0xff sha256(key)` with the full key
 *   in the record. Ordering by dict, then partition, then generation makes `clear` (drop
 *   older generations) and dict deletion (drop the dict prefix) plain range deletions.
 * - `meta` (msgpack values): `gen ␀ dict ␀ part` → current generation; `dict ␀ id` → 1 for
 *   dicts this node knows; `dropped ␀ id` → 1 until a deleted dict's entries are purged;
 *   `ver ␀ part` → the partition's highest version at its last delete or clear (the entries
 *   hold the others), so versions never go back once the entry that had the highest is gone.
 */
import { createHash } from "node:crypto";
import type { Database, RootDatabase } from "lmdb";
import { DiskSpace } from "./disk-space.js";
import { commitCause, LMDB_GROWTH_FACTOR, LMDB_MARGIN_BYTES, openLmdb, syncDataFile } from "./lmdb-env.js";
import { StorageFailedError } from "./storage-errors.js";
import { generationKey, type BatchObserver, type Mutation, type RecoveredState, type StorageEngine, type StoredEntry } from "./storage-engine.js";

const MAX_INLINE_KEY = 1900;
const HASHED = 0xff;
const FLAG_FULL_KEY = 1;
const FLAG_VERSIONED = 2;
/** Entries removed per background transaction: small enough to keep the loop responsive. */
const PURGE_BATCH = 2000;

function dictPrefix(dict: string): Buffer {
  return Buffer.from(`${dict}\u0000`, "latin1");
}

function entryKey(dict: string, part: number, gen: number, key: Uint8Array): Buffer {
  const prefix = dictPrefix(dict);
  const inline = key.byteLength <= MAX_INLINE_KEY;
  const tail = inline ? key : Buffer.concat([Buffer.from([HASHED]), createHash("sha256").update(key).digest()]);
  const out = Buffer.allocUnsafe(prefix.length + 6 + tail.byteLength);
  prefix.copy(out, 0);
  out.writeUInt16BE(part, prefix.length);
  out.writeUInt32BE(gen, prefix.length + 2);
  out.set(tail, prefix.length + 6);
  return out;
}

function rangeOf(dict: string, part: number, gen: number): Buffer {
  const prefix = dictPrefix(dict);
  const out = Buffer.allocUnsafe(prefix.length + 6);
  prefix.copy(out, 0);
  out.writeUInt16BE(part, prefix.length);
  out.writeUInt32BE(gen, prefix.length + 2);
  return out;
}

function encodeRecord(deadline: number, value: Uint8Array, key: Uint8Array, ver: number, ttl: number): Buffer {
  const full = key.byteLength > MAX_INLINE_KEY;
  const head = full ? 29 + key.byteLength : 25;
  const out = Buffer.allocUnsafe(head + value.byteLength);
  out[0] = (full ? FLAG_FULL_KEY : 0) | FLAG_VERSIONED;
  out.writeDoubleBE(deadline, 1);
  out.writeDoubleBE(ver, 9);
  out.writeDoubleBE(ttl, 17);
  if (full) {
    out.writeUInt32BE(key.byteLength, 25);
    out.set(key, 29);
  }
  out.set(value, head);
  return out;
}

function decodeEntry(k: Buffer, rec: Buffer): StoredEntry {
  const sep = k.indexOf(0);
  const dict = k.toString("latin1", 0, sep);
  const part = k.readUInt16BE(sep + 1);
  const gen = k.readUInt32BE(sep + 3);
  const flags = rec[0] as number;
  const deadline = rec.readDoubleBE(1);
  const versioned = (flags & FLAG_VERSIONED) !== 0;
  const ver = versioned ? rec.readDoubleBE(9) : 0;
  const ttl = versioned ? rec.readDoubleBE(17) : 0;
  const at = versioned ? 25 : 9;
  if ((flags & FLAG_FULL_KEY) !== 0) {
    const len = rec.readUInt32BE(at);
    return { dict, part, gen, deadline, ver, ttl, key: rec.subarray(at + 4, at + 4 + len), value: rec.subarray(at + 4 + len) };
  }
  return { dict, part, gen, deadline, ver, ttl, key: k.subarray(sep + 7), value: rec.subarray(at) };
}

type PurgeJob = { start: Buffer; end: Buffer; after?: () => Promise<unknown> };

export interface LmdbEngineOptions {
  /** The node, for messages and for `StorageFullError`. */
  node?: string;
  /**
   * Called once, synchronously, when a write fails (fail-stop, as in the log engine): the
   * node must stop serving before any waiting commit is rejected.
   */
  onFatal?: (err: StorageFailedError) => void;
  log?: (line: string) => void;
  /** Told of each transaction committed (metrics): its mutations and how long it took. */
  onBatch?: BatchObserver;
}

/** Removals nobody reserved (purges, expired answers) wait while less than this is left. */
const MAINTENANCE_ROOM = LMDB_MARGIN_BYTES / 2;
/** Purges postponed for lack of room are tried again this much later. */
const PURGE_RETRY_MS = 5_000;

export class LmdbEngine implements StorageEngine {
  readonly durable = true;
  private readonly root: RootDatabase;
  private readonly entries: Database<Buffer, Buffer>;
  private readonly meta: Database<unknown, string>;
  /** `at(15 digits):id` → answer: time-ordered, so old answers go with one range. */
  private readonly dedup: Database<unknown, string>;
  private readonly space: DiskSpace;
  private readonly node: string;
  private readonly log: (line: string) => void;
  private readonly jobs: PurgeJob[] = [];
  private purging: Promise<void> | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private failure: StorageFailedError | undefined;
  private queued: Mutation[] = [];
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  /** Per partition, the highest version stored under `ver ␀ part`. */
  private readonly keptVersions = new Map<number, number>();
  private looping = false;

  constructor(
    private readonly path: string,
    private readonly opts: LmdbEngineOptions = {},
  ) {
    this.node = opts.node ?? "this node";
    this.log = opts.log ?? ((l) => console.error(l));
    this.root = openLmdb(path);
    this.entries = this.root.openDB<Buffer, Buffer>("entries", { keyEncoding: "binary", encoding: "binary" });
    this.meta = this.root.openDB<unknown, string>("meta", { encoding: "msgpack" });
    this.dedup = this.root.openDB<unknown, string>("dedup", { encoding: "msgpack" });
    this.space = new DiskSpace({ dir: path, node: this.node, log: this.log, factor: LMDB_GROWTH_FACTOR, margin: LMDB_MARGIN_BYTES });
  }

  /**
   * Queue mutations for the next transaction. Every commit of one event-loop turn (all the
   * requests of one received batch, across partitions) lands in one LMDB transaction with one
   * fsync, and commits made while a transaction is being written share the next one (group
   * commit). One transaction at a time: when one fails, no later one can have been answered
   * before the node stops (it would have been written on top of a state memory is ahead of).
   */
  commit(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    for (const m of mutations) this.queued.push(m);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.looping) {
      this.looping = true;
      queueMicrotask(() => void this.writeLoop());
    }
    return done;
  }

  private async writeLoop(): Promise<void> {
    while (this.queued.length > 0 && !this.failure) {
      const batch = this.queued;
      const waiters = this.waiters;
      this.queued = [];
      this.waiters = [];
      try {
        const started = performance.now();
        await this.write(batch);
        this.opts.onBatch?.(batch.length, (performance.now() - started) / 1000);
      } catch (err) {
        this.fail(await commitCause(err), "a transaction");
      }
      for (const w of waiters) {
        if (this.failure) w.reject(this.failure);
        else w.resolve();
      }
    }
    if (this.failure) {
      for (const w of this.waiters) w.reject(this.failure);
      this.waiters = [];
      this.queued = [];
    }
    this.looping = false;
  }

  /**
   * Stop for good: memory may hold the failed batch, so nothing more is written or
   * acknowledged. The node is told first, then waiting commits are rejected.
   */
  private fail(cause: Error, what: string): StorageFailedError {
    if (this.failure) return this.failure;
    this.failure = new StorageFailedError(`${this.node}: ${what} failed in ${this.path}: ${cause.message}`, { cause });
    this.opts.onFatal?.(this.failure);
    return this.failure;
  }

  /** A write nobody waits for failed (a purge, an expiry): fail-stop all the same. */
  private failBackground(err: unknown, what: string): void {
    void commitCause(err).then((cause) => this.fail(cause, what));
  }

  /** Short of space: reads stop persisting moved deadlines. */
  get tight(): boolean {
    return this.space.tight;
  }

  /**
   * LMDB grows its file as it writes and cannot take space ahead of use: a write is admitted
   * against the free space of the folder's file system (disk-space.ts), and refused with
   * `StorageFullError` before it changes anything when that is short. A full disk that a
   * commit meets despite this (filled by something else meanwhile) is a failed transaction:
   * fail-stop, as memory may hold its batch.
   */
  reserve(bytes: number): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    try {
      this.space.reserve(bytes);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return undefined;
  }

  release(bytes: number): void {
    this.space.release(bytes);
  }

  private async write(batch: readonly Mutation[]): Promise<void> {
    const after: PurgeJob[] = [];
    await this.root.transaction(() => {
      for (const m of batch) {
        switch (m.op) {
          case "set":
            this.entries.put(entryKey(m.dict, m.part, m.gen, m.key), encodeRecord(m.deadline, m.value, m.key, m.ver, m.ttl));
            break;
          case "delete":
            this.entries.remove(entryKey(m.dict, m.part, m.gen, m.key));
            this.keepVersion(m.part, m.ver);
            break;
          case "clear":
            this.keepVersion(m.part, m.ver);
            this.meta.put(`gen\u0000${m.dict}\u0000${m.part}`, m.gen);
            after.push({ start: rangeOf(m.dict, m.part, 0), end: rangeOf(m.dict, m.part, m.gen) });
            break;
          case "addDict":
            this.meta.put(`dict\u0000${m.dict}`, 1);
            break;
          case "dropDict":
            this.meta.remove(`dict\u0000${m.dict}`);
            this.meta.put(`dropped\u0000${m.dict}`, 1);
            after.push(this.dropJob(m.dict));
            break;
          case "dedup":
            if (m.memoryOnly) break;
            // The partition rides along in the answer object (`p`), so the record can move with it.
            this.dedup.put(`${String(m.at).padStart(15, "0")}:${m.id}`, m.part === undefined ? m.answer : { ...(m.answer as object), p: m.part });
            break;
        }
      }
    });
    // Only once the new generation / drop marker is durable may old data be removed.
    for (const job of after) this.schedule(job);
  }

  /** Inside a write transaction: keep a partition's highest version (it only grows). */
  private keepVersion(part: number, ver: number | undefined): void {
    // What is stored is known (read at recovery, then only raised here): no read per delete.
    if (ver === undefined || ver <= (this.keptVersions.get(part) ?? 0)) return;
    this.keptVersions.set(part, ver);
    this.meta.put(`ver\u0000${part}`, ver);
  }

  private dropJob(dict: string): PurgeJob {
    const start = dictPrefix(dict);
    const end = Buffer.from(`${dict}\u0001`, "latin1");
    return {
      start,
      end,
      after: () =>
        this.root.transaction(() => {
          for (const key of this.meta.getKeys({ start: `gen\u0000${dict}\u0000`, end: `gen\u0000${dict}\u0001` })) this.meta.remove(key);
          this.meta.remove(`dropped\u0000${dict}`);
        }),
    };
  }

  private schedule(job: PurgeJob): void {
    this.jobs.push(job);
    this.runPurgesSoon();
  }

  private runPurgesSoon(): void {
    if (this.purging || this.closed || this.failure) return;
    this.purging = this.runPurges()
      .catch((err: unknown) => this.failBackground(err, "removing cleared data"))
      .finally(() => (this.purging = undefined));
  }

  /**
   * Old generations and dropped dicts, removed in batches of one transaction each. They
   * wait while the disk is nearly full: a removal in a copy-on-write tree needs new pages
   * before it frees any. A job cut short starts again from its range's first key left.
   */
  private async runPurges(): Promise<void> {
    for (let job = this.jobs[0]; job !== undefined && !this.closed && !this.failure; job = this.jobs[0]) {
      for (;;) {
        if (this.space.room < MAINTENANCE_ROOM) return this.purgeLater();
        const keys = [...this.entries.getKeys({ start: job.start, end: job.end, limit: PURGE_BATCH, snapshot: false })];
        if (keys.length === 0 || this.closed) break;
        await this.root.transaction(() => {
          for (const k of keys) this.entries.remove(k);
        });
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (this.closed) return;
      await job.after?.();
      this.jobs.shift();
    }
  }

  private purgeLater(): void {
    if (this.purgeTimer) return;
    this.purgeTimer = setTimeout(() => {
      this.purgeTimer = undefined;
      this.runPurgesSoon();
    }, PURGE_RETRY_MS);
    this.purgeTimer.unref();
  }

  /** Answers older than `before` go in one transaction; they are kept while space is short. */
  expireDedup(before: number): void {
    if (this.closed || this.failure || this.space.room < MAINTENANCE_ROOM) return;
    const end = String(before).padStart(15, "0");
    const keys = [...this.dedup.getKeys({ end, snapshot: false })];
    if (keys.length === 0) return;
    this.root
      .transaction(() => {
        for (const key of keys) this.dedup.remove(key);
      })
      .catch((err: unknown) => this.failBackground(err, "expiring stored answers"));
  }

  recover(): RecoveredState {
    syncDataFile(this.path, this.node);
    const dedup: RecoveredState["dedup"] = [];
    for (const { key, value } of this.dedup.getRange({})) {
      const sep = key.indexOf(":");
      const { p, ...answer } = value as { p?: number };
      dedup.push({ at: Number(key.slice(0, sep)), id: key.slice(sep + 1), answer, ...(typeof p === "number" && { part: p }) });
    }
    const generations = new Map<string, number>();
    const dropped = new Set<string>();
    const dicts: string[] = [];
    const versions = new Map<number, number>();
    for (const { key, value } of this.meta.getRange({})) {
      const [kind, a, b] = key.split("\u0000");
      if (kind === "gen" && a !== undefined && b !== undefined) generations.set(generationKey(Number(b), a), value as number);
      else if (kind === "ver" && a !== undefined) {
        versions.set(Number(a), value as number);
        this.keptVersions.set(Number(a), value as number);
      }
      else if (kind === "dict" && a !== undefined) dicts.push(a);
      else if (kind === "dropped" && a !== undefined) dropped.add(a);
    }
    for (const d of dropped) this.schedule(this.dropJob(d));
    const stale = new Set<string>();
    const entries = this.entries;
    const engine = this;
    function* live(): Generator<StoredEntry> {
      for (const { key, value } of entries.getRange({ snapshot: false })) {
        const e = decodeEntry(key, value);
        if (dropped.has(e.dict)) continue;
        const current = generations.get(generationKey(e.part, e.dict)) ?? 0;
        if (e.gen === current) {
          yield e;
          continue;
        }
        const id = generationKey(e.part, e.dict);
        if (!stale.has(id) && e.gen < current) {
          stale.add(id);
          engine.schedule({ start: rangeOf(e.dict, e.part, 0), end: rangeOf(e.dict, e.part, current) });
        }
      }
    }
    // The entries carry their own versions: the store keeps the highest of both.
    return { entries: live(), generations, versions, dicts, dedup };
  }

  async idle(): Promise<void> {
    while (this.purging) await this.purging;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.purgeTimer);
    await this.purging;
    await this.root.close();
  }
}
