/** The hot-key sketches: space-saving keeps every heavy hitter; largest keeps the largest. */
import { describe, expect, it } from "vitest";
import { LargestKeys, SpaceSaving } from "../../src/store/space-saving.js";
import { mulberry32 } from "../helpers/prng.js";

describe("SpaceSaving", () => {
  it("keeps every key above total/capacity, counts never under the truth, within the error", () => {
    const sketch = new SpaceSaving<string>(16);
    const truth = new Map<string, number>();
    const r = mulberry32(3);
    for (let i = 0; i < 20_000; i++) {
      // A few heavy keys among many light ones.
      const k = r() < 0.5 ? `hot${Math.floor(r() * 4)}` : `cold${Math.floor(r() * 5_000)}`;
      sketch.add(k);
      truth.set(k, (truth.get(k) ?? 0) + 1);
    }
    const top = sketch.top(16);
    for (let h = 0; h < 4; h++) expect(top.slice(0, 4).map((t) => t.key)).toContain(`hot${h}`);
    for (const t of top) {
      const real = truth.get(t.key) ?? 0;
      expect(t.count).toBeGreaterThanOrEqual(real);
      expect(t.count - t.error).toBeLessThanOrEqual(real);
    }
  });
});

describe("LargestKeys", () => {
  it("keeps the largest sizes, a key's latest size replacing its earlier one", () => {
    const l = new LargestKeys<string>(3);
    for (const [k, n] of [["a", 10], ["b", 500], ["c", 20], ["d", 5], ["e", 300], ["a", 1_000]] as const) l.add(k, n);
    expect(l.top(3)).toEqual([
      { key: "a", bytes: 1_000 },
      { key: "b", bytes: 500 },
      { key: "e", bytes: 300 },
    ]);
  });
});

/** The sketches as first written: a scan of every counter for each new key of a full sketch. */
class ScanningSpaceSaving {
  readonly counters = new Map<string, { count: number; error: number }>();
  constructor(private readonly capacity: number) {}
  add(key: string, by: number): void {
    const c = this.counters.get(key);
    if (c) {
      c.count += by;
      return;
    }
    if (this.counters.size < this.capacity) {
      this.counters.set(key, { count: by, error: 0 });
      return;
    }
    let minKey: string | undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const [k, v] of this.counters) if (v.count < min) [min, minKey] = [v.count, k];
    if (minKey !== undefined) this.counters.delete(minKey);
    this.counters.set(key, { count: min + by, error: min });
  }
}

class ScanningLargest {
  readonly sizes = new Map<string, number>();
  constructor(private readonly capacity: number) {}
  add(key: string, size: number): void {
    if (this.sizes.has(key) || this.sizes.size < this.capacity) {
      this.sizes.set(key, size);
      return;
    }
    let minKey: string | undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const [k, v] of this.sizes) if (v < min) [min, minKey] = [v, k];
    if (minKey !== undefined && size > min) {
      this.sizes.delete(minKey);
      this.sizes.set(key, size);
    }
  }
}

describe("the sketches without a scan per new key", () => {
  // Streams a shard sees: distinct keys (a bulk load), a few hot keys among many, and a
  // zipf-like mix; sizes all equal (one value size), or varied.
  const streams: [string, (r: () => number, i: number) => string, (r: () => number) => number][] = [
    ["distinct keys, one size", (_r, i) => `k${i}`, () => 116],
    ["hot and cold keys, varied sizes", (r) => (r() < 0.3 ? `hot${Math.floor(r() * 5)}` : `cold${Math.floor(r() * 3_000)}`), (r) => 16 + Math.floor(r() * 5_000)],
    ["skewed keys, few sizes", (r) => `z${Math.floor(1 / (r() + 0.0005))}`, (r) => [100, 200, 4_096][Math.floor(r() * 3)] as number],
  ];
  for (const [name, keyOf, sizeOf] of streams) {
    it(`evicts exactly what a scan would: ${name}`, () => {
      const r = mulberry32(11);
      const fast = new SpaceSaving<string>(64);
      const ref = new ScanningSpaceSaving(64);
      const big = new LargestKeys<string>(64);
      const refBig = new ScanningLargest(64);
      for (let i = 0; i < 50_000; i++) {
        const k = keyOf(r, i);
        const by = 1 + Math.floor(r() * 8);
        fast.add(k, by);
        ref.add(k, by);
        const size = sizeOf(r);
        big.add(k, size);
        refBig.add(k, size);
      }
      const byKey = <T>(xs: [string, T][]) => xs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      expect(byKey(fast.top(64).map((c) => [c.key, [c.count, c.error]]))).toEqual(byKey([...ref.counters].map(([k, v]) => [k, [v.count, v.error]])));
      expect(byKey(big.top(64).map((c) => [c.key, c.bytes]))).toEqual(byKey([...refBig.sizes]));
    });
  }
});
