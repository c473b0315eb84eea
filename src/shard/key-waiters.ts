/**
 * Requests parked on a shard until a key changes (`awaitChange`): what `Dict.lock` waits on
 * instead of polling. A waiter is answered true as soon as the key is no longer at the
 * version it named (written, deleted, expired by the sweep, cleared, or the partition left
 * this node), or false at its timeout. Checking never moves the key's deadline: a waiter
 * must not keep the lock it waits for alive.
 */
import type { Clock, TimerHandle } from "../util/clock.js";
import type { PartitionStore } from "../store/partition-store.js";

/** Waiters a node keeps at most: past it, a new one is answered "no change yet" at once. */
export const MAX_WAITERS = 100_000;

interface Waiter {
  k: string;
  ver: number | null;
  resolve(changed: boolean): void;
  timer: TimerHandle | undefined;
}

/** The waiters on one partition store, by dict, then key. */
type StoreWaiters = Map<string, Map<string, Set<Waiter>>>;

export class KeyWaiters {
  private readonly byStore = new Map<PartitionStore, StoreWaiters>();
  private count = 0;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.count;
  }

  /** Answers at once when the key is not at `ver` (null: absent) already. */
  wait(store: PartitionStore, dict: string, k: string, ver: number | null, timeoutMs: number): boolean | Promise<boolean> {
    if (changed(store, dict, k, ver, this.clock.now())) return true;
    if (timeoutMs <= 0 || this.count >= MAX_WAITERS) return false;
    return new Promise<boolean>((resolve) => {
      const w: Waiter = { k, ver, resolve, timer: undefined };
      this.add(store, dict, w);
      w.timer = this.clock.setTimer(() => this.settle(store, dict, w, false), timeoutMs);
    });
  }

  private add(store: PartitionStore, dict: string, w: Waiter): void {
    let sw = this.byStore.get(store);
    if (!sw) {
      this.byStore.set(store, (sw = new Map()));
      store.onChange = (d, k) => this.changedIn(store, d, k);
    }
    let keys = sw.get(dict);
    if (!keys) sw.set(dict, (keys = new Map()));
    let set = keys.get(w.k);
    if (!set) keys.set(w.k, (set = new Set()));
    set.add(w);
    this.count++;
  }

  private settle(store: PartitionStore, dict: string, w: Waiter, result: boolean): void {
    const sw = this.byStore.get(store);
    const keys = sw?.get(dict);
    const set = keys?.get(w.k);
    if (!set?.delete(w)) return;
    this.count--;
    w.timer?.cancel();
    if (set.size === 0) keys?.delete(w.k);
    if (keys?.size === 0) sw?.delete(dict);
    if (sw?.size === 0) {
      this.byStore.delete(store);
      store.onChange = undefined;
    }
    w.resolve(result);
  }

  /**
   * A change in `store`: look once the mutation is complete (the store is mid-operation
   * when it tells), and answer every waiter whose key left its version.
   */
  private changedIn(store: PartitionStore, dict: string, k: string | undefined): void {
    const keys = this.byStore.get(store)?.get(dict);
    if (!keys) return;
    const sets = k === undefined ? [...keys.values()] : [keys.get(k)];
    queueMicrotask(() => {
      const now = this.clock.now();
      for (const set of sets) {
        if (!set) continue;
        for (const w of [...set]) if (changed(store, dict, w.k, w.ver, now)) this.settle(store, dict, w, true);
      }
    });
  }
}

function changed(store: PartitionStore, dict: string, k: string, ver: number | null, now: number): boolean {
  const cur = store.peek(dict, k, now);
  return (cur?.ver ?? null) !== ver;
}
