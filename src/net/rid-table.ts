/**
 * Values by request id for a table with constant churn: an entry per request in flight, put
 * in when it is sent and taken out by its reply.
 *
 * Not a `Map`, because of what V8 does with one under that churn. A `Map` keeps insertion
 * order, so a deleted entry's slot is never reused: every so many requests the table is
 * rebuilt, and the old one is kept pointing at its successor (for iterators), with its
 * entries still in it. Once one such table has been promoted to the old generation, the
 * young-generation collector takes it as alive until the next full collection, so the chain
 * of tables after it, and every request, promise and closure they still name, survives each
 * scavenge and is promoted in turn: the collector's "nepotism". Measured in the SDK's client
 * (2026-12-07): in 2 or 3 bench runs of 6 a client fell into that state for whole phases,
 * with half of what it allocated surviving each scavenge (1.9% otherwise), scavenges of 5–10
 * ms instead of 1.5–2.5, a full collection every half second, and gets at ×0.6–×0.8 of the
 * other runs with p99 6–9 ms instead of 2.5–3.5: the bench's "slow regime". An object used
 * as a dictionary reuses deleted slots and keeps no chain of old tables.
 */
export class RidTable<T> {
  private byRid: Record<number, T> = Object.create(null) as Record<number, T>;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(rid: number): T | undefined {
    return this.byRid[rid];
  }

  /** `value` must not be undefined (it would read as absent). */
  set(rid: number, value: T): void {
    if (this.byRid[rid] === undefined) this.count++;
    this.byRid[rid] = value;
  }

  /** Take `rid`'s value out; undefined if there was none. */
  delete(rid: number): T | undefined {
    const value = this.byRid[rid];
    if (value === undefined) return undefined;
    delete this.byRid[rid];
    this.count--;
    return value;
  }

  /** Take every value out. */
  drain(): T[] {
    const all = Object.values(this.byRid);
    this.byRid = Object.create(null) as Record<number, T>;
    this.count = 0;
    return all;
  }

  /** Visit every entry (an occasional sweep, not a hot path); `fn` may delete the one it is given. */
  forEach(fn: (value: T, rid: number) => void): void {
    for (const key in this.byRid) {
      const value = this.byRid[key as unknown as number];
      if (value !== undefined) fn(value, Number(key));
    }
  }
}
