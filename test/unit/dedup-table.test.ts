import { describe, expect, it } from "vitest";
import { DEDUP_WINDOW_MS, DedupTable } from "../../src/shard/dedup-table.js";

function filled(n: number, at: number): DedupTable {
  const t = new DedupTable();
  for (let i = 0; i < n; i++) t.settle(DedupTable.id("c", i), at, { r: true }, i % 7);
  return t;
}

describe("DedupTable expiry", () => {
  it("keeps answers for the window, then drops them", () => {
    const t = filled(10, 1_000);
    t.expire(1_000 + DEDUP_WINDOW_MS);
    expect(t.size).toBe(10);
    t.expire(1_001 + DEDUP_WINDOW_MS);
    expect(t.size).toBe(0);
    expect(t.lookup(DedupTable.id("c", 3))).toEqual({ found: false });
  });

  it("drops at most `budget` per step", () => {
    const t = filled(12_000, 0);
    const late = DEDUP_WINDOW_MS + 1;
    t.expire(late, false, 5_000);
    expect(t.size).toBe(7_000);
    t.expire(late, false, 5_000);
    expect(t.size).toBe(2_000);
    t.expire(late, false, 5_000);
    expect(t.size).toBe(0);
    // The oldest go first: what is left after a step is the newest.
    const u = filled(3, 0);
    u.settle(DedupTable.id("c", 99), 10, { r: 1 }, 0);
    u.expire(DEDUP_WINDOW_MS + 5, false, 2);
    expect(u.lookup(DedupTable.id("c", 2)).found).toBe(true);
    expect(u.lookup(DedupTable.id("c", 99)).found).toBe(true);
    expect(u.lookup(DedupTable.id("c", 0)).found).toBe(false);
  });

  it("a partition's answers still copy with it after partial expiry", () => {
    const t = new DedupTable();
    for (let i = 0; i < 10; i++) t.settle(DedupTable.id("c", i), i, { r: i }, 1);
    t.expire(DEDUP_WINDOW_MS + 5, false, 3);
    expect(t.forPart(1, 0).map((a) => a.id)).toEqual([3, 4, 5, 6, 7, 8, 9].map((i) => DedupTable.id("c", i)));
  });
});
