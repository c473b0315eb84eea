/**
 * One partition's entries and their expiry: the state a partition actor owns.
 *
 * Plain data on purpose (see docs/architecture.md): a `Map` per dict keyed by the canonical
 * key bytes (as a latin1 string, which compares and hashes like the bytes), and one min-heap
 * of deadlines with lazy deletion. Every read checks the deadline itself, so correctness
 * never depends on when the sweep runs; the sweep only reclaims memory.
 */
import { nanoid } from "nanoid";
import { ExpiryQueue } from "./expiry-queue.js";
import { ScanPage } from "../encoding/scan-page.js";
import { latin1Bytes, latin1String } from "../encoding/latin1-bytes.js";
import type { Mutation, ReplMutation, StorageEngine } from "./storage-engine.js";

interface DictSlot {
  readonly dict: string;
  /** Bumped by `clear`: storage keeps entries per generation and drops older ones lazily. */
  gen: number;
  entries: Map<string, Entry>;
}

/**
 * One entry, kept small (a shard holds millions): key and value as latin1 strings (one
 * header each, on the V8 heap, where a Uint8Array costs an object, a backing store and a
 * malloc), and no doubles (each would be a separate box). The deadline, and the time the
 * heap has it scheduled at, live in the expiry queue's arrays.
 */
class Entry {
  heapIndex = -1;
  constructor(
    /** Canonical key bytes as a latin1 string. */
    readonly k: string,
    /** The value's bytes as a latin1 string. */
    public value: string,
    readonly slot: DictSlot,
    /**
     * `floor(persisted deadline / slack)`: reads move the deadline only in memory, and write
     * it once it would pass `(bucket + 1) × slack`, so memory is never more than the slack
     * ahead of storage. A small integer (unboxed) for any realistic TTL.
     */
    public bucket: number,
  ) {}
}

/** A dict's keys in byte order as of the first page a node served of one iteration. */
interface ScanSession {
  readonly dict: string;
  readonly sorted: string[];
  lastUsed: number;
}

export interface PartitionStoreOptions {
  part: number;
  ttlMs: number;
  engine: StorageEngine;
  /** Record mutations even for a non-durable engine (they are also replicated). */
  record?: boolean;
}

/**
 * How far a read may move an entry's deadline before the new deadline is written to
 * storage: a tenth of the TTL, at most an hour. After a restart every deadline is the stored
 * one plus this slack, so an entry never expires early and lives at most this much longer.
 */
export function persistSlackMs(ttlMs: number): number {
  return Math.max(1, Math.min(Math.floor(ttlMs / 10), 3_600_000));
}

/** Scan steps per page, counting skipped (deleted, expired) keys, before yielding. */
const SCAN_STEPS_PER_ITEM = 16;

/** Idle scan sessions are dropped after this long (the position alone still works). */
const SCAN_SESSION_IDLE_MS = 5 * 60_000;
const MAX_SCAN_SESSIONS = 1024;

const NONE: Mutation[] = [];

/** The mutations that describe stored entries: valid both for storage and for replicas. */
type EntryMutation = Extract<Mutation, { op: "set" | "clear" }>;

/** Canonical key bytes → the string used as the map key. */
export const keyString = latin1String;

/** The index of the first element greater than `k` in a sorted array. */
function upperBound(sorted: readonly string[], k: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) <= k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class PartitionStore {
  readonly part: number;
  private readonly ttlMs: number;
  private readonly slackMs: number;
  private readonly engine: StorageEngine;
  /** Maps replaced by `clear` whose entries still sit in the heap, reclaimed in batches. */
  private orphans: Iterator<Entry>[] = [];
  private readonly dicts = new Map<string, DictSlot>();
  private readonly queue = new ExpiryQueue<Entry>();
  private readonly sessions = new Map<string, ScanSession>();
  private pending: Mutation[] = [];
  /** Whether mutations are recorded, for storage and replicas. */
  private readonly recording: boolean;

  constructor(opts: PartitionStoreOptions) {
    this.part = opts.part;
    this.ttlMs = opts.ttlMs;
    this.slackMs = persistSlackMs(opts.ttlMs);
    this.engine = opts.engine;
    this.recording = opts.record ?? opts.engine.durable;
  }

  private slot(dict: string): DictSlot {
    let s = this.dicts.get(dict);
    if (!s) this.dicts.set(dict, (s = { dict, gen: 0, entries: new Map() }));
    return s;
  }

  /** The live entry for a key, removing it first if its deadline has passed. */
  private live(dict: string, k: string, now: number): Entry | undefined {
    const s = this.dicts.get(dict);
    const e = s?.entries.get(k);
    if (e === undefined) return undefined;
    if (this.queue.deadlineOf(e) <= now) {
      this.remove(e);
      return undefined;
    }
    return e;
  }

  private remove(e: Entry): void {
    e.slot.entries.delete(e.k);
    this.queue.remove(e);
    if (this.recording) this.pending.push({ op: "delete", part: this.part, dict: e.slot.dict, gen: e.slot.gen, key: latin1Bytes(e.k) });
  }

  /** A read: the deadline moves in memory, and on disk only once it has moved by the slack. */
  private touch(e: Entry, now: number): void {
    const deadline = now + this.ttlMs;
    this.queue.setDeadline(e, deadline);
    // Short of disk space, the moved deadline stays in memory until there is room again.
    if (this.recording && Math.floor(deadline / this.slackMs) > e.bucket && !this.engine.tight) this.persist(e, deadline, latin1Bytes(e.k), latin1Bytes(e.value));
  }

  /** Record an entry's value and deadline for storage and replicas. */
  private persist(e: Entry, deadline: number, key: Uint8Array, value: Uint8Array): void {
    e.bucket = Math.floor(deadline / this.slackMs);
    this.pending.push({ op: "set", part: this.part, dict: e.slot.dict, gen: e.slot.gen, key, value, deadline });
  }

  /** `key` is `k` as bytes when the caller has them (saves converting back). */
  private set(dict: string, k: string, value: Uint8Array, now: number, key?: Uint8Array): void {
    this.setIn(this.slot(dict), k, value, now + this.ttlMs, key);
  }

  private setIn(s: DictSlot, k: string, value: Uint8Array, deadline: number, key: Uint8Array | undefined): void {
    // A copy (as a string): the incoming bytes are a view into a whole received frame.
    const stored = latin1String(value);
    let e = s.entries.get(k);
    if (e) {
      e.value = stored;
      this.queue.setDeadline(e, deadline);
    } else {
      e = new Entry(k, stored, s, 0);
      s.entries.set(k, e);
      this.queue.push(e, deadline);
    }
    // The frame's bytes go to the commit as they are: it is written out right away.
    if (this.recording) this.persist(e, deadline, key ?? latin1Bytes(k), value);
  }

  /**
   * Recovery: put back an entry read from storage. Its deadline is the stored one plus the
   * slack reads may have moved it by without a write, so it never expires early.
   */
  load(dict: string, gen: number, key: Uint8Array, value: Uint8Array, storedDeadline: number): void {
    const s = this.slot(dict);
    s.gen = gen;
    const k = keyString(key);
    const deadline = storedDeadline + this.slackMs;
    const e = new Entry(k, latin1String(value), s, Math.floor(storedDeadline / this.slackMs));
    const old = s.entries.get(k);
    if (old) this.queue.remove(old);
    s.entries.set(k, e);
    this.queue.push(e, deadline);
  }

  /** Recovery: the generation a dict had reached here, even with no entries left. */
  setGeneration(dict: string, gen: number): void {
    this.slot(dict).gen = gen;
  }

  get(dict: string, k: string, now: number): Uint8Array | undefined {
    const v = this.getLatin1(dict, k, now);
    return v === undefined ? undefined : latin1Bytes(v);
  }

  /** {@link get}, with the value's bytes as the latin1 string the store keeps. */
  getLatin1(dict: string, k: string, now: number): string | undefined {
    const e = this.live(dict, k, now);
    if (!e) return undefined;
    this.touch(e, now);
    return e.value;
  }

  /** The size of a key's stored value (0 if absent), without reading it. */
  valueBytes(dict: string, k: string): number {
    return this.dicts.get(dict)?.entries.get(k)?.value.length ?? 0;
  }

  contains(dict: string, k: string, now: number): boolean {
    const e = this.live(dict, k, now);
    if (!e) return false;
    this.touch(e, now);
    return true;
  }

  /** Returns false only when `ifAbsent` and a live entry exists. */
  put(dict: string, k: string, value: Uint8Array, ifAbsent: boolean, now: number, key?: Uint8Array): boolean {
    if (ifAbsent && this.live(dict, k, now)) return false;
    this.set(dict, k, value, now, key);
    return true;
  }

  update(dict: string, ks: readonly string[], values: readonly Uint8Array[], now: number, keys?: readonly Uint8Array[]): void {
    const s = this.slot(dict);
    const deadline = now + this.ttlMs;
    for (let i = 0; i < ks.length; i++) this.setIn(s, ks[i] as string, values[i] as Uint8Array, deadline, keys?.[i]);
  }

  pop(dict: string, k: string, now: number): Uint8Array | undefined {
    const e = this.live(dict, k, now);
    if (!e) return undefined;
    this.remove(e);
    return latin1Bytes(e.value);
  }

  delete(dict: string, k: string, now: number): boolean {
    const e = this.live(dict, k, now);
    if (!e) return false;
    this.remove(e);
    return true;
  }

  /**
   * Empty a dict in this partition at once: its map is swapped for an empty one and a new
   * generation starts. The old entries leave the heap in bounded batches ({@link reclaim}),
   * and storage removes the old generation in the background.
   */
  clear(dict: string): void {
    const s = this.dicts.get(dict);
    if (s) this.clearSlot(s);
  }

  private orphan(s: DictSlot): void {
    if (s.entries.size > 0) this.orphans.push(s.entries.values());
    s.entries = new Map();
  }

  /** Forget a deleted dict (storage is told once per node, not per partition). */
  drop(dict: string): void {
    const s = this.dicts.get(dict);
    if (s) this.orphan(s);
    this.dicts.delete(dict);
    for (const [id, session] of this.sessions) if (session.dict === dict) this.sessions.delete(id);
  }

  /** Take up to `budget` entries of cleared maps out of the heap; returns how many. */
  reclaim(budget: number): number {
    let n = 0;
    while (n < budget && this.orphans.length > 0) {
      const it = this.orphans[0] as Iterator<Entry>;
      const next = it.next();
      if (next.done) {
        this.orphans.shift();
        continue;
      }
      this.queue.remove(next.value);
      n++;
    }
    return n;
  }

  /** Whether cleared entries are still waiting for {@link reclaim}. */
  get reclaiming(): boolean {
    return this.orphans.length > 0;
  }

  /** Exact number of live entries of a dict (expires what is due first). */
  count(dict: string, now: number): number {
    this.expireDue(now);
    return this.dicts.get(dict)?.entries.size ?? 0;
  }

  /** Total entries in this partition (all dicts), live or awaiting the sweep. */
  get size(): number {
    let n = 0;
    for (const s of this.dicts.values()) n += s.entries.size;
    return n;
  }

  /**
   * Remove entries whose deadline has passed. Entries whose deadline moved since they were
   * queued go back in the heap at their new deadline.
   */
  expireDue(now: number, budget = Number.POSITIVE_INFINITY): number {
    let removed = 0;
    let steps = 0;
    this.lastExpireSteps = 0;
    const q = this.queue;
    for (let top = q.peek(); top !== undefined && (q.peekScheduled() as number) <= now && steps < budget; top = q.peek()) {
      this.lastExpireSteps = steps + 1;
      steps++;
      if (top.slot.entries.get(top.k) !== top) {
        q.pop(); // of a cleared map, not reclaimed yet
        continue;
      }
      const deadline = q.deadlineOf(top);
      if (deadline > now) {
        q.rescheduleTop(deadline);
        continue;
      }
      this.remove(top);
      removed++;
    }
    return removed;
  }

  /** Entries waiting in the expiry heap (one per live entry; deleted ones leave at once). */
  get queued(): number {
    return this.queue.size;
  }

  /** Heap operations the last {@link expireDue} did (removals and re-queues). */
  lastExpireSteps = 0;

  /** Earliest deadline the heap knows of (a lower bound on the next expiry). */
  nextDeadline(): number | undefined {
    return this.queue.peekScheduled();
  }

  /**
   * A page of a dict's live entries in key-byte order, after position `after` (exclusive).
   * The position is a key, not a node-local iterator, so an iteration can go on on another
   * node after the partition moved (or failed over): every key present for the whole
   * iteration was present when any node sorted its keys, and is returned exactly once.
   * The sort is kept per session, so the pages that follow on the same node are cheap.
   */
  scan(
    dict: string,
    after: string | null,
    sessionId: string | undefined,
    limit: number,
    withValues: boolean,
    now: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): ScanPage {
    let session = sessionId === undefined ? undefined : this.sessions.get(sessionId);
    let id = sessionId;
    if (!session || session.dict !== dict || id === undefined) {
      this.gcSessions(now);
      id = `${this.part}.${nanoid(12)}`;
      const entries = this.dicts.get(dict)?.entries;
      // Latin1 strings compare like their bytes.
      session = { dict, sorted: entries ? [...entries.keys()].sort() : [], lastUsed: now };
    } else {
      this.sessions.delete(id); // re-inserted below: least recently used first
    }
    session.lastUsed = now;
    const { sorted } = session;
    let i = after === null ? 0 : upperBound(sorted, after);
    const keys: string[] = [];
    const values: string[] = [];
    const current = this.dicts.get(dict)?.entries;
    let bytes = 0;
    // Skipping deleted or expired keys counts too: a page is bounded work, even if empty.
    let steps = limit * SCAN_STEPS_PER_ITEM;
    let last: string | undefined;
    for (; i < sorted.length && keys.length < limit && bytes < maxBytes && steps-- > 0; i++) {
      const k = sorted[i] as string;
      last = k;
      const e = current?.get(k);
      if (!e || this.queue.deadlineOf(e) <= now) continue;
      keys.push(k);
      bytes += k.length;
      if (withValues) {
        values.push(e.value);
        bytes += e.value.length;
      }
    }
    const done = i >= sorted.length;
    if (!done) this.sessions.set(id, session);
    return new ScanPage(keys, values, done || last === undefined ? null : last, id);
  }

  private gcSessions(now: number): void {
    for (const [id, s] of this.sessions) {
      if (now - s.lastUsed > SCAN_SESSION_IDLE_MS || this.sessions.size >= MAX_SCAN_SESSIONS) this.sessions.delete(id);
    }
  }

  /** Add a record to the next commit (the answer of the request that made these mutations). */
  record(m: Mutation): void {
    if (this.recording) this.pending.push(m);
  }

  /** Hand the mutations made since the last call to the engine; resolves when durable. */
  commit(): Promise<void> | undefined {
    const batch = this.takePending();
    return batch.length === 0 ? undefined : this.engine.commit(batch);
  }

  /** The mutations made since the last call (to commit and replicate them). */
  takePending(): Mutation[] {
    if (this.pending.length === 0) return NONE;
    const batch = this.pending;
    this.pending = [];
    return batch;
  }

  /**
   * A replica applies its primary's mutations, in order (delivery is in order, resends
   * never overtake). Generations are the replica's own: a primary's `clear` becomes a local
   * clear. Deadlines get the same slack as on recovery: the primary moves them on disk (and
   * so here) only coarsely, and a promoted replica must never expire an entry early.
   */
  applyReplicated(muts: readonly ReplMutation[]): void {
    for (const m of muts) {
      switch (m.op) {
        case "reset":
          // A snapshot follows: forget everything this partition held.
          for (const s of this.dicts.values()) this.clearSlot(s);
          break;
        case "set": {
          const s = this.slot(m.dict);
          const k = keyString(m.key);
          const value = latin1String(m.value);
          const deadline = m.deadline + this.slackMs;
          const bucket = Math.floor(m.deadline / this.slackMs);
          let e = s.entries.get(k);
          if (e) {
            e.value = value;
            e.bucket = bucket;
            this.queue.setDeadline(e, deadline);
          } else {
            e = new Entry(k, value, s, bucket);
            s.entries.set(k, e);
            this.queue.push(e, deadline);
          }
          this.pending.push({ op: "set", part: this.part, dict: m.dict, gen: s.gen, key: m.key, value: m.value, deadline: m.deadline });
          break;
        }
        case "delete": {
          const e = this.dicts.get(m.dict)?.entries.get(keyString(m.key));
          if (e) this.remove(e);
          break;
        }
        case "clear":
          this.clear(m.dict);
          break;
        case "dedup":
          this.pending.push(m);
          break;
      }
    }
  }

  private clearSlot(s: DictSlot): void {
    if (s.entries.size === 0) return;
    this.orphan(s);
    s.gen += 1;
    if (this.recording) this.pending.push({ op: "clear", part: this.part, dict: s.dict, gen: s.gen });
  }

  /**
   * Everything this partition holds, as the mutations that rebuild it on another shard: a
   * reset, then one `set` per live entry (with its deadline as stored), in chunks of at most
   * `chunk` entries. Each chunk is read when it is asked for, from the live maps: the
   * caller sends it before any write made after that, so chunks and the live stream
   * together give the learner exactly the primary's state, without ever copying a whole
   * partition in one event-loop turn.
   */
  *snapshotChunks(chunk: number, now: () => number, maxBytes = Number.POSITIVE_INFINITY): Generator<ReplMutation[], void, undefined> {
    const reset: ReplMutation = { op: "reset", part: this.part };
    let first = true;
    for (const c of this.chunksOf(false, chunk, now, maxBytes)) {
      yield first ? [reset, ...c] : c;
      first = false;
    }
    if (first) yield [reset];
  }

  /**
   * The same as mutations for this node's own storage (a log snapshot): per dict, its
   * generation (as a `clear`), then its live entries.
   */
  storedChunks(chunk: number, now: () => number, maxBytes = Number.POSITIVE_INFINITY): Generator<Mutation[], void, undefined> {
    return this.chunksOf(true, chunk, now, maxBytes);
  }

  /** The live entries (and, with `generations`, each dict's generation) in bounded chunks. */
  private *chunksOf(generations: boolean, chunk: number, now: () => number, maxBytes: number): Generator<EntryMutation[], void, undefined> {
    let out: EntryMutation[] = [];
    let bytes = 0;
    for (const s of this.dicts.values()) {
      const map = s.entries;
      if (generations && s.gen > 0) out.push({ op: "clear", part: this.part, dict: s.dict, gen: s.gen });
      for (const e of map.values()) {
        // A clear during the copy replaced the map: what follows it travels live.
        if (s.entries !== map) break;
        const deadline = this.queue.deadlineOf(e);
        if (deadline <= now()) continue;
        // The deadline in memory: at or after the stored one, and no more than the slack later.
        out.push({ op: "set", part: this.part, dict: s.dict, gen: s.gen, key: latin1Bytes(e.k), value: latin1Bytes(e.value), deadline });
        bytes += e.k.length + e.value.length;
        if (out.length >= chunk || bytes >= maxBytes) {
          yield out;
          out = [];
          bytes = 0;
        }
      }
    }
    if (out.length > 0) yield out;
  }

  /**
   * This node no longer holds the partition: forget its entries (storage removes them in
   * the background, as for `clear`).
   */
  release(): void {
    for (const s of this.dicts.values()) this.clearSlot(s);
    this.sessions.clear();
  }
}
