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
    expect(t.lookup("c", 3)).toEqual({ found: false, below: false });
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
    expect(t.lookup("c", 1)).toEqual({ found: false, below: true });
    t.expire(DEDUP_WINDOW_MS + 1, false);
    expect(t.clientCount).toBe(1);
    // Moving the floor counts as activity; then the window goes once idle long enough.
    t.advance("c", 3, DEDUP_WINDOW_MS);
    t.expire(2 * DEDUP_WINDOW_MS + 1);
    expect(t.clientCount).toBe(0);
    expect(t.lookup("c", 1)).toEqual({ found: false, below: false });
  });
});

describe("DedupTable client windows", () => {
  it("refuses requests under a client's floor, and only that client's, and drops its answers under it", () => {
    const t = filled(10, 0);
    t.settle("d", 3, 0, { r: "d3" }, 0);
    expect(t.advance("c", 16, 1)).toBe(10);
    expect(t.lookup("c", 15)).toEqual({ found: false, below: true });
    expect(t.lookup("c", 16)).toEqual({ found: false, below: false });
    expect(t.lookup("d", 0)).toEqual({ found: false, below: false });
    // Dropped: the floor now stands for them, here and in every copy of their partitions.
    expect(t.size).toBe(1);
    expect(t.lookup("c", 5)).toEqual({ found: false, below: true });
    expect(t.forPart(0, 0).map((r) => r.id)).toEqual(["d:3"]);
    expect(t.advance("c", 16, 2)).toBe(0);
  });

  it("a copy of a partition carries the floors of the clients whose answers of it were dropped", () => {
    const t = new DedupTable();
    t.settle("c", 1, 0, { r: true }, 4);
    t.settle("c", 2, 0, { r: true }, 5);
    t.settle("c", 3, 0, { r: true }, 6);
    t.settle("d", 1, 0, { r: true }, 4);
    t.advance("c", 3, 7);
    // c's answers of partitions 4 and 5 went; 6's is still kept (and travels itself).
    expect(t.floorsFor(4)).toEqual([{ client: "c", below: 3, at: 7 }]);
    expect(t.floorsFor(5)).toEqual([{ client: "c", below: 3, at: 7 }]);
    expect(t.floorsFor(6)).toEqual([]);
    expect(t.forPart(6, 0).map((r) => r.id)).toEqual(["c:3"]);
    // d dropped nothing: a copy needs none of its floor.
    t.advance("d", 1, 7);
    expect(t.floorsFor(4).map((f) => f.client)).toEqual(["c"]);
  });

  it("a client that dropped answers in many partitions has its floor carried by every copy", () => {
    const t = new DedupTable();
    for (let p = 0; p < 100; p++) t.settle("wide", p + 1, 0, { r: true }, p);
    t.settle("narrow", 1, 0, { r: true }, 3);
    t.advance("wide", 101, 1);
    t.advance("narrow", 2, 1);
    // Past 64 partitions the window stops listing them: every copy carries the floor.
    expect(t.floorsFor(99).map((f) => f.client)).toEqual(["wide"]);
    expect(t.floorsFor(500).map((f) => f.client)).toEqual(["wide"]);
    expect(t.floorsFor(3).map((f) => f.client).sort()).toEqual(["narrow", "wide"]);
  });

  it("a learner refuses what the floors it adopted cover, passes them on, and keeps them for the window", () => {
    const learner = new DedupTable();
    learner.adoptFloors(4, [{ client: "c", below: 3, at: 7 }], 8);
    expect(learner.lookup("c", 2)).toEqual({ found: false, below: true });
    expect(learner.lookup("c", 3)).toEqual({ found: false, below: false });
    expect(learner.size).toBe(0);
    // Its own copy of the partition carries them on (a chain of moves).
    expect(learner.floorsFor(4)).toEqual([{ client: "c", below: 3, at: 7 }]);
    // Never down; a later copy's higher floor wins.
    learner.adoptFloors(4, [{ client: "c", below: 2, at: 9 }], 9);
    expect(learner.lookup("c", 2)).toEqual({ found: false, below: true });
    learner.adoptFloors(5, [{ client: "c", below: 5, at: 9 }], 9);
    expect(learner.floorsFor(4)).toEqual([{ client: "c", below: 5, at: 9 }]);
    // Kept for the window after the client was last active (at the sender), then gone.
    learner.expire(9 + DEDUP_WINDOW_MS);
    expect(learner.clientCount).toBe(1);
    learner.expire(10 + DEDUP_WINDOW_MS);
    expect(learner.clientCount).toBe(0);
    expect(learner.lookup("c", 2)).toEqual({ found: false, below: false });
  });

  it("adopting floors past the client bound keeps the table bounded", () => {
    const t = new DedupTable();
    const floors = Array.from({ length: 200_001 }, (_, i) => ({ client: `c${i}`, below: 1, at: 0 }));
    t.adoptFloors(1, floors, 0);
    expect(t.clientCount).toBeLessThanOrEqual(200_000);
  });

  it("gives a client with no answers here no window for its floor", () => {
    const t = new DedupTable();
    for (let i = 0; i < 1_000; i++) t.advance(`stranger-${i}`, 10, 0);
    expect(t.clientCount).toBe(0);
    expect(t.lookup("stranger-1", 1)).toEqual({ found: false, below: false });
  });

  it("never moves a floor down", () => {
    const t = filled(4, 0);
    t.advance("c", 9, 0);
    t.advance("c", 1, 0);
    expect(t.lookup("c", 8)).toEqual({ found: false, below: true });
  });

  it("a request running under the floor settles as usual (its answer is not dropped)", () => {
    const t = new DedupTable();
    const p = new Promise(() => {});
    t.running("c", 1, 0, p, 0);
    t.settle("c", 2, 0, { r: "two" }, 0);
    t.advance("c", 3, 0);
    expect(t.lookup("c", 1)).toEqual({ found: true, answer: p });
    t.settle("c", 1, 0, { r: "one" }, 0);
    expect(t.lookup("c", 1)).toEqual({ found: true, answer: "one" });
    expect(t.size).toBe(1);
  });

  it("keeps the answers of multi-partition ops by their own key, apart from request ids", () => {
    const t = new DedupTable();
    t.settle("c", "7/3", 0, { r: 5 }, 3);
    t.settle("c", 7, 0, { r: true }, 3);
    expect(t.lookup("c", "7/3")).toEqual({ found: true, answer: 5 });
    expect(t.lookup("c", 7)).toEqual({ found: true, answer: true });
    expect(t.forPart(3, 0).map((r) => r.id).sort()).toEqual(["c:7", "c:7/3"]);
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

  it("restores an answer that came with its id's parts (a put's answer written inside its set) without taking the id apart", () => {
    const t = new DedupTable();
    t.restore("a:b:12", 5, { r: true }, 2, "a:b", 12);
    expect(t.lookup("a:b", 12)).toEqual({ found: true, answer: true });
    // The parts are what is used: with them, even an id that does not parse is restored.
    t.restore("unparsable", 6, { r: true }, 2, "c", 3);
    expect(t.lookup("c", 3)).toEqual({ found: true, answer: true });
    expect(t.forPart(2, 0).map((r) => r.id)).toEqual(["a:b:12", "c:3"]);
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
