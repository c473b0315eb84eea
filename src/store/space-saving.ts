/**
 * The space-saving sketch (Metwally, Agrawal, El Abbadi 2005): the approximate top-k of a
 * stream in `capacity` counters. A key seen while full replaces the smallest counter and
 * inherits its count (kept as the estimate's possible over-count, `error`), so every key
 * whose true count exceeds total/capacity is guaranteed to be present.
 */
export interface Counted<K> {
  key: K;
  /** Estimated count: at least the true count, at most `error` more. */
  count: number;
  error: number;
}

export class SpaceSaving<K> {
  private readonly counters = new Map<K, { count: number; error: number }>();

  constructor(private readonly capacity: number) {}

  add(key: K, by = 1): void {
    const c = this.counters.get(key);
    if (c) {
      c.count += by;
      return;
    }
    if (this.counters.size < this.capacity) {
      this.counters.set(key, { count: by, error: 0 });
      return;
    }
    // Full: the smallest counter gives way (a linear scan: capacities are small, and
    // callers sample, so this runs on a fraction of requests).
    let minKey: K | undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const [k, v] of this.counters) {
      if (v.count < min) {
        min = v.count;
        minKey = k;
      }
    }
    if (minKey !== undefined) this.counters.delete(minKey);
    this.counters.set(key, { count: min + by, error: min });
  }

  /** The top `n`, largest first. */
  top(n: number): Counted<K>[] {
    return [...this.counters]
      .map(([key, v]) => ({ key, count: v.count, error: v.error }))
      .sort((a, b) => b.count - a.count)
      .slice(0, n);
  }
}

/** The `capacity` largest values seen per key (a key's latest size replaces its earlier one). */
export class LargestKeys<K> {
  private readonly sizes = new Map<K, number>();

  constructor(private readonly capacity: number) {}

  add(key: K, size: number): void {
    if (this.sizes.has(key) || this.sizes.size < this.capacity) {
      this.sizes.set(key, size);
      return;
    }
    let minKey: K | undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const [k, v] of this.sizes) {
      if (v < min) {
        min = v;
        minKey = k;
      }
    }
    if (minKey !== undefined && size > min) {
      this.sizes.delete(minKey);
      this.sizes.set(key, size);
    }
  }

  top(n: number): { key: K; bytes: number }[] {
    return [...this.sizes]
      .map(([key, bytes]) => ({ key, bytes }))
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, n);
  }
}
