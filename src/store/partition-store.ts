/**
 * One partition's entries and their expiry: the state a partition actor owns.
 *
 * Plain data on purpose (see docs/architecture.md): a `Map` per dict keyed by the canonical
 * key bytes (as a latin1 string, which compares and hashes like the bytes), and one min-heap
 * of deadlines with lazy deletion. Every read checks the deadline itself, so correctness
 * never depends on when the sweep runs; the sweep only reclaims memory.
 */
import { ExpiryQueue } from "./expiry-queue.js";
import { ScanSessions } from "./scan-sessions.js";
import { Entry, persistSlackMs, type DictSlot } from "./partition-entry.js";
import { copyChunks, entryChunks, type ChunkSource } from "./partition-chunks.js";
import { ScanPage } from "../encoding/scan-page.js";
import { latin1Bytes, latin1String } from "../encoding/latin1-bytes.js";
import type { Mutation, ReplMutation, StorageEngine } from "./storage-engine.js";

export interface PartitionStoreOptions {
  part: number;
  ttlMs: number;
  engine: StorageEngine;
  /** Record mutations even for a non-durable engine (they are also replicated). */
  record?: boolean;
}

const NONE: Mutation[] = [];

/** Canonical key bytes → the string used as the map key. */
export const keyString = latin1String;

export class PartitionStore {
  readonly part: number;
  private readonly ttlMs: number;
  private readonly slackMs: number;
  private readonly engine: StorageEngine;
  /** Maps replaced by `clear` whose entries still sit in the heap, reclaimed in batches. */
  private orphans: Iterator<Entry>[] = [];
  private readonly dicts = new Map<string, DictSlot>();
  private readonly queue = new ExpiryQueue<Entry>();
  private readonly sessions: ScanSessions;
  /** Its slots and deadlines, for reading it back in chunks (partition-chunks.ts). */
  private readonly chunks: ChunkSource = { slots: () => this.dicts.values(), deadlineOf: (e) => this.queue.deadlineOf(e) };
  private pending: Mutation[] = [];
  /** Whether mutations are recorded, for storage and replicas. */
  private readonly recording: boolean;

  constructor(opts: PartitionStoreOptions) {
    this.part = opts.part;
    this.ttlMs = opts.ttlMs;
    this.slackMs = persistSlackMs(opts.ttlMs);
    this.engine = opts.engine;
    this.recording = opts.record ?? opts.engine.durable;
    this.sessions = new ScanSessions(opts.part);
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
    this.sessions.forget(dict);
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

  /** A page of a dict's live entries in key-byte order, after position `after` (see scan-sessions.ts). */
  scan(
    dict: string,
    after: string | null,
    sessionId: string | undefined,
    limit: number,
    withValues: boolean,
    now: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): ScanPage {
    const current = this.dicts.get(dict)?.entries;
    return this.sessions.page(
      { dict, after, sessionId, limit, withValues, now, maxBytes },
      () => current?.keys() ?? [],
      (k) => {
        const e = current?.get(k);
        return e && this.queue.deadlineOf(e) > now ? e.value : undefined;
      },
    );
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
   * reset, then one `set` per live entry, in chunks read as they are asked for (see
   * partition-chunks.ts).
   */
  snapshotChunks(chunk: number, now: () => number, maxBytes = Number.POSITIVE_INFINITY): Generator<ReplMutation[], void, undefined> {
    return copyChunks(this.part, this.chunks, chunk, now, maxBytes);
  }

  /** The same as mutations for this node's own storage (a log snapshot): per dict, its generation (as a `clear`), then its live entries. */
  storedChunks(chunk: number, now: () => number, maxBytes = Number.POSITIVE_INFINITY): Generator<Mutation[], void, undefined> {
    return entryChunks(this.part, this.chunks, true, chunk, now, maxBytes);
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
