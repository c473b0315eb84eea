/**
 * A partition's change history across copies of it: a replica that applies its primary's
 * mutations, and a learner built from the primary's copy (`snapshotChunks`) and then the
 * live stream, hold the same history as the primary (same numbers, kinds, keys, values and
 * clear ids), so a watcher can resume at any of them.
 */
import { describe, expect, it } from "vitest";
import { PartitionStore, keyString } from "../../src/store/partition-store.js";
import { CLEAR, DELETE, EXPIRE, PUT, type HistoryLimits } from "../../src/store/change-history.js";
import { MemoryEngine, type Mutation, type ReplMutation } from "../../src/store/storage-engine.js";
import { encodeKey, type DictKey } from "../../src/protocol/keys.js";

const TTL = 1000;
const D = "dict-a";
const D2 = "dict-b";

const k = (key: DictKey): string => keyString(encodeKey(key));
const val = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "utf8"));

/** The time every store's history is recorded at (ages are not under test here). */
const clock = { t: 0 };

/** A store that records its mutations (to replicate them), as a primary's and its replicas' do. */
function newStore(history?: HistoryLimits): PartitionStore {
  return new PartitionStore({ part: 7, ttlMs: TTL, engine: new MemoryEngine(), record: true, now: () => clock.t, ...(history && { history }) });
}

/** One commit: the primary's pending mutations, applied by each copy in order. */
function ship(primary: PartitionStore, ...copies: PartitionStore[]): Mutation[] {
  const muts = primary.takePending();
  for (const c of copies) {
    c.applyReplicated(muts as ReplMutation[]);
    c.takePending(); // what the copy would store itself
  }
  return muts;
}

/** A store's history as it is now: every change after the floor, keys and values readable. */
function changes(s: PartitionStore) {
  const { floor, changes: cs } = s.history.snapshot();
  return {
    floor,
    head: s.history.head,
    changes: cs.map((c) => ({
      seq: c.seq,
      dict: c.dict,
      kind: c.kind,
      key: c.key && keyString(c.key),
      value: c.value && Buffer.from(c.value).toString("utf8"),
      cid: c.cid,
    })),
  };
}

/** Every kind of change a primary makes (16 of them), over two commits the replica applies. */
function everyKind(primary: PartitionStore, replica: PartitionStore): void {
  primary.put(D, k("a"), val("1"), false, 0); // 1
  primary.put(D, k("b"), val("2"), false, 0); // 2
  primary.update(D, [k("c"), k("d")], [val("3"), val("4")], 0); // 3, 4
  primary.write(D2, k("a"), val("x"), 0); // 5
  expect(primary.delete(D, k("a"), 0)).toBe(true); // 6
  expect(Buffer.from(primary.pop(D, k("b"), 0)!).toString()).toBe("2"); // 7
  expect(primary.delete(D, k("missing"), 0)).toBe(false); // no change
  primary.write(D, k("e"), val("5"), 500); // 8: lives to 1500
  ship(primary, replica);
  // The sweep: c, d and D2's a are due at 1000 (e is not).
  expect(primary.expireDue(TTL)).toBe(3); // 9, 10, 11
  // A read finding an entry past its deadline expires it too.
  expect(primary.get(D, k("e"), 1500)).toBeUndefined(); // 12
  primary.clear(D2, "cid-1"); // 13: nothing left there
  primary.clear("never-seen", "cid-2"); // 14: never had anything in this partition
  primary.put(D, k("f"), val("6"), false, 1600); // 15
  primary.clear(D, "cid-3"); // 16
  ship(primary, replica);
}

describe("a replica's history", () => {
  it("is the primary's: put, update, delete, pop, expiry (sweep and read) and clear", () => {
    const primary = newStore();
    const replica = newStore();
    everyKind(primary, replica);

    const mine = changes(primary);
    // Every change took its own number, in order, and nothing else did.
    expect(mine.changes.map((c) => c.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(primary.version).toBe(16);
    expect(mine.changes.map((c) => [c.dict, c.kind])).toEqual([
      [D, PUT],
      [D, PUT],
      [D, PUT],
      [D, PUT],
      [D2, PUT],
      [D, DELETE],
      [D, DELETE],
      [D, PUT],
      [expect.any(String), EXPIRE],
      [expect.any(String), EXPIRE],
      [expect.any(String), EXPIRE],
      [D, EXPIRE],
      [D2, CLEAR],
      ["never-seen", CLEAR],
      [D, PUT],
      [D, CLEAR],
    ]);
    expect(mine.changes.slice(0, 8).map((c) => [c.key, c.value])).toEqual([
      [k("a"), "1"],
      [k("b"), "2"],
      [k("c"), "3"],
      [k("d"), "4"],
      [k("a"), "x"],
      [k("a"), undefined],
      [k("b"), undefined],
      [k("e"), "5"],
    ]);
    expect(new Set(mine.changes.slice(8, 11).map((c) => `${c.dict}/${c.key}`))).toEqual(new Set([`${D}/${k("c")}`, `${D}/${k("d")}`, `${D2}/${k("a")}`]));
    expect(mine.changes[11]?.key).toBe(k("e"));
    expect(mine.changes.filter((c) => c.kind === CLEAR).map((c) => c.cid)).toEqual(["cid-1", "cid-2", "cid-3"]);

    // The replica holds exactly that: numbers, kinds, keys, values and clear ids.
    expect(changes(replica)).toEqual(mine);
    expect(replica.version).toBe(primary.version);
    // A replica shows what it applied (it has it); a primary only once its commits settle.
    expect(replica.history.acked).toBe(16);
    expect(primary.history.acked).toBe(0);
    const all = () => true;
    expect(primary.history.read(0, primary.version, all, 100, Infinity)?.changes).toEqual([]);
    primary.history.track(primary.history.head, undefined);
    expect(primary.history.acked).toBe(16);
    expect(replica.watchStart(D)).toBe(primary.watchStart(D));
    const plain = (s: PartitionStore) => s.history.read(0, s.version, all, 100, Infinity)?.changes.map(({ at: _at, ...c }) => c);
    expect(plain(replica)).toHaveLength(16);
    expect(plain(replica)).toEqual(plain(primary));
  });

  it("is sent deletes and clears with their own numbers, an expiry marked as one", () => {
    const primary = newStore();
    primary.put(D, k("a"), val("1"), false, 0);
    primary.put(D, k("b"), val("1"), false, 0);
    primary.delete(D, k("a"), 0);
    primary.expireDue(TTL);
    primary.clear("never-seen", "cid-x");
    const muts = primary.takePending();
    expect(muts.map((m) => [m.op, "ver" in m ? m.ver : undefined, "expired" in m ? m.expired : undefined])).toEqual([
      ["set", 1, undefined],
      ["set", 2, undefined],
      ["delete", 3, undefined],
      ["delete", 4, true],
      ["clear", 5, undefined],
    ]);
    // A clear of a dict with nothing here is recorded all the same: a new generation, its number and its id.
    expect(muts[4]).toEqual({ op: "clear", part: 7, dict: "never-seen", gen: 1, ver: 5, cid: "cid-x" });
  });

  it("gets no change from the same set again (a moved deadline), nor from a change delivered twice", () => {
    const primary = newStore();
    const replica = newStore();
    primary.put(D, k("a"), val("1"), false, 0);
    const first = ship(primary, replica);
    expect(changes(replica).changes).toHaveLength(1);

    // A read far enough along moves the deadline on disk: a set at the same version.
    expect(primary.get(D, k("a"), 500)).toBeDefined();
    const moved = ship(primary, replica);
    expect(moved).toEqual([expect.objectContaining({ op: "set", ver: 1, deadline: 500 + TTL })]);
    expect(changes(replica)).toEqual(changes(primary));
    expect(changes(replica).changes).toHaveLength(1);
    expect(replica.history.head).toBe(1);
    // It did move the replica's deadline (plus the slack a copy allows).
    expect(replica.peek(D, k("a"), 500 + TTL + 50)).toBeDefined();

    // The first set again, and a delete and a clear twice: nothing new either.
    replica.applyReplicated(first as ReplMutation[]);
    primary.delete(D, k("a"), 600);
    primary.clear(D, "c1");
    const later = primary.takePending() as ReplMutation[];
    replica.applyReplicated(later);
    replica.applyReplicated(later);
    expect(changes(replica)).toEqual(changes(primary));
    expect(changes(replica).changes.map((c) => [c.seq, c.kind])).toEqual([
      [1, PUT],
      [2, DELETE],
      [3, CLEAR],
    ]);

    // And the next real change is recorded.
    primary.put(D, k("a"), val("2"), false, 700);
    ship(primary, replica);
    expect(changes(replica)).toEqual(changes(primary));
    expect(replica.history.head).toBe(4);
  });
});

describe("a learner's history", () => {
  const LIMITS: HistoryLimits = { maxEvents: 6, maxBytes: 1 << 20, maxAgeMs: 3_600_000 };

  /** The primary's copy, as the learner receives it (several chunks, flattened). */
  const copyOf = (primary: PartitionStore, now: number): ReplMutation[] => {
    const chunks = [...primary.snapshotChunks(2, () => now)];
    // A reset and the history first, then the entries.
    expect(chunks[0]?.map((m) => m.op)).toEqual(["reset", "history"]);
    expect(chunks.length).toBeGreaterThan(2);
    return chunks.flat();
  };

  for (const start of ["an empty store", "a replica that fell behind"] as const) {
    it(`is the primary's, from its copy and the mutations after it (${start})`, () => {
      const primary = newStore(LIMITS);
      const replica = newStore(LIMITS);
      const learner = newStore(LIMITS);
      primary.put(D, k("old"), val("0"), false, 0);
      primary.clear(D2, "early");
      const firstBatch = ship(primary, replica);
      if (start === "a replica that fell behind") learner.applyReplicated(firstBatch as ReplMutation[]);
      for (let i = 0; i < 5; i++) primary.put(D, k(i), val(`v${i}`), false, 100);
      primary.update(D2, [k("x"), k("y")], [val("x"), val("y")], 100);
      primary.delete(D, k(0), 100);
      primary.pop(D, k(1), 100);
      primary.clear(D2, "cid-1");
      primary.put(D2, k("z"), val("z"), false, 100);
      primary.expireDue(TTL); // "old" (written at 0)
      ship(primary, replica);
      // The ring was trimmed: the copy must carry where it starts, not only what it holds.
      expect(primary.history.floor).toBeGreaterThan(0);

      learner.applyReplicated(copyOf(primary, 200));
      learner.takePending();
      expect(changes(learner)).toEqual(changes(primary));
      expect(learner.version).toBe(primary.version);
      expect(learner.history.floor).toBe(primary.history.floor);
      // All of it may be shown there (it came from the primary's commits).
      expect(learner.history.acked).toBe(primary.history.head);
      // The entries themselves came along, without adding changes.
      for (const key of [k(2), k(3), k(4), k("z")]) expect(learner.peek(key === k("z") ? D2 : D, key, 200)?.value).toBe(primary.peek(key === k("z") ? D2 : D, key, 200)?.value);
      expect(learner.peek(D, k("old"), 200)).toBeUndefined();

      // The live stream after the copy: every kind of change again.
      primary.put(D, k(2), val("again"), false, 300);
      primary.update(D, [k(5), k(6)], [val("5"), val("6")], 300);
      primary.delete(D, k(3), 300);
      primary.pop(D, k(4), 300);
      primary.clear(D2, "cid-2");
      primary.clear("never-seen", "cid-3");
      ship(primary, replica, learner);
      primary.expireDue(300 + TTL); // every entry left
      expect(primary.get(D, k(5), 300 + TTL)).toBeUndefined();
      primary.put(D, k("last"), val("L"), false, 300 + TTL);
      ship(primary, replica, learner);

      const mine = changes(primary);
      expect(mine.changes).toHaveLength(LIMITS.maxEvents);
      expect(mine.changes.at(-1)).toEqual({ seq: primary.version, dict: D, kind: PUT, key: k("last"), value: "L", cid: undefined });
      expect(changes(learner)).toEqual(mine);
      expect(changes(replica)).toEqual(mine);
      expect(learner.version).toBe(primary.version);
      expect(learner.history.acked).toBe(primary.version);
      expect(learner.watchStart(D)).toBe(primary.watchStart(D));
    });
  }

  it("with a history big enough to hold it all, a learner holds every change since the start", () => {
    const primary = newStore();
    const learner = newStore();
    primary.put(D, k("a"), val("1"), false, 0);
    primary.delete(D, k("a"), 0);
    primary.put(D, k("b"), val("2"), false, 0);
    primary.clear(D2, "c");
    primary.takePending();
    for (const chunk of primary.snapshotChunks(100, () => 0)) learner.applyReplicated(chunk);
    primary.put(D, k("c"), val("3"), false, 0);
    ship(primary, learner);
    const mine = changes(primary);
    expect(mine.floor).toBe(0);
    expect(mine.changes.map((c) => [c.seq, c.kind])).toEqual([
      [1, PUT],
      [2, DELETE],
      [3, PUT],
      [4, CLEAR],
      [5, PUT],
    ]);
    expect(changes(learner)).toEqual(mine);
  });
});
