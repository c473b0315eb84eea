import { describe, expect, it } from "vitest";
import { DEDUP_WINDOW_MS, DedupTable } from "../../src/shard/dedup-table.js";

function filled(n: number, at: number): DedupTable {
  const t = new DedupTable();
  for (let i = 0; i < n; i++) t.settle("c", i, at, { r: true }, i % 7);
  return t;
}

describe("DedupTable expiry", () => {
  it("keeps answers for the window, then drops them", () => {
    const t = filled(10, 1_000);
    t.expire(1_000 + DEDUP_WINDOW_MS);
    expect(t.size).toBe(10);
    t.expire(1_001 + DEDUP_WINDOW_MS);
    expect(t.size).toBe(0);
    expect(t.lookup("c", 3)).toEqual({ found: false });
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
    u.settle("c", 99, 10, { r: 1 }, 0);
    u.expire(DEDUP_WINDOW_MS + 5, false, 2);
    expect(u.lookup("c", 2).found).toBe(true);
    expect(u.lookup("c", 99).found).toBe(true);
    expect(u.lookup("c", 0).found).toBe(false);
  });

  it("a partition's answers still copy with it after partial expiry", () => {
    const t = new DedupTable();
    for (let i = 0; i < 10; i++) t.settle("c", i, i, { r: i }, 1);
    t.expire(DEDUP_WINDOW_MS + 5, false, 3);
    expect(t.forPart(1, 0).map((a) => a.id)).toEqual([3, 4, 5, 6, 7, 8, 9].map((i) => DedupTable.id("c", i)));
  });

  it("keeps an idle client's floor for the window after its last answer goes", () => {
    const t = filled(3, 0);
    t.advance("c", 2, 10);
    t.expire(DEDUP_WINDOW_MS + 1);
    expect(t.size).toBe(0);
    expect(t.clientCount).toBe(1);
    expect(t.isBelowFloor("c", 1)).toBe(true);
    t.expire(DEDUP_WINDOW_MS + 1, false);
    expect(t.clientCount).toBe(1);
    // Moving the floor counts as activity; then the window goes once idle long enough.
    t.advance("c", 3, DEDUP_WINDOW_MS);
    t.expire(2 * DEDUP_WINDOW_MS + 1);
    expect(t.clientCount).toBe(0);
    expect(t.isBelowFloor("c", 1)).toBe(false);
  });
});

describe("DedupTable client windows", () => {
  it("drops a client's answers below its floor, and only that client's", () => {
    const t = filled(10, 0);
    t.settle("d", 3, 0, { r: "d3" }, 0);
    expect(t.advance("c", 6, 1)).toBe(6);
    expect(t.size).toBe(5);
    for (let i = 0; i < 6; i++) expect(t.lookup("c", i).found).toBe(false);
    expect(t.lookup("c", 6)).toEqual({ found: true, answer: true });
    expect(t.lookup("d", 3)).toEqual({ found: true, answer: "d3" });
    expect(t.isBelowFloor("c", 5)).toBe(true);
    expect(t.isBelowFloor("c", 6)).toBe(false);
    expect(t.isBelowFloor("d", 0)).toBe(false);
  });

  it("gives a client with no answers here no window for its floor", () => {
    const t = new DedupTable();
    for (let i = 0; i < 1_000; i++) expect(t.advance(`stranger-${i}`, 10, 0)).toBe(0);
    expect(t.clientCount).toBe(0);
    expect(t.isBelowFloor("stranger-1", 1)).toBe(false);
  });

  it("never moves a floor down", () => {
    const t = filled(4, 0);
    t.advance("c", 3, 0);
    expect(t.advance("c", 1, 0)).toBe(0);
    expect(t.isBelowFloor("c", 2)).toBe(true);
  });

  it("keeps a running request under the floor until it settles, then drops its answer", async () => {
    const t = new DedupTable();
    let finish!: (v: unknown) => void;
    const p = new Promise((r) => (finish = r));
    t.running("c", 1, 0, p, 0);
    t.settle("c", 2, 0, { r: 2 }, 0);
    t.advance("c", 3, 0);
    expect(t.size).toBe(1);
    expect(t.lookup("c", 1)).toEqual({ found: true, answer: p });
    finish("one");
    t.settle("c", 1, 0, { r: "one" }, 0);
    expect(t.size).toBe(0);
    expect(t.lookup("c", 1).found).toBe(false);
  });

  it("keeps the answers of multi-partition ops by their own key, apart from request ids", () => {
    const t = new DedupTable();
    t.settle("c", "7/3", 0, { r: 5 }, 3);
    t.settle("c", 7, 0, { r: true }, 3);
    t.advance("c", 8, 0);
    // The floor is about request ids; an op's shares stay for the time window.
    expect(t.lookup("c", "7/3")).toEqual({ found: true, answer: 5 });
    expect(t.lookup("c", 7).found).toBe(false);
    expect(t.forPart(3, 0)).toEqual([{ id: "c:7/3", at: 0, answer: { r: 5 } }]);
  });

  it("restores stored ids into their client's window (a client id may hold a colon)", () => {
    const t = new DedupTable();
    t.restore("a:b:12", 5, { r: "x" }, 2);
    t.restore("a:b:12/2", 5, { r: 3 }, 2);
    t.restore("nocolon", 5, { r: 0 }, 2);
    t.restore("c:", 5, { r: 0 }, 2);
    expect(t.size).toBe(2);
    expect(t.lookup("a:b", 12)).toEqual({ found: true, answer: "x" });
    expect(t.lookup("a:b", "12/2")).toEqual({ found: true, answer: 3 });
    // What a snapshot or a partition copy writes is what was restored: the same ids.
    expect(t.forPart(2, 0).map((r) => r.id).sort()).toEqual(["a:b:12", "a:b:12/2"]);
    expect(DedupTable.parse("a:b:12")).toEqual({ client: "a:b", key: 12 });
    expect(DedupTable.parse("x:99999999999999999999")).toEqual({ client: "x", key: "99999999999999999999" });
  });

  it("does not keep a replicated answer that arrives under the client's floor", () => {
    const t = new DedupTable();
    t.restore("c:3", 0, { r: 0 }, 0);
    t.advance("c", 10, 0);
    t.restore("c:9", 0, { r: 1 }, 0);
    t.restore("c:10", 0, { r: 2 }, 0);
    expect(t.lookup("c", 9).found).toBe(false);
    expect(t.lookup("c", 10)).toEqual({ found: true, answer: 2 });
  });

  it("answers an error answer with its error", async () => {
    const t = new DedupTable();
    t.settle("c", 1, 0, { c: "KEY_ERROR", m: "no such key" }, 0);
    const seen = t.lookup("c", 1);
    expect(seen.found).toBe(true);
    await expect((seen as { answer: Promise<unknown> }).answer).rejects.toMatchObject({ name: "KeyError", message: "no such key" });
  });

  it("groups every partition's answers in one pass for a snapshot", () => {
    const t = filled(14, 0);
    const parts = t.byPart(0);
    expect([...parts.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(parts.get(0)?.map((r) => r.id)).toEqual(["c:0", "c:7"]);
    expect(t.byPart(1).size).toBe(0);
  });
});
