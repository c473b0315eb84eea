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
