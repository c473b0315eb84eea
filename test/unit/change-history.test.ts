/**
 * A partition's change history for watchers (src/store/change-history.ts): what is shown
 * (`acked`, and commits settling in order), the bounds it is trimmed by (count, bytes, age:
 * with a fake clock) and where it then starts (`floor`), and how a learner takes it over
 * (`snapshot` / `adopt`).
 */
import { describe, expect, it } from "vitest";
import { Deferred } from "../../src/util/deferred.js";
import { ChangeHistory, CLEAR, DELETE, EXPIRE, PUT, type Change, type HistoryLimits } from "../../src/store/change-history.js";
import type { ReplChange } from "../../src/encoding/mutation.js";

const ALL = (): boolean => true;
const NO_LIMIT = Number.POSITIVE_INFINITY;
const WIDE: HistoryLimits = { maxEvents: 1_000, maxBytes: 1 << 30, maxAgeMs: 3_600_000 };

/** A history on a fake clock: `clock.t` is the time its `now` answers. */
function history(limits: Partial<HistoryLimits> = {}) {
  const clock = { t: 1_000_000 };
  const h = new ChangeHistory({ ...WIDE, ...limits }, () => clock.t);
  return { h, clock };
}

/** Put `n` changes with seqs `from`, `from + 1`, … (key `k<seq>`, value `v<seq>`) in dict "d". */
function puts(h: ChangeHistory, from: number, n: number): void {
  for (let seq = from; seq < from + n; seq++) h.append(seq, "d", PUT, `k${seq}`, `v${seq}`);
}

/** Everything shown after `after` (no filter, no size limits). */
function readAll(h: ChangeHistory, after: number, known = h.head) {
  return h.read(after, known, ALL, NO_LIMIT, NO_LIMIT);
}

const seqs = (cs: readonly Change[] | undefined): number[] | undefined => cs?.map((c) => c.seq);

/** A change without the local time it was recorded at. */
const plain = ({ at: _at, ...rest }: Change) => rest;

/** Let settled promises' callbacks run (no timers involved). */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

const deferred = () => new Deferred();

describe("ChangeHistory: append and read", () => {
  it("keeps each change's fields, in order, and reads them back after a position", () => {
    const { h } = history();
    h.append(1, "a", PUT, "k1", "v1");
    h.append(2, "b", PUT, "k2", "v2");
    h.append(3, "a", DELETE, "k1");
    h.append(4, "a", EXPIRE, "k9");
    h.append(5, "b", CLEAR, undefined, undefined, "clear-1");
    h.ack(5);
    expect(h.size).toBe(5);
    expect(h.head).toBe(5);
    expect(h.floor).toBe(0);
    const r = readAll(h, 0);
    expect(r?.changes.map(plain)).toEqual([
      { seq: 1, dict: "a", kind: PUT, k: "k1", value: "v1", cid: undefined },
      { seq: 2, dict: "b", kind: PUT, k: "k2", value: "v2", cid: undefined },
      { seq: 3, dict: "a", kind: DELETE, k: "k1", value: undefined, cid: undefined },
      { seq: 4, dict: "a", kind: EXPIRE, k: "k9", value: undefined, cid: undefined },
      { seq: 5, dict: "b", kind: CLEAR, k: undefined, value: undefined, cid: "clear-1" },
    ]);
    expect(r?.pos).toBe(5);
    // After a position: only what follows it.
    expect(seqs(readAll(h, 3)?.changes)).toEqual([4, 5]);
    expect(readAll(h, 5)).toEqual({ changes: [], pos: 5 });
  });

  it("a filter picks the changes; the position still passes the ones it skipped", () => {
    const { h } = history();
    for (let seq = 1; seq <= 6; seq++) h.append(seq, seq % 2 === 1 ? "a" : "b", PUT, `k${seq}`, "v");
    h.ack(6);
    const onlyA = (c: Change) => c.dict === "a";
    const r = h.read(0, 6, onlyA, NO_LIMIT, NO_LIMIT);
    expect(seqs(r?.changes)).toEqual([1, 3, 5]);
    // Every change up to the last shown one was looked at, not just the matching ones.
    expect(r?.pos).toBe(6);
    const none = h.read(0, 6, () => false, NO_LIMIT, NO_LIMIT);
    expect(none).toEqual({ changes: [], pos: 6 });
  });

  it("stops at maxEvents matching changes, with the position right before the first one left out", () => {
    const { h } = history();
    for (let seq = 1; seq <= 6; seq++) h.append(seq, seq % 2 === 1 ? "a" : "b", PUT, `k${seq}`, "v");
    h.ack(6);
    const onlyA = (c: Change) => c.dict === "a";
    const first = h.read(0, 6, onlyA, 1, NO_LIMIT);
    expect(seqs(first?.changes)).toEqual([1]);
    // 2 (another dict) was examined too; 3 is where the next read starts.
    expect(first?.pos).toBe(2);
    const second = h.read(first!.pos, 6, onlyA, 1, NO_LIMIT);
    expect(seqs(second?.changes)).toEqual([3]);
    expect(second?.pos).toBe(4);
    const third = h.read(second!.pos, 6, onlyA, 1, NO_LIMIT);
    expect(seqs(third?.changes)).toEqual([5]);
    expect(third?.pos).toBe(6);
  });

  it("stops at about maxBytes, but always returns at least one change", () => {
    const { h } = history();
    const big = "x".repeat(1_000);
    h.append(1, "d", PUT, "a", big);
    h.append(2, "d", PUT, "b", big);
    h.append(3, "d", PUT, "c", big);
    h.ack(3);
    // One change is already over the limit: it comes alone.
    const r = h.read(0, 3, ALL, NO_LIMIT, 10);
    expect(seqs(r?.changes)).toEqual([1]);
    expect(r?.pos).toBe(1);
    // Room for two of them, not three.
    const two = h.read(0, 3, ALL, NO_LIMIT, 2_200);
    expect(seqs(two?.changes)).toEqual([1, 2]);
    expect(two?.pos).toBe(2);
  });
});

describe("ChangeHistory: acked", () => {
  it("a read never returns a change above acked, and its position stops at acked", () => {
    const { h } = history();
    puts(h, 1, 5);
    expect(h.acked).toBe(0);
    expect(readAll(h, 0)).toEqual({ changes: [], pos: 0 });
    h.ack(3);
    const r = readAll(h, 0);
    expect(seqs(r?.changes)).toEqual([1, 2, 3]);
    expect(r?.pos).toBe(3);
    // A position past acked (a change known here but not shown yet) is kept, nothing is shown.
    expect(readAll(h, 4)).toEqual({ changes: [], pos: 4 });
    h.ack(5);
    expect(seqs(readAll(h, 3)?.changes)).toEqual([4, 5]);
  });

  it("ack only moves forward and tells onAcked when it moves", () => {
    const { h } = history();
    puts(h, 1, 3);
    const told: number[] = [];
    h.onAcked = () => told.push(h.acked);
    h.ack(2);
    h.ack(1);
    h.ack(2);
    h.ack(3);
    expect(h.acked).toBe(3);
    expect(told).toEqual([2, 3]);
  });

  it("track with nothing to wait for and nothing in flight acks at once", () => {
    const { h } = history();
    puts(h, 1, 2);
    h.track(2, undefined);
    expect(h.acked).toBe(2);
  });

  it("track acks in commit order: a later commit settling first waits for the earlier one", async () => {
    const { h } = history();
    const c1 = deferred();
    const c2 = deferred();
    puts(h, 1, 2);
    h.track(2, c1.promise);
    puts(h, 3, 2);
    h.track(4, c2.promise);
    puts(h, 5, 1);
    // Nothing to wait for, but behind commits still in flight.
    h.track(5, undefined);
    expect(h.acked).toBe(0);

    c2.resolve();
    await flush();
    expect(h.acked).toBe(0);
    expect(readAll(h, 0)?.changes).toEqual([]);

    c1.resolve();
    await flush();
    // Both settled, and the one that had nothing to wait for: everything up to 5.
    expect(h.acked).toBe(5);
    expect(seqs(readAll(h, 0)?.changes)).toEqual([1, 2, 3, 4, 5]);
  });

  it("reads behind a commit in flight (nothing new to show) wait for it, and a later change still counts", async () => {
    const { h } = history();
    const c1 = deferred();
    puts(h, 1, 2);
    h.track(2, c1.promise);
    // Reads answered meanwhile track the same head: nothing new.
    for (let i = 0; i < 1_000; i++) h.track(2, undefined);
    expect(h.acked).toBe(0);
    // A change recorded without a commit of its own (a memory engine) is behind it too.
    puts(h, 3, 1);
    h.track(3, undefined);
    expect(h.acked).toBe(0);
    c1.resolve();
    await flush();
    expect(h.acked).toBe(3);
  });

  it("commits that share a promise (one log round) are acked together, up to the last, behind an earlier commit", async () => {
    const { h } = history();
    const c1 = deferred();
    const round = deferred();
    puts(h, 1, 4);
    h.track(1, c1.promise);
    h.track(2, round.promise);
    h.track(3, round.promise);
    h.track(4, round.promise);
    round.resolve();
    await flush();
    // Behind the first commit still.
    expect(h.acked).toBe(0);
    c1.resolve();
    await flush();
    expect(h.acked).toBe(4);
    // A later commit of another round is a mark of its own again.
    const next = deferred();
    puts(h, 5, 1);
    h.track(5, next.promise);
    await flush();
    expect(h.acked).toBe(4);
    next.resolve();
    await flush();
    expect(h.acked).toBe(5);
  });

  it("acks up to the earliest commit still in flight", async () => {
    const { h } = history();
    const c1 = deferred();
    const c2 = deferred();
    const c3 = deferred();
    puts(h, 1, 3);
    h.track(1, c1.promise);
    h.track(2, c2.promise);
    h.track(3, c3.promise);
    c1.resolve();
    c3.resolve();
    await flush();
    expect(h.acked).toBe(1);
    c2.resolve();
    await flush();
    expect(h.acked).toBe(3);
  });

  it("a rejected commit settles too (its changes are in memory, where reads see them)", async () => {
    const { h } = history();
    const c1 = deferred();
    const c2 = deferred();
    puts(h, 1, 2);
    h.track(1, c1.promise);
    h.track(2, c2.promise);
    c2.resolve();
    c1.reject(new Error("replica gone"));
    await flush();
    expect(h.acked).toBe(2);
  });
});

describe("ChangeHistory: bounds and floor", () => {
  it("maxEvents keeps the newest changes; the floor is the last one dropped", () => {
    const { h } = history({ maxEvents: 3 });
    puts(h, 1, 5);
    h.ack(5);
    expect(h.size).toBe(3);
    expect(h.floor).toBe(2);
    expect(h.head).toBe(5);
    expect(seqs(readAll(h, 2)?.changes)).toEqual([3, 4, 5]);
    // Before the floor: cannot be resumed.
    expect(readAll(h, 1)).toBeUndefined();
    expect(readAll(h, 0)).toBeUndefined();
  });

  it("maxBytes counts keys, values and cids (and a fixed overhead per change)", () => {
    // Each change here: 64 + 2 + 8 = 74 bytes; three of them are 222.
    const { h } = history({ maxBytes: 200 });
    const value = "12345678";
    h.append(1, "d", PUT, "k1", value);
    h.append(2, "d", PUT, "k2", value);
    expect(h.byteSize).toBe(148);
    expect(h.size).toBe(2);
    h.append(3, "d", PUT, "k3", value);
    expect(h.size).toBe(2);
    expect(h.byteSize).toBe(148);
    expect(h.floor).toBe(1);
    // A clear's cid counts too: 64 + 36.
    h.append(4, "d", CLEAR, undefined, undefined, "c".repeat(36));
    expect(h.byteSize).toBe(74 + 100);
    expect(h.floor).toBe(2);
    h.ack(4);
    expect(seqs(readAll(h, 2)?.changes)).toEqual([3, 4]);
    expect(readAll(h, 1)).toBeUndefined();
  });

  it("the newest change stays, even over every bound", () => {
    const { h, clock } = history({ maxBytes: 10, maxAgeMs: 100 });
    h.append(1, "d", PUT, "k", "x".repeat(1_000));
    h.append(2, "d", PUT, "k", "x".repeat(1_000));
    expect(h.size).toBe(1);
    expect(h.floor).toBe(1);
    clock.t += 10_000;
    h.ack(2);
    expect(seqs(readAll(h, 1)?.changes)).toEqual([2]);
    expect(h.size).toBe(1);
  });

  it("maxAgeMs drops changes older than the age as time goes on (trimmed on read)", () => {
    const { h, clock } = history({ maxAgeMs: 1_000 });
    const t0 = clock.t;
    h.append(1, "d", PUT, "k1", "v");
    clock.t = t0 + 500;
    h.append(2, "d", PUT, "k2", "v");
    clock.t = t0 + 600;
    h.append(3, "d", PUT, "k3", "v");
    h.ack(3);
    // Exactly the age: still kept.
    clock.t = t0 + 1_000;
    expect(seqs(readAll(h, 0)?.changes)).toEqual([1, 2, 3]);
    expect(h.floor).toBe(0);
    // Past it: change 1 goes, on the next read.
    clock.t = t0 + 1_001;
    expect(readAll(h, 0)).toBeUndefined();
    expect(h.floor).toBe(1);
    expect(seqs(readAll(h, 1)?.changes)).toEqual([2, 3]);
    // Past 2's and 3's: 2 goes, 3 (the newest) stays.
    clock.t = t0 + 10_000;
    expect(seqs(readAll(h, 2)?.changes)).toEqual([3]);
    expect(h.floor).toBe(2);
    expect(h.size).toBe(1);
    expect(readAll(h, 1)).toBeUndefined();
  });

  it("a position after every change known and shown cannot be resumed", () => {
    const { h } = history();
    puts(h, 1, 3);
    h.ack(2);
    // `known` is the partition's sequence: positions up to it (or up to acked) are fine.
    expect(readAll(h, 3, 3)).toEqual({ changes: [], pos: 3 });
    expect(readAll(h, 4, 3)).toBeUndefined();
    expect(readAll(h, 100, 3)).toBeUndefined();
    // A sequence ahead of the history (e.g. changes not recorded yet) still counts.
    expect(readAll(h, 4, 4)).toEqual({ changes: [], pos: 4 });
    // acked above known (a replica that was told more than it numbered itself).
    h.ack(3);
    expect(readAll(h, 3, 0)).toEqual({ changes: [], pos: 3 });
    expect(readAll(h, 4, 0)).toBeUndefined();
  });

  it("reads across many trimmed changes stay correct (the ring compacts)", () => {
    const { h } = history({ maxEvents: 10 });
    for (let seq = 1; seq <= 5_000; seq++) {
      h.append(seq, "d", PUT, `k${seq}`, "v");
      h.ack(seq);
      if (seq % 997 === 0) expect(seqs(readAll(h, seq - 3)?.changes)).toEqual([seq - 2, seq - 1, seq]);
    }
    expect(h.size).toBe(10);
    expect(h.floor).toBe(4_990);
    expect(seqs(readAll(h, 4_990)?.changes)).toEqual([4_991, 4_992, 4_993, 4_994, 4_995, 4_996, 4_997, 4_998, 4_999, 5_000]);
    expect(readAll(h, 4_989)).toBeUndefined();
  });
});

describe("ChangeHistory: restart", () => {
  it("starts over empty at a sequence: nothing before it can be resumed", () => {
    const { h } = history();
    puts(h, 1, 3);
    h.ack(3);
    h.restart(10);
    expect(h.size).toBe(0);
    expect(h.byteSize).toBe(0);
    expect(h.floor).toBe(10);
    expect(h.head).toBe(10);
    expect(h.acked).toBe(10);
    expect(readAll(h, 3)).toBeUndefined();
    expect(readAll(h, 9)).toBeUndefined();
    expect(readAll(h, 10)).toEqual({ changes: [], pos: 10 });
    h.append(11, "d", PUT, "k", "v");
    h.ack(11);
    expect(seqs(readAll(h, 10)?.changes)).toEqual([11]);
  });

  it("forgets the commits in flight: one settling afterwards acks nothing tracked since", async () => {
    const { h } = history();
    const before = deferred();
    puts(h, 1, 2);
    h.track(2, before.promise);
    h.restart(5);
    expect(h.acked).toBe(5);
    const after = deferred();
    h.append(6, "d", PUT, "k", "v");
    h.track(6, after.promise);
    before.resolve();
    await flush();
    expect(h.acked).toBe(5);
    after.resolve();
    await flush();
    expect(h.acked).toBe(6);
  });
});

describe("ChangeHistory: snapshot and adopt", () => {
  /** A history with every kind of change, some of it trimmed away already. */
  function source() {
    const { h, clock } = history({ maxEvents: 6 });
    h.append(1, "a", PUT, "k1", "v1");
    h.append(2, "a", PUT, "k2", "v2");
    // Keys and values are latin1 strings of arbitrary bytes.
    h.append(3, "b", PUT, "\u0000\u00ff\u0080", "\u00e9\u0001");
    h.append(5, "a", DELETE, "k1");
    h.append(6, "a", EXPIRE, "k2");
    h.append(8, "b", CLEAR, undefined, undefined, "cid-8");
    h.append(9, "a", PUT, "k1", "");
    h.append(10, "a", CLEAR, undefined, undefined, "cid-10");
    return { h, clock };
  }

  it("a snapshot is the ring after its floor, as a learner's copy carries it", () => {
    const { h } = source();
    const snap = h.snapshot();
    expect(snap.floor).toBe(2);
    // Bytes as plain arrays (whatever kind of Uint8Array the snapshot uses).
    const bytes = (u: Uint8Array | undefined) => u && Array.from(u);
    expect(snap.changes.map((c) => ({ ...c, ...("key" in c && { key: bytes(c.key) }), ...("value" in c && { value: bytes(c.value) }) }))).toEqual([
      { seq: 3, dict: "b", kind: PUT, key: [0, 0xff, 0x80], value: [0xe9, 1] },
      { seq: 5, dict: "a", kind: DELETE, key: [...Buffer.from("k1")] },
      { seq: 6, dict: "a", kind: EXPIRE, key: [...Buffer.from("k2")] },
      { seq: 8, dict: "b", kind: CLEAR, cid: "cid-8" },
      { seq: 9, dict: "a", kind: PUT, key: [...Buffer.from("k1")], value: [] },
      { seq: 10, dict: "a", kind: CLEAR, cid: "cid-10" },
    ]);
  });

  it("adopting a snapshot gives the same ring, all of it shown", () => {
    const { h: primary } = source();
    primary.ack(primary.head);
    const snap = primary.snapshot();
    const { h: learner } = history();
    learner.adopt(snap.floor, snap.changes);
    expect(learner.snapshot()).toEqual(snap);
    expect(learner.floor).toBe(2);
    expect(learner.head).toBe(10);
    expect(learner.acked).toBe(10);
    expect(learner.size).toBe(primary.size);
    expect(learner.byteSize).toBe(primary.byteSize);
    expect(readAll(learner, 2)?.changes.map(plain)).toEqual(readAll(primary, 2)?.changes.map(plain));
    expect(readAll(learner, 1)).toBeUndefined();
    // Later changes go on from there.
    learner.append(11, "a", PUT, "k3", "v3");
    learner.ack(11);
    expect(seqs(readAll(learner, 9)?.changes)).toEqual([10, 11]);
  });

  it("an adopted ring is trimmed by the learner's own bounds", () => {
    const { h: primary } = source();
    const snap = primary.snapshot();
    const { h: learner } = history({ maxEvents: 2 });
    learner.adopt(snap.floor, snap.changes);
    expect(learner.size).toBe(2);
    expect(learner.floor).toBe(8);
    expect(seqs(readAll(learner, 8)?.changes)).toEqual([9, 10]);
  });

  it("an out-of-order change ends the adopted ring there", () => {
    const { h } = history();
    const change = (seq: number): ReplChange => ({ seq, dict: "d", kind: PUT, key: Uint8Array.of(seq), value: Uint8Array.of(1) });
    h.adopt(2, [change(3), change(5), change(4), change(6)]);
    expect(h.floor).toBe(2);
    expect(h.head).toBe(5);
    expect(h.acked).toBe(5);
    expect(seqs(readAll(h, 2)?.changes)).toEqual([3, 5]);
    // So does a change at or before the floor, a repeated one, or one of an unknown kind.
    const { h: atFloor } = history();
    atFloor.adopt(3, [change(3), change(4)]);
    expect(atFloor.size).toBe(0);
    expect(atFloor.head).toBe(3);
    const { h: repeated } = history();
    repeated.adopt(0, [change(1), change(2), change(2), change(3)]);
    expect(seqs(readAll(repeated, 0)?.changes)).toEqual([1, 2]);
    const { h: unknownKind } = history();
    unknownKind.adopt(0, [change(1), { seq: 2, dict: "d", kind: 9 }, change(3)]);
    expect(seqs(readAll(unknownKind, 0)?.changes)).toEqual([1]);
  });

  it("a ring that ends before what the learner already knows is dropped: it starts at its own head", () => {
    const { h } = history();
    // The reset of a copy started the history at the primary's sequence (12).
    h.restart(12);
    const change = (seq: number): ReplChange => ({ seq, dict: "d", kind: DELETE, key: Uint8Array.of(seq) });
    h.adopt(2, [change(3), change(4)]);
    // 5..12 are unknown: no position before 12 can be resumed correctly.
    expect(h.size).toBe(0);
    expect(h.floor).toBe(12);
    expect(h.head).toBe(12);
    expect(h.acked).toBe(12);
    expect(readAll(h, 4)).toBeUndefined();
    expect(readAll(h, 12)).toEqual({ changes: [], pos: 12 });
    // The same when an out-of-order change cut it short of the head.
    const { h: cut } = history();
    cut.restart(6);
    cut.adopt(2, [change(3), change(5), change(4), change(6)]);
    expect(cut.size).toBe(0);
    expect(cut.floor).toBe(6);
  });

  it("adopting replaces whatever the history held before", () => {
    const { h } = history();
    puts(h, 1, 5);
    h.ack(5);
    h.restart(5);
    h.adopt(1, [
      { seq: 2, dict: "x", kind: PUT, key: Uint8Array.of(7), value: Uint8Array.of(8) },
      { seq: 5, dict: "x", kind: CLEAR, cid: "c" },
    ]);
    expect(h.floor).toBe(1);
    expect(readAll(h, 1)?.changes.map(plain)).toEqual([
      { seq: 2, dict: "x", kind: PUT, k: "\u0007", value: "\u0008", cid: undefined },
      { seq: 5, dict: "x", kind: CLEAR, k: undefined, value: undefined, cid: "c" },
    ]);
  });
});

describe("ChangeHistory: maxEvents 0", () => {
  it("keeps no ring: nothing is shown, the floor follows the sequence", () => {
    const { h } = history({ maxEvents: 0 });
    puts(h, 1, 3);
    h.append(4, "d", CLEAR, undefined, undefined, "c");
    expect(h.size).toBe(0);
    expect(h.byteSize).toBe(0);
    expect(h.floor).toBe(4);
    expect(h.head).toBe(4);
    h.ack(4);
    // Only the current position can be "resumed", and it has nothing to show.
    expect(readAll(h, 3)).toBeUndefined();
    expect(readAll(h, 0)).toBeUndefined();
    expect(readAll(h, 4)).toEqual({ changes: [], pos: 4 });
    expect(h.snapshot()).toEqual({ floor: 4, changes: [] });
    h.append(5, "d", PUT, "k", "v");
    expect(readAll(h, 4)).toBeUndefined();
    expect(h.floor).toBe(5);
  });

  // A learner with no history of its own keeps none of its primary's (a config change rolling out).
  it("a learner with maxEvents 0 keeps none of an adopted ring either", () => {
    const { h } = history({ maxEvents: 0 });
    h.restart(3);
    h.adopt(1, [
      { seq: 2, dict: "d", kind: PUT, key: Uint8Array.of(1), value: Uint8Array.of(1) },
      { seq: 3, dict: "d", kind: DELETE, key: Uint8Array.of(1) },
    ]);
    expect(h.size).toBe(0);
    expect(h.floor).toBe(3);
    expect(h.head).toBe(3);
    // And what follows moves its head, as on a primary with the same bounds.
    h.append(4, "d", PUT, "k", "v");
    expect(h.head).toBe(4);
    expect(h.floor).toBe(4);
  });
});

describe("ChangeHistory: the ring's storage", () => {
  it("wraps around its arrays and grows, keeping order, the floor and clears' ids, over many bounds' worth of changes", () => {
    const { h } = history({ maxEvents: 100 });
    h.ack(Number.MAX_SAFE_INTEGER);
    let seq = 0;
    for (let round = 0; round < 37; round++) {
      puts(h, seq + 1, 9);
      seq += 9;
      h.append(++seq, "d", CLEAR, undefined, undefined, `c${seq}`);
      h.append(++seq, "d", DELETE, `k${seq}`);
    }
    expect(h.size).toBe(100);
    expect(h.floor).toBe(seq - 100);
    const all = readAll(h, h.floor)?.changes ?? [];
    expect(seqs(all)).toEqual(Array.from({ length: 100 }, (_, i) => seq - 99 + i));
    for (const c of all) {
      if (c.kind === CLEAR) expect(c.cid).toBe(`c${c.seq}`);
      else expect(c.cid).toBeUndefined();
      if (c.kind === PUT) expect(c.value).toBe(`v${c.seq}`);
    }
    // What the bytes bound counts follows what is in the ring, clears' ids included.
    const counted = all.reduce((n, c) => n + 64 + (c.k?.length ?? 0) + (c.value?.length ?? 0) + (c.cid?.length ?? 0), 0);
    expect(h.byteSize).toBe(counted);
  });

  it("adopts a ring longer than its own bound (another node's config), then trims it to its bound", () => {
    const { h } = history({ maxEvents: 10 });
    const changes: ReplChange[] = Array.from({ length: 50 }, (_, i) => ({ seq: i + 1, dict: "d", kind: PUT, key: Uint8Array.of(i), value: Uint8Array.of(1) }));
    h.adopt(0, changes);
    expect(h.size).toBe(10);
    expect(h.floor).toBe(40);
    expect(seqs(readAll(h, 40)?.changes)).toEqual([41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
  });

  it("hands a filter one reused view, and the reader changes of its own", () => {
    const { h } = history();
    h.ack(Number.MAX_SAFE_INTEGER);
    puts(h, 1, 3);
    const seen: Change[] = [];
    const r = h.read(0, h.head, (c) => (seen.push(c), true), NO_LIMIT, NO_LIMIT);
    expect(new Set(seen).size).toBe(1);
    expect(seqs(r?.changes)).toEqual([1, 2, 3]);
    expect(new Set(r?.changes).size).toBe(3);
  });
});
