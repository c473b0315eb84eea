/**
 * The partitions a shard node hosts, recovery of them from storage, and the node's single
 * expiry timer that sweeps them.
 */
import type { Clock, TimerHandle } from "../util/clock.js";
import { PartitionStore } from "../store/partition-store.js";
import { generationKey, type RecoveredState, type StorageEngine } from "../store/storage-engine.js";
import type { HistoryLimits } from "../store/change-history.js";

/**
 * Heap operations one sweep may do, over all partitions, before yielding the event loop:
 * about 5 ms of work, so a mass expiry or the clearing of a million entries is spread over
 * many sweeps instead of stalling every request behind it.
 */
const SWEEP_BUDGET = 20_000;

export interface PartitionHostOptions {
  /** Idle time after which an entry expires. */
  ttlMs: number;
  engine: StorageEngine;
  clock: Clock;
  /** How often expired entries are swept from memory (reads check deadlines themselves). Default 250 ms. */
  sweepMs?: number;
  log?: (line: string) => void;
  /** Record mutations even without a durable engine (they are replicated). */
  record?: boolean;
  /** How much change history each partition keeps for watchers. */
  history?: HistoryLimits;
  /**
   * Whether this node leads a partition now: only a primary expires entries (a replica
   * applies its primary's expiries, so both keep the same history). Default: every one.
   */
  leads?: (part: number) => boolean;
  /** Commit a store's mutations here and to its replicas (default: here only). */
  persist?: (store: PartitionStore) => Promise<unknown> | undefined;
}

export class PartitionHost {
  private readonly stores = new Map<number, PartitionStore>();
  private timer: TimerHandle | undefined;

  private readonly ttlMs: number;
  private readonly engine: StorageEngine;
  private readonly clock: Clock;
  private readonly sweepMs: number;
  private readonly log: (line: string) => void;
  private readonly record: boolean | undefined;
  private readonly history: HistoryLimits | undefined;
  private readonly leads: (part: number) => boolean;
  private readonly persist: (store: PartitionStore) => Promise<unknown> | undefined;

  constructor(opts: PartitionHostOptions) {
    this.ttlMs = opts.ttlMs;
    this.engine = opts.engine;
    this.clock = opts.clock;
    this.sweepMs = opts.sweepMs ?? 250;
    this.log = opts.log ?? ((l) => console.error(l));
    this.record = opts.record;
    this.history = opts.history;
    this.leads = opts.leads ?? (() => true);
    this.persist = opts.persist ?? ((s) => s.commit());
  }

  /** Start a commit nobody waits for (sweeps), reporting a failure. */
  private commitInBackground(s: PartitionStore): void {
    this.persist(s)?.catch((err: unknown) => this.log(`partition ${s.part}: background commit failed: ${(err as Error).message}`));
  }

  /** The store of a partition, created on first use. */
  store(part: number): PartitionStore {
    let s = this.stores.get(part);
    if (!s) {
      s = new PartitionStore({
        part,
        ttlMs: this.ttlMs,
        engine: this.engine,
        now: () => this.clock.now(),
        ...(this.record !== undefined && { record: this.record }),
        ...(this.history !== undefined && { history: this.history }),
      });
      this.stores.set(part, s);
    }
    return s;
  }

  /** Every partition store, by partition. */
  all(): IterableIterator<[number, PartitionStore]> {
    return this.stores.entries();
  }

  existing(part: number): PartitionStore | undefined {
    return this.stores.get(part);
  }

  /** Load what storage holds; returns the number of entries loaded. */
  recover(state: RecoveredState): number {
    for (const [id, gen] of state.generations) {
      const sep = id.indexOf(":");
      this.store(Number(id.slice(0, sep))).setGeneration(id.slice(sep + 1), gen);
    }
    for (const [part, ver] of state.versions) this.store(part).restoreVersion(ver);
    let n = 0;
    for (const e of state.entries) {
      const gen = state.generations.get(generationKey(e.part, e.dict)) ?? 0;
      this.store(e.part).load(e.dict, gen, e.key, e.value, e.deadline, e.ver, e.ttl);
      n++;
    }
    for (const s of this.stores.values()) s.recovered();
    return n;
  }

  /** Forget a deleted dict in every partition; resolves once that is durable. */
  async dropDict(dict: string): Promise<void> {
    for (const s of this.stores.values()) s.drop(dict);
    await this.engine.commit([{ op: "dropDict", dict }]);
  }

  /** The change history held for watchers, over every partition. */
  historySize(): { events: number; bytes: number } {
    let events = 0;
    let bytes = 0;
    for (const s of this.stores.values()) {
      events += s.history.size;
      bytes += s.history.byteSize;
    }
    return { events, bytes };
  }

  entryCount(): number {
    let n = 0;
    for (const s of this.stores.values()) n += s.size;
    return n;
  }

  /**
   * Sweep expired entries and reclaim cleared ones now, within one shared budget; the next
   * sweep starts with the partition after the last one served, so none is starved.
   */
  sweep(budget = SWEEP_BUDGET): void {
    const now = this.clock.now();
    const stores = [...this.stores.values()];
    for (let i = 0; i < stores.length && budget > 0; i++) {
      const s = stores[(this.nextSweep + i) % stores.length] as PartitionStore;
      if (s.reclaiming) budget -= s.reclaim(budget);
      if (budget <= 0 || (s.nextDeadline() ?? Number.POSITIVE_INFINITY) > now || !this.leads(s.part)) continue;
      s.expireDue(now, budget);
      budget -= Math.max(1, s.lastExpireSteps);
      this.commitInBackground(s);
      if (budget <= 0) this.nextSweep = (this.nextSweep + i) % stores.length;
    }
    if (budget > 0) this.nextSweep = 0;
  }

  private nextSweep = 0;

  start(): void {
    this.timer?.cancel();
    const tick = () => {
      this.sweep();
      this.timer = this.clock.setTimer(tick, this.sweepMs);
    };
    this.timer = this.clock.setTimer(tick, this.sweepMs);
  }

  stop(): void {
    this.timer?.cancel();
  }
}
