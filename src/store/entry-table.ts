/**
 * The core of a partition's state: its entries per dict, their expiry, their versions, and
 * the mutations every change records for storage and replicas. {@link PartitionStore} builds
 * the operations on it.
 *
 * Plain data on purpose (see docs/architecture.md): a `Map` per dict keyed by the canonical
 * key bytes (as a latin1 string, which compares and hashes like the bytes), and one min-heap
 * of deadlines with lazy deletion. Every read checks the deadline itself, so correctness
 * never depends on when the sweep runs; the sweep only reclaims memory.
 *
 * Versions: the partition keeps one sequence; every change takes the next number (a write
 * as its entry's version; a delete, an expiry and a clear as their own place in the change
 * history watchers read, change-history.ts). It is recorded with every set, delete and clear,
 * restored from storage and copied to replicas and learners, so a key's versions strictly
 * increase and are never reused: not after delete and re-create, a clear, a restart, a
 * failover or a move.
 */
import { ExpiryQueue } from "./expiry-queue.js";
import { Entry, persistSlackMs, type DictSlot } from "./partition-entry.js";
import { latin1Bytes, latin1String } from "../encoding/latin1-bytes.js";
import type { Mutation, StorageEngine } from "./storage-engine.js";
import { ChangeHistory, CLEAR, DELETE, EXPIRE, PUT, type HistoryLimits } from "./change-history.js";

export interface EntryTableOptions {
  part: number;
  /** The dict default idle TTL. */
  ttlMs: number;
  engine: StorageEngine;
  /** Record mutations even for a non-durable engine (they are also replicated). */
  record?: boolean;
  /** How much change history the partition keeps for watchers. */
  history?: HistoryLimits;
  /** The time, for the history's age bound. */
  now?: () => number;
}

export class EntryTable {
  readonly part: number;
  protected readonly ttlMs: number;
  protected readonly slackMs: number;
  protected readonly engine: StorageEngine;
  /** Maps replaced by `clear` whose entries still sit in the heap, reclaimed in batches. */
  protected orphans: Iterator<Entry>[] = [];
  protected readonly dicts = new Map<string, DictSlot>();
  protected readonly queue = new ExpiryQueue<Entry>();
  protected pending: Mutation[] = [];
  /** Whether mutations are recorded, for storage and replicas. */
  protected readonly recording: boolean;
  /** The highest version this partition has given or seen. */
  protected seq = 0;
  /**
   * Told of every change to a key (`k` undefined: every key of the dict), while something
   * waits for one (key-waiters.ts); unset otherwise, so the write path pays one check.
   */
  onChange: ((dict: string, k: string | undefined) => void) | undefined = undefined;
  /** Every change, in sequence order, for watchers (change-history.ts). */
  readonly history: ChangeHistory;

  constructor(opts: EntryTableOptions) {
    this.part = opts.part;
    this.ttlMs = opts.ttlMs;
    this.slackMs = persistSlackMs(opts.ttlMs);
    this.engine = opts.engine;
    this.recording = opts.record ?? opts.engine.durable;
    this.history = new ChangeHistory(opts.history, opts.now);
  }

  /** The highest version this partition has given or seen. */
  get version(): number {
    return this.seq;
  }

  /** Raise the sequence to at least `ver` (recovery, replicas). */
  protected saw(ver: number | undefined): void {
    if (ver !== undefined && ver > this.seq) this.seq = ver;
  }

  protected slot(dict: string): DictSlot {
    let s = this.dicts.get(dict);
    if (!s) this.dicts.set(dict, (s = { dict, gen: 0, entries: new Map(), last: 0, bytes: 0 }));
    return s;
  }

  /** The live entry for a key, removing it first if its deadline has passed. Moves nothing. */
  protected live(dict: string, k: string, now: number): Entry | undefined {
    const s = this.dicts.get(dict);
    const e = s?.entries.get(k);
    if (e === undefined) return undefined;
    if (this.queue.deadlineOf(e) <= now) {
      this.remove(e, true);
      return undefined;
    }
    return e;
  }

  /**
   * A removal is a change of its own: it takes the next number (so watchers see it in its
   * place), recorded with the delete. `expired`: by idle expiry, not by a client.
   */
  protected remove(e: Entry, expired = false): void {
    const ver = ++this.seq;
    e.slot.last = ver;
    this.history.append(ver, e.slot.dict, expired ? EXPIRE : DELETE, e.k);
    this.unlink(e);
    if (this.recording) this.pending.push({ op: "delete", part: this.part, dict: e.slot.dict, gen: e.slot.gen, key: latin1Bytes(e.k), ver, ...(expired && { expired }) });
  }

  /** Take an entry out of its map and the heap. */
  protected unlink(e: Entry): void {
    e.slot.bytes -= e.k.length + e.value.length;
    e.slot.entries.delete(e.k);
    this.queue.remove(e);
    this.onChange?.(e.slot.dict, e.k);
  }

  /** An entry's idle TTL: its own, else the dict's. */
  protected ttlOf(e: Entry): number {
    return e.ttl === 0 ? this.ttlMs : e.ttl;
  }

  protected slackOf(ttl: number): number {
    return ttl === 0 || ttl === this.ttlMs ? this.slackMs : persistSlackMs(ttl);
  }

  /** A read: the deadline moves in memory, and on disk only once it has moved by the slack. */
  protected touch(e: Entry, now: number): void {
    const deadline = now + this.ttlOf(e);
    this.queue.setDeadline(e, deadline);
    // Short of disk space, the moved deadline stays in memory until there is room again.
    if (this.recording && Math.floor(deadline / this.slackOf(e.ttl)) > e.bucket && !this.engine.tight) this.persist(e, deadline, latin1Bytes(e.k), latin1Bytes(e.value));
  }

  /** Record an entry's value, version, TTL and deadline for storage and replicas. */
  protected persist(e: Entry, deadline: number, key: Uint8Array, value: Uint8Array): void {
    e.bucket = Math.floor(deadline / this.slackOf(e.ttl));
    this.pending.push({ op: "set", part: this.part, dict: e.slot.dict, gen: e.slot.gen, key, value, deadline, ver: e.ver, ttl: e.ttl });
  }

  /**
   * Write an entry with a new version. `ttl`: its own TTL from now on (0: the dict's);
   * undefined keeps what it had (a new entry gets the dict's). `key` is `k` as bytes when the
   * caller has them (saves converting back).
   */
  protected setIn(s: DictSlot, k: string, value: Uint8Array, now: number, ttl: number | undefined, key: Uint8Array | undefined): Entry {
    // A copy (as a string): the incoming bytes are a view into a whole received frame.
    const stored = latin1String(value);
    const ver = ++this.seq;
    s.last = ver;
    this.history.append(ver, s.dict, PUT, k, stored);
    let e = s.entries.get(k);
    let deadline: number;
    s.bytes += e ? stored.length - e.value.length : k.length + stored.length;
    if (e) {
      e.value = stored;
      e.ver = ver;
      if (ttl !== undefined) e.ttl = ttl;
      deadline = now + this.ttlOf(e);
      this.queue.setDeadline(e, deadline);
    } else {
      e = new Entry(k, stored, s, 0, ver);
      if (ttl !== undefined) e.ttl = ttl;
      deadline = now + this.ttlOf(e);
      s.entries.set(k, e);
      this.queue.push(e, deadline);
    }
    // The frame's bytes go to the commit as they are: it is written out right away.
    if (this.recording) this.persist(e, deadline, key ?? latin1Bytes(k), value);
    this.onChange?.(s.dict, k);
    return e;
  }

  /**
   * An entry from storage or from a primary, with its version, TTL and the deadline as
   * recorded. Its deadline here is that plus the slack reads may have moved it by without
   * a record, so it never expires early.
   */
  protected place(s: DictSlot, key: Uint8Array, value: Uint8Array, recorded: number, ver: number, ttl: number): Entry {
    const k = latin1String(key);
    const slack = this.slackOf(ttl);
    const bucket = Math.floor(recorded / slack);
    this.saw(ver);
    let e = s.entries.get(k);
    s.bytes += e ? value.byteLength - e.value.length : k.length + value.byteLength;
    if (e) {
      e.value = latin1String(value);
      e.bucket = bucket;
      e.ver = ver;
      e.ttl = ttl;
      this.queue.setDeadline(e, recorded + slack);
    } else {
      e = new Entry(k, latin1String(value), s, bucket, ver);
      e.ttl = ttl;
      s.entries.set(k, e);
      this.queue.push(e, recorded + slack);
    }
    this.onChange?.(s.dict, k);
    return e;
  }

  protected orphan(s: DictSlot): void {
    if (s.entries.size > 0) this.orphans.push(s.entries.values());
    s.entries = new Map();
    s.bytes = 0;
    this.onChange?.(s.dict, undefined);
  }

  /** Empty a dict here without it being a change (a reset, a partition that left). */
  protected clearSlot(s: DictSlot): void {
    if (s.entries.size === 0) return;
    this.orphan(s);
    s.gen += 1;
    if (this.recording) this.pending.push({ op: "clear", part: this.part, dict: s.dict, gen: s.gen, ver: this.seq });
  }

  /**
   * A client's clear: a change of its own, recorded (and replicated) even when the dict has
   * nothing here, so every partition's watchers see it, with the same `cid` everywhere.
   * `ver`: the primary's number for it (a replica), else the next.
   */
  protected clearChange(s: DictSlot, cid: string | undefined, ver = ++this.seq): void {
    s.last = ver;
    this.history.append(ver, s.dict, CLEAR, undefined, undefined, cid);
    this.orphan(s);
    s.gen += 1;
    if (this.recording) this.pending.push({ op: "clear", part: this.part, dict: s.dict, gen: s.gen, ver, ...(cid !== undefined && { cid }) });
  }
}
