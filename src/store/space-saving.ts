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
  /**
   * Keys that had the smallest count when the counters were last scanned, and that count.
   * Counts only grow, so `min` stays a lower bound of every count; a candidate still at
   * `min` is a smallest counter. A full sketch sees a new key on almost every sampled
   * request when keys are spread evenly (a bench's distinct puts): one scan then serves
   * every key that shared the minimum, instead of one scan of all counters per new key.
   */
  private atMin: K[] = [];
  private min = 0;

  constructor(private readonly capacity: number) {}

  add(key: K, by = 1): void {
    const c = this.counters.get(key);
    if (c) {
      c.count += by;
      return;
    }
    if (this.counters.size < this.capacity) {
      this.counters.set(key, { count: by, error: 0 });
      // A new small counter may be below `min`: scan again once full.
      this.atMin.length = 0;
      return;
    }
    const victim = this.smallest();
    if (victim === undefined) return;
    this.counters.delete(victim);
    this.counters.set(key, { count: this.min + by, error: this.min });
  }

  /** A key with the smallest count (full sketch), from the candidates or a new scan. */
  private smallest(): K | undefined {
    for (;;) {
      const k = this.atMin.pop();
      if (k === undefined) break;
      if (this.counters.get(k)?.count === this.min) return k;
    }
    let min = Number.POSITIVE_INFINITY;
    for (const v of this.counters.values()) if (v.count < min) min = v.count;
    this.min = min;
    for (const [k, v] of this.counters) if (v.count === min) this.atMin.push(k);
    // Popped from the end: reversed, the oldest counter at the minimum goes first.
    this.atMin.reverse();
    return this.atMin.pop();
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
  /** The smallest size held and its key, while known (undefined: scan before using it). */
  private minKey: K | undefined = undefined;
  private minSize = 0;

  constructor(private readonly capacity: number) {}

  add(key: K, size: number): void {
    if (this.sizes.has(key) || this.sizes.size < this.capacity) {
      this.sizes.set(key, size);
      // The smallest (the first of equals, in the map's order) is known again only after a
      // scan, unless this only made a key other than it larger.
      if (key === this.minKey || size <= this.minSize) this.minKey = undefined;
      return;
    }
    // Full: most values offered are no larger than the smallest kept, and need no scan.
    if (this.minKey === undefined) this.scan();
    if (this.minKey === undefined || size <= this.minSize) return;
    this.sizes.delete(this.minKey);
    this.sizes.set(key, size);
    this.minKey = undefined;
  }

  private scan(): void {
    this.minKey = undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const [k, v] of this.sizes) {
      if (v < min) {
        min = v;
        this.minKey = k;
      }
    }
    this.minSize = min;
  }

  top(n: number): { key: K; bytes: number }[] {
    return [...this.sizes]
      .map(([key, bytes]) => ({ key, bytes }))
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, n);
  }
}
