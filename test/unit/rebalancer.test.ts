import { describe, expect, it } from "vitest";
import type { Handoff } from "../../src/hashing/partition-table.js";
import { balancedPlacement } from "../../src/hashing/balanced-placement.js";
import { MAX_CONCURRENT_MOVES, Ownership } from "../../src/coordinator/ownership.js";
import { flipPrimary, isMoving, rebalance, type Placement, type RebalanceInput } from "../../src/coordinator/rebalancer.js";
import { mulberry32 } from "../helpers/prng.js";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

type Pred = (id: string) => boolean;

const S1 = "shard-1";
const S2 = "shard-2";
const S3 = "shard-3";
const S4 = "shard-4";
const THREE = [S1, S2, S3];
const FOUR = [S1, S2, S3, S4];
const P = 64;

const everyone: Pred = () => true;
const allBut =
  (...ids: string[]): Pred =>
  (id) =>
    !ids.includes(id);

function at<T>(arr: readonly T[], i: number): T {
  const v = arr[i];
  if (v === undefined) throw new Error(`no element at index ${i}`);
  return v;
}

/** Where the ownership wants every partition now (it starts from the owners of its last change of members). */
function desiredNow(own: Ownership): string[][] {
  return Array.from({ length: own.partitions }, (_, p) => [...own.desiredOf(p)]);
}

function primaryOf(own: Ownership, p: number): string {
  return at(at(own.owners, p), 0);
}

interface Snapshot {
  owners: string[][];
  pepochs: number[];
  learners: string[][];
  handoffs: (Handoff | null)[];
}

function snapshot(own: Ownership): Snapshot {
  return structuredClone({ owners: own.owners, pepochs: own.pepochs, learners: own.learners, handoffs: own.handoffs });
}

function movingCount(own: Ownership): number {
  let n = 0;
  for (let p = 0; p < own.partitions; p++) if (isMoving(own, p)) n++;
  return n;
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

type DriveEvent = "report" | "rebalance";

interface DriveOptions {
  alive?: Pred;
  active?: Pred;
  /** The last epoch used; the driver's first rebalance uses `epoch + 1`. */
  epoch?: number;
  maxIterations?: number;
  /** Called after every change of state the driver causes. */
  observe?: (own: Ownership, event: DriveEvent) => void;
  /** Whether a given report is delivered in this round (default: all of them). */
  deliver?: (kind: "caughtUp" | "handedOff", part: number) => boolean;
  /** Deliver hand-off reports before caught-up reports within a round. */
  handoffsFirst?: boolean;
}

interface DriveResult {
  iterations: number;
  epoch: number;
  caughtUp: number;
  handedOff: number;
  rebalances: number;
}

/**
 * Plays the shards' part: every alive primary reports its learners caught up and its
 * hand-offs done, then the coordinator runs a rebalancing step under a fresh epoch. Stops
 * when a full round changes nothing.
 */
function drive(own: Ownership, opts: DriveOptions = {}): DriveResult {
  const alive = opts.alive ?? everyone;
  const active = opts.active ?? everyone;
  const max = opts.maxIterations ?? 500;
  let epoch = opts.epoch ?? 1;
  const res: DriveResult = { iterations: 0, epoch, caughtUp: 0, handedOff: 0, rebalances: 0 };

  const learnersOf = (p: number, withheld: { v: boolean }): boolean => {
    let acted = false;
    for (const l of [...at(own.learners, p)]) {
      const primary = primaryOf(own, p);
      if (!alive(primary) || !alive(l)) continue;
      if (opts.deliver && !opts.deliver("caughtUp", p)) {
        withheld.v = true;
        continue;
      }
      expect(own.caughtUp(p, at(own.pepochs, p), primary, l)).toBe(true);
      res.caughtUp++;
      acted = true;
      opts.observe?.(own, "report");
    }
    return acted;
  };
  const handoffOf = (p: number, withheld: { v: boolean }): boolean => {
    const h = own.handoffs[p];
    if (!h) return false;
    const primary = primaryOf(own, p);
    if (!alive(primary) || !alive(h.to)) return false;
    if (opts.deliver && !opts.deliver("handedOff", p)) {
      withheld.v = true;
      return false;
    }
    // The report can be refused if a learner report earlier this round flipped nothing:
    // it only depends on the current primary, pepoch and hand-off, all read just now.
    expect(own.handedOff(p, at(own.pepochs, p), primary, h.to, h.id)).toBe(true);
    res.handedOff++;
    opts.observe?.(own, "report");
    return true;
  };

  for (let i = 0; i < max; i++) {
    res.iterations = i + 1;
    let acted = false;
    const withheld = { v: false };
    for (let p = 0; p < own.partitions; p++) {
      if (opts.handoffsFirst) {
        if (handoffOf(p, withheld)) acted = true;
        if (learnersOf(p, withheld)) acted = true;
      } else {
        if (learnersOf(p, withheld)) acted = true;
        if (handoffOf(p, withheld)) acted = true;
      }
    }
    epoch++;
    const changed = own.rebalance(alive, active, epoch);
    res.rebalances++;
    res.epoch = epoch;
    if (changed) opts.observe?.(own, "rebalance");
    if (!acted && !changed && !withheld.v) return res;
  }
  throw new Error(`did not converge in ${max} iterations`);
}

// ---------------------------------------------------------------------------------------
// Pure functions
// ---------------------------------------------------------------------------------------

describe("isMoving", () => {
  const placement: Placement = {
    owners: [["a"], ["a"], ["a"], ["a", "b"]],
    learners: [[], ["b"], [], []],
    handoffs: [null, null, { to: "b", id: 7 }, null],
  };

  it("is false for a partition with neither learners nor a hand-off", () => {
    expect(isMoving(placement, 0)).toBe(false);
    expect(isMoving(placement, 3)).toBe(false);
  });

  it("is true with a learner or with a hand-off", () => {
    expect(isMoving(placement, 1)).toBe(true);
    expect(isMoving(placement, 2)).toBe(true);
  });

  it("is false for a partition index out of range", () => {
    expect(isMoving(placement, 4)).toBe(false);
    expect(isMoving(placement, -1)).toBe(false);
  });
});

describe("flipPrimary", () => {
  it("puts the new primary first and keeps the old primary last when it is desired", () => {
    expect(flipPrimary(["a", "b", "c"], "a", "c", ["c", "a"])).toEqual(["c", "b", "a"]);
    expect(flipPrimary(["a", "b"], "a", "b", ["b", "a"])).toEqual(["b", "a"]);
  });

  it("drops the old primary when it is not desired", () => {
    expect(flipPrimary(["a", "b", "c"], "a", "c", ["c", "b"])).toEqual(["c", "b"]);
    expect(flipPrimary(["a", "d"], "a", "d", ["d"])).toEqual(["d"]);
  });

  it("keeps the other replicas in order and never lists a shard twice", () => {
    const out = flipPrimary(["a", "b", "c", "d"], "a", "c", ["c", "a", "b"]);
    expect(out).toEqual(["c", "b", "d", "a"]);
    expect(new Set(out).size).toBe(out.length);
  });

  it("does not modify its input", () => {
    const owners = ["a", "b", "c"];
    const desired = ["c", "a"];
    flipPrimary(owners, "a", "c", desired);
    expect(owners).toEqual(["a", "b", "c"]);
    expect(desired).toEqual(["c", "a"]);
  });
});

describe("rebalance (pure step)", () => {
  function input(over: Partial<RebalanceInput> & Pick<RebalanceInput, "owners" | "desired">): RebalanceInput {
    const n = over.owners.length;
    return {
      learners: Array.from({ length: n }, () => []),
      handoffs: Array.from({ length: n }, () => null),
      preference: over.desired.map((d) => [...d, ...["a", "b", "c", "d"].filter((x) => !d.includes(x))]),
      replicationFactor: 1,
      alive: everyone,
      active: everyone,
      maxMoves: 100,
      nextEpoch: 42,
      ...over,
    };
  }

  it("changes nothing when every partition is where it should be, and does not alias the input", () => {
    const inp = input({ owners: [["a"], ["b", "c"]], desired: [["a"], ["b", "c"]] });
    const out = rebalance(inp);
    expect(out.changed).toBe(false);
    expect(out.owners).toEqual([["a"], ["b", "c"]]);
    expect(out.learners).toEqual([[], []]);
    expect(out.handoffs).toEqual([null, null]);
    expect(out.owners[0]).not.toBe(inp.owners[0]);
    expect(out.learners[0]).not.toBe(inp.learners[0]);
  });

  it("makes a missing desired shard a learner, without a hand-off until it has a copy", () => {
    const inp = input({ owners: [["a"]], desired: [["d"]] });
    const out = rebalance(inp);
    expect(out.changed).toBe(true);
    expect(out.owners).toEqual([["a"]]);
    expect(out.learners).toEqual([["d"]]);
    expect(out.handoffs).toEqual([null]);
    // The input is untouched.
    expect(inp.learners).toEqual([[]]);
  });

  it("hands off to the desired primary once it has a copy, under the next epoch as id", () => {
    const out = rebalance(input({ owners: [["a", "d"]], desired: [["d"]], nextEpoch: 17 }));
    expect(out.changed).toBe(true);
    expect(out.owners).toEqual([["a", "d"]]);
    expect(out.learners).toEqual([[]]);
    expect(out.handoffs).toEqual([{ to: "d", id: 17 }]);
  });

  it("keeps a hand-off in progress (same id) while its target is still right", () => {
    const out = rebalance(input({ owners: [["a", "d"]], desired: [["d"]], handoffs: [{ to: "d", id: 5 }], nextEpoch: 9 }));
    expect(out.changed).toBe(false);
    expect(out.handoffs).toEqual([{ to: "d", id: 5 }]);
  });

  it("retargets a hand-off whose target is no longer right, with a new id", () => {
    // Desired primary is b (has a copy), but a hand-off to c is in progress.
    const out = rebalance(
      input({ owners: [["a", "b", "c"]], desired: [["b", "a", "c"]], replicationFactor: 3, handoffs: [{ to: "c", id: 5 }], nextEpoch: 9 }),
    );
    expect(out.changed).toBe(true);
    expect(out.handoffs).toEqual([{ to: "b", id: 9 }]);
  });

  it("clears a hand-off whose target is dead", () => {
    const out = rebalance(input({ owners: [["a", "d"]], desired: [["d"]], handoffs: [{ to: "d", id: 5 }], alive: allBut("d") }));
    expect(out.changed).toBe(true);
    expect(out.handoffs).toEqual([null]);
    expect(out.owners).toEqual([["a", "d"]]);
    expect(out.learners).toEqual([[]]);
  });

  it("starts no hand-off while the primary is dead", () => {
    const out = rebalance(input({ owners: [["a", "d"]], desired: [["d"]], alive: allBut("a") }));
    expect(out.changed).toBe(false);
    expect(out.handoffs).toEqual([null]);
  });

  it("does not trim a non-desired owner until every desired shard has a copy", () => {
    // rf 2: desired [a, d]; b is not desired but d has no copy yet.
    const out1 = rebalance(input({ owners: [["a", "b"]], desired: [["a", "d"]], replicationFactor: 2 }));
    expect(out1.owners).toEqual([["a", "b"]]);
    expect(out1.learners).toEqual([["d"]]);
    // Nor does it trim surplus owners (beyond the replication factor) while d is missing.
    const out1b = rebalance(input({ owners: [["a", "b", "c"]], desired: [["a", "d"]], replicationFactor: 2 }));
    expect(out1b.owners).toEqual([["a", "b", "c"]]);
    expect(out1b.learners).toEqual([["d"]]);
    const out1c = rebalance(input({ owners: [["a", "b"]], desired: [["d"]], replicationFactor: 1 }));
    expect(out1c.owners).toEqual([["a", "b"]]);
    expect(out1c.learners).toEqual([["d"]]);
    // Once d is in, b goes.
    const out2 = rebalance(input({ owners: [["a", "b", "d"]], desired: [["a", "d"]], replicationFactor: 2 }));
    expect(out2.changed).toBe(true);
    expect(out2.owners).toEqual([["a", "d"]]);
    expect(out2.learners).toEqual([[]]);
    expect(out2.handoffs).toEqual([null]);
  });

  it("never trims the primary, even when it is not desired; it is handed off instead", () => {
    const out = rebalance(input({ owners: [["x", "a", "d"]], desired: [["a", "d"]], replicationFactor: 2, nextEpoch: 3 }));
    expect(out.owners).toEqual([["x", "a", "d"]]);
    expect(out.handoffs).toEqual([{ to: "a", id: 3 }]);
  });

  it("assigns no learner to a dead desired shard, and rebuilds the replica from the preference order", () => {
    // rf 2: desired [a, b], b dead, only a has a copy.
    const out = rebalance(
      input({ owners: [["a"]], desired: [["a", "b"]], preference: [["a", "b", "c", "d"]], replicationFactor: 2, alive: allBut("b") }),
    );
    expect(out.learners).toEqual([["c"]]);
    expect(out.learners[0]).not.toContain("b");
    expect(out.handoffs).toEqual([null]);
  });

  it("keeps a rebuilt replica while a desired member is dead (rf 2: desired [a,b], b dead, owners [a,c])", () => {
    const out = rebalance(
      input({ owners: [["a", "c"]], desired: [["a", "b"]], preference: [["a", "b", "c", "d"]], replicationFactor: 2, alive: allBut("b") }),
    );
    expect(out.changed).toBe(false);
    expect(out.owners).toEqual([["a", "c"]]);
    expect(out.learners).toEqual([[]]);
    expect(out.handoffs).toEqual([null]);
  });

  it("drops a learner that is no longer wanted", () => {
    const out = rebalance(input({ owners: [["a"]], desired: [["a"]], learners: [["d"]] }));
    expect(out.changed).toBe(true);
    expect(out.learners).toEqual([[]]);
  });

  it("starts at most maxMoves new moves, counting the ones in progress", () => {
    const n = 10;
    const owners = Array.from({ length: n }, () => ["a"]);
    const desired = Array.from({ length: n }, () => ["d"]);
    const out = rebalance(input({ owners, desired, maxMoves: 3 }));
    expect(out.learners.map((l) => l.length)).toEqual([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);

    // Two already moving: only one more may start.
    const learners = Array.from({ length: n }, (_, i) => (i === 4 || i === 7 ? ["d"] : []));
    const out2 = rebalance(input({ owners, desired, learners, maxMoves: 3 }));
    expect(out2.learners.map((l) => l.length)).toEqual([1, 0, 0, 0, 1, 0, 0, 1, 0, 0]);
  });

  it("rebuilds replicas of partitions short of their replication factor regardless of maxMoves", () => {
    const n = 6;
    const owners = Array.from({ length: n }, () => ["a"]);
    const desired = Array.from({ length: n }, () => ["a", "b"]);
    const out = rebalance(input({ owners, desired, replicationFactor: 2, maxMoves: 2 }));
    expect(out.learners).toEqual(Array.from({ length: n }, () => ["b"]));
  });
});

// ---------------------------------------------------------------------------------------
// Ownership
// ---------------------------------------------------------------------------------------

describe("Ownership: initial state", () => {
  it("starts at the desired placement, with pepoch 1 and nothing moving", () => {
    const own = new Ownership(P, 2, [S3, S1, S2], undefined);
    const desired = balancedPlacement(THREE, P, 2);
    expect(own.owners).toEqual(desired);
    expect(own.pepochs).toEqual(new Array<number>(P).fill(1));
    for (let p = 0; p < P; p++) expect(own.desiredOf(p)).toEqual(desired[p]);
    expect(own.progress()).toEqual({ pending: 0, moving: 0 });
    for (const s of THREE) {
      expect(own.hasItsShare(s)).toBe(true);
      expect(own.holdsAny(s)).toBe(true);
    }
    expect(own.holdsAny(S4)).toBe(false);
    expect(own.rebalance(everyone, everyone, 2)).toBe(false);
  });

  it("restores saved owners, pepochs and hand-offs", () => {
    const owners = balancedPlacement(THREE, 4, 1);
    const saved = { owners, pepochs: [3, 4, 5, 6], handoffs: [null, { to: S2, id: 9 }, null, null] };
    const own = new Ownership(4, 1, THREE, saved);
    expect(own.owners).toEqual(owners);
    expect(own.owners[0]).not.toBe(owners[0]);
    expect(own.pepochs).toEqual([3, 4, 5, 6]);
    expect(own.handoffs).toEqual([null, { to: S2, id: 9 }, null, null]);
    expect(own.learners).toEqual([[], [], [], []]);
  });

  it("ignores saved hand-offs of the wrong length", () => {
    const owners = balancedPlacement(THREE, 4, 1);
    const own = new Ownership(4, 1, THREE, { owners, pepochs: [1, 1, 1, 1], handoffs: [{ to: S2, id: 9 }] });
    expect(own.handoffs).toEqual([null, null, null, null]);
  });

  it("keeps the last plan when the active set becomes empty, and ignores the order of ids", () => {
    const own = new Ownership(P, 1, THREE, undefined);
    const before = Array.from({ length: P }, (_, p) => [...own.desiredOf(p)]);
    own.setActive([]);
    expect(Array.from({ length: P }, (_, p) => [...own.desiredOf(p)])).toEqual(before);
    own.setActive([S2, S3, S1]);
    expect(Array.from({ length: P }, (_, p) => [...own.desiredOf(p)])).toEqual(before);
  });
});

describe("Ownership: a shard joins (rf 1)", () => {
  it("converges to exactly the 4-shard placement, moving only what the new shard should own", () => {
    const own = new Ownership(P, 1, THREE, undefined);
    const initial = snapshot(own);
    expect(initial.owners).toEqual(balancedPlacement(THREE, P, 1));
    own.setActive(FOUR);
    const desired = desiredNow(own);
    const toNew = desired.flatMap((d, p) => (d.includes(S4) ? [p] : []));
    const untouched = desired.flatMap((d, p) => (d.includes(S4) ? [] : [p]));
    expect(own.progress().pending).toBe(toNew.length);
    expect(own.hasItsShare(S4)).toBe(false);

    const violations: string[] = [];
    const result = drive(own, {
      observe: (o) => {
        for (const p of untouched) {
          if (JSON.stringify(o.owners[p]) !== JSON.stringify(initial.owners[p])) violations.push(`p${p} owners ${JSON.stringify(o.owners[p])}`);
          if (isMoving(o, p)) violations.push(`p${p} moving`);
          if (o.pepochs[p] !== 1) violations.push(`p${p} pepoch ${o.pepochs[p]}`);
        }
      },
    });
    expect(violations).toEqual([]);

    expect(own.owners).toEqual(desired);
    let changedOwner = 0;
    for (let p = 0; p < P; p++) if (primaryOf(own, p) !== at(at(initial.owners, p), 0)) changedOwner++;
    expect(changedOwner).toBeGreaterThanOrEqual(8);
    expect(changedOwner).toBeLessThanOrEqual(28);
    expect(changedOwner).toBe(toNew.length);
    // Each moved partition: one learner caught up, one hand-off, one pepoch bump.
    expect(result.caughtUp).toBe(toNew.length);
    expect(result.handedOff).toBe(toNew.length);
    for (const p of toNew) expect(own.pepochs[p]).toBe(2);
    expect(own.progress()).toEqual({ pending: 0, moving: 0 });
    expect(own.hasItsShare(S4)).toBe(true);
    expect(own.learners.every((l) => l.length === 0)).toBe(true);
    expect(own.handoffs.every((h) => h === null)).toBe(true);
    // And it stays put.
    expect(own.rebalance(everyone, everyone, result.epoch + 1)).toBe(false);
  });

  it("never has more than MAX_CONCURRENT_MOVES partitions moving, and uses the whole budget", () => {
    expect(MAX_CONCURRENT_MOVES).toBe(4);
    const own = new Ownership(P, 1, THREE, undefined);
    own.setActive(FOUR);
    const needed = desiredNow(own).filter((d) => d.includes(S4)).length;
    // Otherwise the throttle would not be exercised.
    expect(needed).toBeGreaterThan(MAX_CONCURRENT_MOVES);

    const counts: number[] = [];
    const result = drive(own, { observe: (o, ev) => void (ev === "rebalance" && counts.push(movingCount(o))) });
    expect(Math.max(...counts)).toBe(MAX_CONCURRENT_MOVES);
    expect(counts.every((c) => c <= MAX_CONCURRENT_MOVES)).toBe(true);
    // The first step starts exactly the budget's worth of learners and nothing else.
    expect(counts[0]).toBe(MAX_CONCURRENT_MOVES);
    expect(result.caughtUp).toBe(needed);
    expect(own.progress()).toEqual({ pending: 0, moving: 0 });
  });

  it("the first step starts learners on the new shard for the lowest-numbered partitions only", () => {
    const own = new Ownership(P, 1, THREE, undefined);
    own.setActive(FOUR);
    const toNew = desiredNow(own).flatMap((d, p) => (d.includes(S4) ? [p] : []));
    expect(own.rebalance(everyone, everyone, 2)).toBe(true);
    const withLearners = own.learners.flatMap((l, p) => (l.length > 0 ? [p] : []));
    expect(withLearners).toEqual(toNew.slice(0, MAX_CONCURRENT_MOVES));
    for (const p of withLearners) expect(own.learners[p]).toEqual([S4]);
    expect(own.handoffs.every((h) => h === null)).toBe(true);
    expect(own.holdsAny(S4)).toBe(true);
    expect(own.progress()).toEqual({ pending: toNew.length, moving: MAX_CONCURRENT_MOVES });
  });

  it("a dead joining shard gets nothing: no learners, no hand-offs, nothing changes", () => {
    const own = new Ownership(P, 1, THREE, undefined);
    own.setActive(FOUR);
    const before = snapshot(own);
    expect(own.rebalance(allBut(S4), everyone, 2)).toBe(false);
    expect(snapshot(own)).toEqual(before);
    expect(own.holdsAny(S4)).toBe(false);
  });
});

describe("Ownership: a shard joins (rf 2)", () => {
  it("converges to the desired owner sets, primary first, and redundancy never decreases", () => {
    const own = new Ownership(P, 2, THREE, undefined);
    const initial = snapshot(own);
    own.setActive(FOUR);
    const desired = desiredNow(own);
    const changedSets = desired.filter((d, p) => JSON.stringify(sorted(d)) !== JSON.stringify(sorted(at(initial.owners, p)))).length;
    expect(changedSets).toBeGreaterThan(MAX_CONCURRENT_MOVES);

    let minOwners = Infinity;
    const short: string[] = [];
    let observations = 0;
    drive(own, {
      observe: (o) => {
        observations++;
        for (let p = 0; p < P; p++) {
          const n = at(o.owners, p).length;
          minOwners = Math.min(minOwners, n);
          if (n < 2) short.push(`p${p}: ${JSON.stringify(o.owners[p])}`);
        }
      },
    });
    expect(observations).toBeGreaterThan(2);
    expect(short).toEqual([]);
    expect(minOwners).toBe(2);

    for (let p = 0; p < P; p++) {
      const o = at(own.owners, p);
      const d = at(desired, p);
      expect(o[0], `primary of p${p}`).toBe(d[0]);
      expect(sorted(o), `owners of p${p}`).toEqual(sorted(d));
    }
    expect(own.progress()).toEqual({ pending: 0, moving: 0 });
    expect(own.hasItsShare(S4)).toBe(true);
  });

  it("still converges with redundancy kept when reports arrive late and out of order (seeded)", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rnd = mulberry32(seed);
      const own = new Ownership(P, 2, THREE, undefined);
      own.setActive(FOUR);
      const short: string[] = [];
      drive(own, {
        deliver: () => rnd() < 0.4,
        handoffsFirst: seed % 2 === 0,
        maxIterations: 2000,
        observe: (o) => {
          for (let p = 0; p < P; p++) if (at(o.owners, p).length < 2) short.push(`seed ${seed} p${p}`);
        },
      });
      expect(short).toEqual([]);
      const desired = desiredNow(own);
      for (let p = 0; p < P; p++) {
        expect(at(own.owners, p)[0]).toBe(at(desired, p)[0]);
        expect(sorted(at(own.owners, p))).toEqual(sorted(at(desired, p)));
      }
      expect(own.progress()).toEqual({ pending: 0, moving: 0 });
    }
  });
});

describe("Ownership: a shard leaves", () => {
  it("rf 1: the leaver ends up holding nothing, and its partitions go to their new desired owners", () => {
    const own = new Ownership(P, 1, FOUR, undefined);
    const initial = snapshot(own);
    const leaver = S2;
    const remaining = FOUR.filter((s) => s !== leaver);
    own.setActive(remaining);
    const desired = desiredNow(own);
    const leaverParts = initial.owners.flatMap((o, p) => (o.includes(leaver) ? [p] : []));
    expect(leaverParts.length).toBeGreaterThan(MAX_CONCURRENT_MOVES);
    expect(own.hasItsShare(leaver)).toBe(true); // it should have nothing now
    expect(own.holdsAny(leaver)).toBe(true);

    const violations: string[] = [];
    const counts: number[] = [];
    drive(own, {
      active: (id) => id !== leaver,
      observe: (o, ev) => {
        if (ev === "rebalance") counts.push(movingCount(o));
        for (let p = 0; p < P; p++) {
          if (leaverParts.includes(p)) continue;
          if (JSON.stringify(o.owners[p]) !== JSON.stringify(initial.owners[p]) || isMoving(o, p)) violations.push(`p${p}`);
        }
        for (const l of o.learners) if (l.includes(leaver)) violations.push("learner on leaver");
      },
    });
    expect(violations).toEqual([]);
    expect(counts.every((c) => c <= MAX_CONCURRENT_MOVES)).toBe(true);
    expect(own.holdsAny(leaver)).toBe(false);
    for (let p = 0; p < P; p++) expect(own.owners[p]).toHaveLength(1);
    expect(own.owners).toEqual(desired);
    for (const p of leaverParts) {
      expect(remaining).toContain(primaryOf(own, p));
      expect(own.pepochs[p]).toBe(2);
    }
    expect(own.progress()).toEqual({ pending: 0, moving: 0 });
  });

  it("rf 2: the leaver ends up holding nothing and the owners are the desired ones", () => {
    const own = new Ownership(P, 2, FOUR, undefined);
    const leaver = S4;
    const remaining = FOUR.filter((s) => s !== leaver);
    own.setActive(remaining);
    drive(own, { active: (id) => id !== leaver });
    expect(own.holdsAny(leaver)).toBe(false);
    const desired = desiredNow(own);
    for (let p = 0; p < P; p++) {
      expect(at(own.owners, p)[0]).toBe(at(desired, p)[0]);
      expect(sorted(at(own.owners, p))).toEqual(sorted(at(desired, p)));
    }
    expect(own.progress()).toEqual({ pending: 0, moving: 0 });
  });
});

describe("Ownership: a leave never drops a copy early (rf 2)", () => {
  it("a leaving primary is handed off only once every desired shard has its copy, whatever the report order", () => {
    const own = new Ownership(P, 2, FOUR, undefined);
    own.setActive(THREE);
    let least = Number.POSITIVE_INFINITY;
    drive(own, {
      active: (id) => id !== S4,
      handoffsFirst: true,
      observe: (o) => {
        for (let p = 0; p < P; p++) least = Math.min(least, at(o.owners, p).length);
      },
    });
    expect(least).toBe(2);
    expect(own.holdsAny(S4)).toBe(false);
  });
});

describe("Ownership: reports", () => {
  /**
   * rf 1, 3 shards + shard-4 joining: the first partition that should move to shard-4 gets
   * its learner caught up, then a hand-off with id 11.
   */
  function withHandoff(): { own: Ownership; p: number; from: string; id: number } {
    const own = new Ownership(P, 1, THREE, undefined);
    own.setActive(FOUR);
    const p = desiredNow(own).findIndex((d) => d[0] === S4);
    expect(p).toBeGreaterThanOrEqual(0);
    const from = primaryOf(own, p);
    expect(own.rebalance(everyone, everyone, 10)).toBe(true);
    expect(own.learners[p]).toEqual([S4]);
    expect(own.caughtUp(p, 1, from, S4)).toBe(true);
    expect(own.owners[p]).toEqual([from, S4]);
    expect(own.learners[p]).toEqual([]);
    expect(own.rebalance(everyone, everyone, 11)).toBe(true);
    expect(own.handoffs[p]).toEqual({ to: S4, id: 11 });
    return { own, p, from, id: 11 };
  }

  it("ignores a hand-off report with a stale id", () => {
    const { own, p, from } = withHandoff();
    const before = snapshot(own);
    expect(own.handedOff(p, 1, from, S4, 10)).toBe(false);
    expect(own.handedOff(p, 1, from, S4, 12)).toBe(false);
    expect(snapshot(own)).toEqual(before);
  });

  it("ignores a hand-off report under the wrong pepoch", () => {
    const { own, p, from, id } = withHandoff();
    const before = snapshot(own);
    expect(own.handedOff(p, 2, from, S4, id)).toBe(false);
    expect(own.handedOff(p, 0, from, S4, id)).toBe(false);
    expect(snapshot(own)).toEqual(before);
  });

  it("ignores a hand-off report from a shard that is not the primary", () => {
    const { own, p, from, id } = withHandoff();
    const other = THREE.find((s) => s !== from) as string;
    const before = snapshot(own);
    expect(own.handedOff(p, 1, S4, S4, id)).toBe(false);
    expect(own.handedOff(p, 1, other, S4, id)).toBe(false);
    expect(snapshot(own)).toEqual(before);
  });

  it("ignores a hand-off report naming another target, or for a partition without a hand-off", () => {
    const { own, p, from, id } = withHandoff();
    const other = THREE.find((s) => s !== from) as string;
    const before = snapshot(own);
    expect(own.handedOff(p, 1, from, other, id)).toBe(false);
    const idle = own.handoffs.findIndex((h, q) => h === null && q !== p);
    expect(own.handedOff(idle, 1, primaryOf(own, idle), S4, id)).toBe(false);
    expect(own.handedOff(P + 5, 1, from, S4, id)).toBe(false);
    expect(snapshot(own)).toEqual(before);
  });

  it("accepts the right hand-off report once: flips the primary and bumps the pepoch", () => {
    const { own, p, from, id } = withHandoff();
    expect(own.handedOff(p, 1, from, S4, id)).toBe(true);
    expect(own.owners[p]).toEqual([S4]);
    expect(own.pepochs[p]).toBe(2);
    expect(own.handoffs[p]).toBeNull();
    const before = snapshot(own);
    // The same report again (a retry) changes nothing.
    expect(own.handedOff(p, 1, from, S4, id)).toBe(false);
    expect(snapshot(own)).toEqual(before);
  });

  it("ignores a late report of an abandoned hand-off after a new one was started", () => {
    const { own, p, from } = withHandoff();
    // The target dies: the hand-off is abandoned; it comes back: a new one (id 13) starts.
    expect(own.rebalance(allBut(S4), everyone, 12)).toBe(true);
    expect(own.handoffs[p]).toBeNull();
    expect(own.rebalance(everyone, everyone, 13)).toBe(true);
    expect(own.handoffs[p]).toEqual({ to: S4, id: 13 });
    const before = snapshot(own);
    expect(own.handedOff(p, 1, from, S4, 11)).toBe(false);
    expect(snapshot(own)).toEqual(before);
    expect(own.handedOff(p, 1, from, S4, 13)).toBe(true);
    expect(own.owners[p]).toEqual([S4]);
  });

  it("ignores caught-up reports from a non-primary, under a wrong pepoch, or for a non-learner", () => {
    const own = new Ownership(P, 1, THREE, undefined);
    own.setActive(FOUR);
    const p = desiredNow(own).findIndex((d) => d[0] === S4);
    const from = primaryOf(own, p);
    const other = THREE.find((s) => s !== from) as string;
    expect(own.rebalance(everyone, everyone, 2)).toBe(true);
    const before = snapshot(own);
    expect(own.caughtUp(p, 1, other, S4)).toBe(false);
    expect(own.caughtUp(p, 2, from, S4)).toBe(false);
    expect(own.caughtUp(p, 1, from, other)).toBe(false);
    expect(own.caughtUp(P, 1, from, S4)).toBe(false);
    expect(snapshot(own)).toEqual(before);
    expect(own.caughtUp(p, 1, from, S4)).toBe(true);
    expect(own.owners[p]).toEqual([from, S4]);
    expect(own.learners[p]).toEqual([]);
    expect(own.pepochs[p]).toBe(1);
  });

  it("replicaFailed drops the replica (and a hand-off to it), but only when the primary reports it", () => {
    const { own, p, from, id } = withHandoff();
    const before = snapshot(own);
    expect(own.replicaFailed(p, 1, S4, from)).toBe(false); // not the primary
    expect(own.replicaFailed(p, 2, from, S4)).toBe(false); // wrong pepoch
    expect(own.replicaFailed(p, 1, from, from)).toBe(false); // itself
    expect(own.replicaFailed(p, 1, from, S3 === from ? S1 : S3)).toBe(false); // not a replica
    expect(snapshot(own)).toEqual(before);
    expect(own.replicaFailed(p, 1, from, S4)).toBe(true);
    expect(own.owners[p]).toEqual([from]);
    expect(own.handoffs[p]).toBeNull();
    expect(own.pepochs[p]).toBe(1);
    expect(own.handedOff(p, 1, from, S4, id)).toBe(false);
  });
});

describe("Ownership: failures during moves", () => {
  function withHandoff(): { own: Ownership; p: number; from: string; id: number } {
    const own = new Ownership(P, 1, THREE, undefined);
    own.setActive(FOUR);
    const p = desiredNow(own).findIndex((d) => d[0] === S4);
    const from = primaryOf(own, p);
    own.rebalance(everyone, everyone, 10);
    expect(own.caughtUp(p, 1, from, S4)).toBe(true);
    own.rebalance(everyone, everyone, 11);
    expect(own.handoffs[p]).toEqual({ to: S4, id: 11 });
    return { own, p, from, id: 11 };
  }

  it("clears the hand-off on the next rebalance when its target dies, and drops its learners", () => {
    const { own, p, from } = withHandoff();
    expect(own.learners.some((l) => l.includes(S4))).toBe(true);
    expect(own.rebalance(allBut(S4), everyone, 12)).toBe(true);
    expect(own.handoffs[p]).toBeNull();
    expect(own.handoffs.every((h) => h === null)).toBe(true);
    expect(own.learners.every((l) => l.length === 0)).toBe(true);
    // The copy it has stays listed until it is failed over.
    expect(own.owners[p]).toEqual([from, S4]);
    expect(own.pepochs[p]).toBe(1);
    // Failing it over drops that replica without touching the primary.
    expect(own.failover(S4)).toEqual({ promoted: 0, dropped: 1 });
    expect(own.owners[p]).toEqual([from]);
    expect(own.pepochs[p]).toBe(1);
    expect(own.holdsAny(S4)).toBe(false);
    // Nothing else to do while it is dead.
    expect(own.rebalance(allBut(S4), everyone, 13)).toBe(false);
  });

  it("a failover of the primary during a hand-off clears it, promotes the replica and bumps the pepoch", () => {
    const { own, p, from, id } = withHandoff();
    const before = snapshot(own);
    expect(own.failover(from)).toEqual({ promoted: 1, dropped: 0 });
    expect(own.handoffs[p]).toBeNull();
    expect(own.owners[p]).toEqual([S4]);
    expect(own.pepochs[p]).toBe(2);
    // Partitions where it was the only owner wait for it; the others are untouched.
    for (let q = 0; q < P; q++) {
      if (q === p) continue;
      expect(own.owners[q]).toEqual(before.owners[q]);
      expect(own.pepochs[q]).toBe(1);
    }
    // Its late report is refused.
    expect(own.handedOff(p, 1, from, S4, id)).toBe(false);
    expect(own.owners[p]).toEqual([S4]);
  });

  it("a failover of the hand-off target clears the hand-off at once", () => {
    const { own, p, from } = withHandoff();
    expect(own.failover(S4)).toEqual({ promoted: 0, dropped: 1 });
    expect(own.handoffs[p]).toBeNull();
    expect(own.owners[p]).toEqual([from]);
    expect(own.learners.some((l) => l.includes(S4))).toBe(false);
  });

  it("rf 1 join: converges after the new shard dies mid-join and comes back", () => {
    const own = new Ownership(P, 1, THREE, undefined);
    own.setActive(FOUR);
    let epoch = 1;
    // A few steps of the join.
    for (let i = 0; i < 3; i++) {
      for (let p = 0; p < P; p++) {
        for (const l of [...at(own.learners, p)]) own.caughtUp(p, at(own.pepochs, p), primaryOf(own, p), l);
        const h = own.handoffs[p];
        if (h) own.handedOff(p, at(own.pepochs, p), primaryOf(own, p), h.to, h.id);
      }
      own.rebalance(everyone, everyone, ++epoch);
    }
    expect(own.progress().pending).toBeGreaterThan(0);
    const done = own.owners.flatMap((o, p) => (o.length === 1 && o[0] === S4 ? [p] : []));
    expect(done.length).toBeGreaterThan(0);
    own.failover(S4);
    // The failover already cleared its learners and hand-offs; the partitions it alone holds wait.
    expect(own.progress().moving).toBe(0);
    expect(own.rebalance(allBut(S4), everyone, ++epoch)).toBe(false);
    for (const p of done) expect(own.owners[p]).toEqual([S4]);
    const r = drive(own, { epoch });
    expect(r.epoch).toBeGreaterThan(epoch);
    expect(own.owners).toEqual(desiredNow(own));
  });
});

describe("Ownership: a dead desired shard (rf 2)", () => {
  it("rebuilds missing replicas elsewhere (not on the dead shard), regardless of the move budget", () => {
    const own = new Ownership(P, 2, THREE, undefined);
    const dead = S1;
    const hadDead = own.owners.flatMap((o, p) => (o.includes(dead) ? [p] : []));
    const failover = own.failover(dead);
    expect(failover.promoted + failover.dropped).toBe(hadDead.length);
    for (const p of hadDead) expect(own.owners[p]).toHaveLength(1);
    expect(hadDead.length).toBeGreaterThan(MAX_CONCURRENT_MOVES);

    expect(own.rebalance(allBut(dead), everyone, 2)).toBe(true);
    for (let p = 0; p < P; p++) {
      expect(own.learners[p], `learners of p${p}`).not.toContain(dead);
      if (hadDead.includes(p)) {
        // The only other live shard.
        const third = THREE.find((s) => s !== dead && !at(own.owners, p).includes(s));
        expect(own.learners[p]).toEqual([third]);
      } else expect(own.learners[p]).toEqual([]);
      expect(own.handoffs[p]).toBeNull();
    }
    // Every short partition is rebuilding at once: more than the budget.
    expect(movingCount(own)).toBe(hadDead.length);

    // Once rebuilt, the rebuilt replicas stay while the desired shard is dead.
    const r = drive(own, { alive: allBut(dead), epoch: 2 });
    for (let p = 0; p < P; p++) {
      expect(own.owners[p]).toHaveLength(2);
      expect(own.owners[p]).not.toContain(dead);
    }
    expect(own.hasItsShare(dead)).toBe(false);
    expect(own.progress().pending).toBe(hadDead.length);
    expect(own.progress().moving).toBe(0);

    // When it comes back, everything converges to the desired placement.
    drive(own, { epoch: r.epoch });
    const desired = desiredNow(own);
    for (let p = 0; p < P; p++) {
      expect(at(own.owners, p)[0]).toBe(at(desired, p)[0]);
      expect(sorted(at(own.owners, p))).toEqual(sorted(at(desired, p)));
    }
    expect(own.progress()).toEqual({ pending: 0, moving: 0 });
  });

  it("keeps a rebuilt replica while a desired member is dead: desired [A,B], B dead, owners [A,C] stays", () => {
    const own = new Ownership(P, 2, THREE, undefined);
    const desired = desiredNow(own);
    const owners = desired.map((d) => {
      const a = at(d, 0);
      const c = THREE.find((s) => !d.includes(s)) as string;
      return [a, c];
    });
    // As after B died and each replica was rebuilt on C (the desired placement stays put).
    own.owners = owners.map((o) => [...o]);
    // Each partition's second desired shard is dead; use one shard to make it concrete.
    const dead = S2;
    const alive = allBut(dead);
    const affected = desired.flatMap((d, p) => (d[1] === dead ? [p] : []));
    expect(affected.length).toBeGreaterThan(0);
    own.rebalance(alive, everyone, 2);
    for (const p of affected) {
      expect(own.owners[p]).toEqual(owners[p]);
      expect(own.learners[p]).toEqual([]);
      expect(own.handoffs[p]).toBeNull();
    }
  });

  it("a partition whose dead desired member was its primary is not handed off to it", () => {
    const own = new Ownership(P, 2, THREE, undefined);
    const dead = S3;
    const led = own.owners.flatMap((o, p) => (o[0] === dead ? [p] : []));
    expect(led.length).toBeGreaterThan(0);
    expect(own.failover(dead).promoted).toBe(led.length);
    for (const p of led) expect(own.pepochs[p]).toBe(2);
    drive(own, { alive: allBut(dead) });
    for (const p of led) {
      expect(own.owners[p]).not.toContain(dead);
      expect(own.owners[p]).toHaveLength(2);
      expect(own.handoffs[p]).toBeNull();
      expect(own.desiredOf(p)[0]).toBe(dead);
    }
  });
});

describe("Ownership: failover at rf 3", () => {
  it("promotes the first replica alone and rebuilds the other replicas from it as learners", () => {
    const own = new Ownership(P, 3, FOUR, undefined);
    const dead = S1;
    const led = own.owners.flatMap((o, p) => (o[0] === dead ? [p] : []));
    const replicaOnly = own.owners.flatMap((o, p) => (o[0] !== dead && o.includes(dead) ? [p] : []));
    expect(led.length).toBeGreaterThan(0);
    const before = snapshot(own);
    expect(own.failover(dead)).toEqual({ promoted: led.length, dropped: replicaOnly.length });
    for (const p of led) {
      const [, next, ...others] = at(before.owners, p);
      // The others may differ from the new primary in what was never acknowledged: they get
      // a copy of it (a reset, then its entries) before they count as replicas again.
      expect(own.owners[p]).toEqual([next]);
      expect(own.learners[p]).toEqual(others);
      expect(own.pepochs[p]).toBe(at(before.pepochs, p) + 1);
    }
    for (const p of replicaOnly) {
      expect(own.owners[p]).toEqual(at(before.owners, p).filter((id) => id !== dead));
      expect(own.pepochs[p]).toBe(at(before.pepochs, p));
    }
    // The rebalancer keeps them as learners (they are desired) and adds one for the dead shard's place.
    own.rebalance(allBut(dead), everyone, 2);
    for (const p of led) {
      for (const x of at(before.owners, p).slice(2)) expect(own.learners[p]).toContain(x);
      expect(own.learners[p]).not.toContain(dead);
    }
  });
});
