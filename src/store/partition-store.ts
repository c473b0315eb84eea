/**
 * One partition's entries and their expiry: the state a partition actor owns, and the
 * operations on it (the core, versions included, is in entry-table.ts).
 */
import { ScanSessions } from "./scan-sessions.js";
import { ExportSessions, type CapturedEntry, type ExportPage } from "./export-sessions.js";
import { EntryTable, type EntryTableOptions } from "./entry-table.js";
import type { DictSlot, Entry } from "./partition-entry.js";
import { DELETE, EXPIRE, PUT, type ChangeKind } from "./change-history.js";
import { copyChunks, entryChunks, type ChunkSource } from "./partition-chunks.js";
import { ScanPage } from "../encoding/scan-page.js";
import { latin1Bytes, latin1String } from "../encoding/latin1-bytes.js";
import type { Mutation, ReplMutation } from "./storage-engine.js";

export type PartitionStoreOptions = EntryTableOptions;

const NONE: Mutation[] = [];

/** Canonical key bytes → the string used as the map key. */
export const keyString = latin1String;

/** What {@link PartitionStore.read} and {@link PartitionStore.peek} see of an entry. */
export interface EntryView {
  /** The value's bytes as a latin1 string. */
  value: string;
  ver: number;
  /** When it expires unless read or written before (ms since the epoch). */
  deadline: number;
}

export class PartitionStore extends EntryTable {
  private readonly sessions: ScanSessions;
  private readonly exports: ExportSessions;
  /** Its slots and deadlines, for reading it back in chunks (partition-chunks.ts). */
  private readonly chunks: ChunkSource = {
    slots: () => this.dicts.values(),
    deadlineOf: (e) => this.queue.deadlineOf(e),
    version: () => this.seq,
    history: () => this.history.snapshot(),
  };

  constructor(opts: PartitionStoreOptions) {
    super(opts);
    this.sessions = new ScanSessions(opts.part);
    this.exports = new ExportSessions(opts.part);
  }

  /** `key` is `k` as bytes when the caller has them (saves converting back). */
  private set(dict: string, k: string, value: Uint8Array, now: number, key?: Uint8Array, ttl?: number): Entry {
    return this.setIn(this.slot(dict), k, value, now, ttl, key);
  }

  /** Recovery: put back an entry read from storage. */
  load(dict: string, gen: number, key: Uint8Array, value: Uint8Array, storedDeadline: number, ver = 0, ttl = 0): void {
    const s = this.slot(dict);
    s.gen = gen;
    this.place(s, key, value, storedDeadline, ver, ttl);
  }

  /** Recovery: the generation a dict had reached here, even with no entries left. */
  setGeneration(dict: string, gen: number): void {
    this.slot(dict).gen = gen;
  }

  /** Recovery: the highest version the partition had given. */
  restoreVersion(ver: number): void {
    this.saw(ver);
  }

  /** Recovery is over: the history starts here (what happened before is not known). */
  recovered(): void {
    this.history.restart(this.seq);
  }

  /**
   * Where a watch of `dict` that starts now begins: after the dict's last change here and
   * after everything shown (the caller first waits for the dict's unacknowledged writes,
   * so the position is one a failover cannot take back).
   */
  watchStart(dict: string): number {
    return Math.max(this.history.acked, this.dicts.get(dict)?.last ?? 0);
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

  /** `ttl`: the entries' own TTL (0: the dict's); undefined keeps each entry's. */
  update(dict: string, ks: readonly string[], values: readonly Uint8Array[], now: number, keys?: readonly Uint8Array[], ttl?: number): void {
    const s = this.slot(dict);
    for (let i = 0; i < ks.length; i++) this.setIn(s, ks[i] as string, values[i] as Uint8Array, now, ttl, keys?.[i]);
  }

  // ---- versioned operations (conditional writes, counters, TTLs) ----------------------------

  /** A live entry without moving its deadline (a condition, a counter's old value). */
  peek(dict: string, k: string, now: number): EntryView | undefined {
    const e = this.live(dict, k, now);
    return e && { value: e.value, ver: e.ver, deadline: this.queue.deadlineOf(e) };
  }

  /** A read of an entry with its version (moves its deadline, as every read does). */
  read(dict: string, k: string, now: number): EntryView | undefined {
    const e = this.live(dict, k, now);
    if (!e) return undefined;
    this.touch(e, now);
    return { value: e.value, ver: e.ver, deadline: this.queue.deadlineOf(e) };
  }

  /** Write an entry; returns its new version. `ttl` as in {@link update}. */
  write(dict: string, k: string, value: Uint8Array, now: number, ttl?: number, key?: Uint8Array): number {
    return this.set(dict, k, value, now, key, ttl).ver;
  }

  /** Move an entry's deadline as a read does, if it is live (and at version `ver`, if given). */
  refresh(dict: string, k: string, now: number, ver?: number): boolean {
    const e = this.live(dict, k, now);
    if (!e || (ver !== undefined && e.ver !== ver)) return false;
    this.touch(e, now);
    return true;
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
  clear(dict: string, cid?: string): void {
    this.clearChange(this.slot(dict), cid);
  }

  /** Forget a deleted dict (storage is told once per node, not per partition). */
  drop(dict: string): void {
    const s = this.dicts.get(dict);
    if (s) this.orphan(s);
    this.dicts.delete(dict);
    this.sessions.forget(dict);
    this.exports.forget(dict);
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

  /** Key and value bytes of those entries. */
  get bytes(): number {
    let n = 0;
    for (const s of this.dicts.values()) n += s.bytes;
    return n;
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
      this.remove(top, true);
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

  /**
   * A page of an export of a dict's entries in this partition as of one point in time (the
   * first page's): see export-sessions.ts. Undefined when `session` is gone (start over).
   */
  exportPage(dict: string, session: string | undefined, from: number, limit: number, now: number, maxBytes: number): ExportPage | undefined {
    return this.exports.page(dict, session, from, limit, maxBytes, now, () => {
      const out: CapturedEntry[] = [];
      for (const e of this.dicts.get(dict)?.entries.values() ?? []) {
        const left = this.queue.deadlineOf(e) - now;
        if (left > 0) out.push({ k: e.k, value: e.value, left, ttl: e.ttl, ver: e.ver });
      }
      // The dict's unacknowledged writes were waited for: no change of it is past this position.
      return { entries: out, pos: this.watchStart(dict) };
    });
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
          // A snapshot follows: forget everything this partition held (its versions stay),
          // and its history (the primary's comes next).
          for (const s of this.dicts.values()) this.clearSlot(s);
          this.saw(m.ver);
          this.history.restart(this.seq);
          break;
        case "history":
          this.history.adopt(m.floor, m.changes);
          break;
        case "set": {
          const s = this.slot(m.dict);
          // A new change (not a moved deadline, nor a snapshot's entry) joins the history.
          const fresh = m.ver > this.history.head;
          const e = this.place(s, m.key, m.value, m.deadline, m.ver, m.ttl);
          if (fresh) this.replicatedChange(s, m.ver, PUT, e.k, e.value);
          this.pending.push({ op: "set", part: this.part, dict: m.dict, gen: s.gen, key: m.key, value: m.value, deadline: m.deadline, ver: m.ver, ttl: m.ttl });
          break;
        }
        case "delete": {
          this.saw(m.ver);
          const s = this.slot(m.dict);
          const k = keyString(m.key);
          const e = s.entries.get(k);
          if (e) {
            this.unlink(e);
            this.pending.push({ op: "delete", part: this.part, dict: m.dict, gen: s.gen, key: m.key, ver: m.ver });
          }
          if (m.ver > this.history.head) this.replicatedChange(s, m.ver, m.expired === true ? EXPIRE : DELETE, k);
          break;
        }
        case "clear":
          this.saw(m.ver);
          if (m.ver !== undefined && m.ver > this.history.head) {
            this.clearChange(this.slot(m.dict), m.cid, m.ver);
            this.history.ack(m.ver);
          } else {
            // From a primary that gave clears no number of their own.
            const s = this.dicts.get(m.dict);
            if (s) this.clearSlot(s);
          }
          break;
        case "dedup":
          this.pending.push(m);
          break;
        case "floors":
          // The dedup table's (replica-apply.ts), kept in memory only.
          break;
      }
    }
  }

  /** A change the primary made, applied here: in the history, and shown (this node has it). */
  private replicatedChange(s: DictSlot, ver: number, kind: ChangeKind, k: string, value?: string): void {
    s.last = ver;
    this.history.append(ver, s.dict, kind, k, value);
    this.history.ack(ver);
  }

  /**
   * Everything this partition holds, as the mutations that rebuild it on another shard: a
   * reset and the change history, then one `set` per live entry, in chunks read as they are asked for (see
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
    this.exports.forget();
    this.history.restart(this.seq);
  }
}
