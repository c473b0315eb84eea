/**
 * The counter checker: hand-made histories that must pass or be flagged (lost and
 * double-applied increments among them), and random ones against brute force.
 */
import { describe, expect, it } from "vitest";
import { checkHistory, checkKey, checkNoLostWrites, formatHistory } from "../chaos/checker.js";
import { checkCounter } from "../chaos/counter-checker.js";
import { ABSENT, present, type Op, type Outcome } from "../chaos/history.js";
import { mulberry32 } from "../helpers/prng.js";
import { someOrder } from "../helpers/register-histories.js";

// ---- op builders (key "n" unless given) ----------------------------------------------------

type Times = [invokeAt: number, completeAt: number, outcome?: Outcome];
const base = (process: number, [invokeAt, completeAt, outcome = "ok"]: Times, key = "n") => ({ process, key, invokeAt, completeAt, outcome });
/** incr by `delta` → `result` (ignored unless ok). */
const incr = (p: number, result: number | undefined, t: Times, delta = 1, key?: string): Op => ({
  op: "incr",
  delta,
  ...(result !== undefined && { result }),
  ...base(p, t, key),
});
/** A read of the counter: a number, or undefined for absent. */
const read = (p: number, value: number | string | undefined, t: Times, key?: string): Op => ({
  op: "get",
  result: value === undefined ? ABSENT : present(String(value)),
  ...base(p, t, key),
});

function expectOk(h: Op[], initial?: string): void {
  const r = checkCounter(h, { initial });
  if (!r.ok) throw new Error(`expected linearizable:\n${r.message}`);
}
function expectViolation(h: Op[], pattern: RegExp, initial?: string): Exclude<ReturnType<typeof checkCounter>, { ok: true }> {
  const r = checkCounter(h, { initial });
  if (r.ok) throw new Error(`expected a violation:\n${formatHistory(h)}`);
  expect(r.message).toMatch(pattern);
  return r;
}

// ---- reference: brute force over all orders (small histories only) ----------------------

function bruteForce(history: Op[], initial?: number): boolean {
  const ops = history.filter((o) => o.outcome === "ok" || (o.outcome === "indeterminate" && o.op === "incr"));
  const apply = (o: Op, s: number | undefined): { s: number | undefined } | null => {
    if (o.op === "incr") {
      const next = (s ?? 0) + o.delta;
      return o.outcome !== "ok" || o.result === next ? { s: next } : null;
    }
    if (o.op !== "get") throw new TypeError(o.op);
    const r = o.result!;
    return (r.found ? s !== undefined && String(s) === r.value : s === undefined) ? { s } : null;
  };
  return someOrder<number | undefined>(ops, initial, apply);
}

/** A linearizable counter history: each op takes effect at a random point inside its interval. */
function generate(rand: () => number, processes: number, opsPerProcess: number, indeterminateRate: number): Op[] {
  const planned: { op: Op; lin: number; effective: boolean }[] = [];
  for (let p = 0; p < processes; p++) {
    let t = rand() * 5;
    for (let j = 0; j < opsPerProcess; j++) {
      const dur = 0.5 + rand() * 8;
      const invokeAt = Math.floor(t);
      const completeAt = Math.ceil(t + dur);
      let lin = t + rand() * dur;
      const r = rand();
      const outcome: Outcome = r < 0.05 ? "failed" : r < 0.05 + indeterminateRate ? "indeterminate" : "ok";
      let effective = outcome !== "failed";
      if (outcome === "indeterminate") {
        lin = t + rand() * dur * 4;
        effective = rand() < 0.5;
      }
      const isIncr = rand() < 0.6;
      // Acked incrs sometimes add more than 1; indeterminate ones always 1 (see the checker).
      const delta = outcome === "ok" && rand() < 0.2 ? 2 + Math.floor(rand() * 2) : 1;
      planned.push({ op: isIncr ? incr(p, undefined, [invokeAt, completeAt, outcome], delta) : read(p, undefined, [invokeAt, completeAt, outcome]), lin, effective });
      t = t + dur + rand() * 3;
    }
  }
  let state: number | undefined;
  for (const { op, effective } of planned.slice().sort((a, b) => a.lin - b.lin)) {
    if (!effective) continue;
    if (op.op === "incr") {
      state = (state ?? 0) + op.delta;
      if (op.outcome === "ok") op.result = state;
    } else if (op.op === "get" && op.outcome === "ok") {
      op.result = state === undefined ? ABSENT : present(String(state));
    }
  }
  return planned.map((x) => x.op);
}

// ---------------------------------------------------------------------------------------

describe("checkCounter: known histories", () => {
  it("accepts sequential and concurrent increments and the reads between them", () => {
    expectOk([read(1, undefined, [0, 1]), incr(1, 1, [2, 3]), read(2, 1, [4, 5]), incr(2, 2, [6, 7]), read(1, 2, [8, 9])]);
    // Concurrent: either may come first; a read during both sees 0, 1 or 2.
    const both = [incr(1, 2, [0, 10]), incr(2, 1, [1, 9])];
    expectOk([...both, read(3, 1, [2, 3]), read(3, 2, [4, 5]), read(4, 2, [11, 12])]);
    expectOk([...both, read(3, undefined, [0, 0.5])]);
    // Deltas other than 1.
    expectOk([incr(1, 5, [0, 1], 5), incr(2, 7, [2, 3], 2), read(3, 7, [4, 5])]);
  });

  it("flags a lost acknowledged increment", () => {
    // Two acked incrs returned the same value: one's effect was lost.
    const dup = expectViolation([incr(1, 1, [0, 1]), incr(2, 1, [2, 3])], /two acknowledged incrs both returned 1: one increment's effect was lost/);
    expect(dup.minimal).toHaveLength(2);
    // Even concurrently.
    expectViolation([incr(1, 1, [0, 10]), incr(2, 1, [1, 9])], /both returned 1/);
    // A later read below an acknowledged result (the final read too).
    const back = expectViolation([incr(1, 1, [0, 1]), incr(1, 2, [2, 3]), read(2, 1, [4, 5])], /went backwards: an op read 1 after one that saw 2 had completed \(a lost increment\)/);
    expect(back.minimal.map((o) => o.op)).toEqual(["incr", "get"]);
    // An incr that started from less than an earlier one ended at.
    expectViolation([incr(1, 3, [0, 1], 3), incr(2, 2, [2, 3], 2)], /overlap/);
    const lost = [1, 2, 3].map((p) => incr(p, undefined, [0, 0.5, "indeterminate"]));
    expectViolation([...lost, incr(4, 5, [0, 1]), incr(5, 4, [2, 3])], /went backwards: an op incremented from 3 after one that saw 5 had completed/);
    expectOk([...lost, incr(4, 5, [0, 1]), incr(5, 4, [0.5, 3])]);
  });

  it("flags a double-applied increment", () => {
    // Two acked increments, no indeterminate one: 3 is one too many.
    const r = expectViolation([incr(1, 1, [0, 1]), incr(2, 2, [2, 3]), read(3, 3, [4, 5])], /an op saw 3, but from 0 the acknowledged incrs up to it add 2 and the 0 indeterminate ones invoked by then at most 0: an increment was applied twice/);
    expect(r.minimal.map((o) => o.op)).toEqual(["get"]);
    // An acked incr whose result counts one more increment than exist.
    expectViolation([incr(1, 1, [0, 1]), incr(2, 3, [2, 3])], /applied twice/);
    // An indeterminate incr may explain one extra, not two.
    const ind = incr(3, undefined, [0, 1, "indeterminate"]);
    expectOk([incr(1, 1, [0, 1]), ind, incr(2, 3, [2, 3]), read(3, 3, [4, 5])]);
    const two = expectViolation([incr(1, 1, [0, 1]), ind, incr(2, 2, [2, 3]), read(3, 4, [4, 5])], /the 1 indeterminate ones invoked by then at most 1/);
    expect(two.minimal).toContain(ind);
    // ...and only once it was invoked.
    expectViolation([incr(1, 1, [0, 1]), read(2, 2, [2, 3]), incr(3, undefined, [5, 6, "indeterminate"])], /applied twice/);
    expectOk([incr(1, 1, [0, 1]), read(2, 2, [2, 5]), incr(3, undefined, [5, 6, "indeterminate"])]);
  });

  it("flags reads no sequence of increments produces", () => {
    expectViolation([read(1, "c1-3", [0, 1])], /not a counter/);
    expectViolation([read(1, 0, [0, 1])], /no sequence of increments from absent/);
    expectViolation([incr(1, 1, [0, 1]), read(1, -1, [2, 3])], /no sequence/);
    // Inside the step of an acked incr by 3: the step is atomic.
    expectViolation([incr(1, 3, [0, 10], 3), read(2, 2, [1, 2])], /inside the step 0→3/);
  });

  it("counts from an initial value", () => {
    expectOk([read(1, 10, [0, 1]), incr(1, 11, [2, 3])], "10");
    expectViolation([read(1, undefined, [0, 1])], /started at 10/, "10");
    expectViolation([incr(1, 1, [0, 1])], /started below 10/, "10");
  });

  it("ignores failed incrs and indeterminate reads", () => {
    expectOk([incr(1, 99, [0, 1, "failed"]), read(2, 42, [2, 3, "indeterminate"]), read(3, undefined, [4, 5])]);
    expectViolation([incr(1, undefined, [0, 1, "failed"]), read(2, 1, [2, 3])], /applied twice/);
  });

  it("rejects register ops on a counter key and malformed incrs", () => {
    expect(() => checkKey([incr(1, 1, [0, 1]), { op: "put", value: "x", ...base(1, [2, 3]) }])).toThrow(/put on a counter key/);
    expect(() => checkKey([incr(1, 1, [0, 1], 0)])).toThrow(/positive integer/);
    expect(() => checkKey([incr(1, undefined, [0, 1])])).toThrow(/without an integer result/);
  });
});

describe("counters in checkHistory and checkNoLostWrites", () => {
  const h = [incr(1, 1, [0, 1], 1, "n1"), incr(2, 2, [2, 3], 1, "n1"), incr(3, undefined, [2, 3, "indeterminate"], 1, "n1"), incr(1, 1, [0, 1], 1, "n2"), read(2, 1, [2, 3], "n2")];

  it("checks counter keys as counters", () => {
    expect(checkHistory(h).violations).toEqual([]);
    expect(checkHistory([...h, read(3, 5, [4, 5], "n2")]).violations.map((v) => v.key)).toEqual(["n2"]);
  });

  it("requires acked ≤ final ≤ acked + indeterminate", () => {
    for (const final of ["2", "3"]) expect(checkNoLostWrites(h, new Map([["n1", final]])).violations).toEqual([]);
    const lost = checkNoLostWrites(h, new Map([["n1", "1"]])).violations;
    expect(lost.map((v) => v.key)).toEqual(["n1"]);
    expect(lost[0]!.message).toMatch(/final read of "n1" → "1" is inconsistent with the history \(lost or extra increments\)/);
    expect(lost[0]!.message).toMatch(/went backwards/);
    const extra = checkNoLostWrites(h, new Map([["n1", "4"]])).violations;
    expect(extra[0]!.message).toMatch(/applied twice/);
    expect(checkNoLostWrites(h, new Map([["n2", undefined]])).violations.map((v) => v.key)).toEqual(["n2"]);
  });
});

describe("checkCounter: randomized", () => {
  it("accepts simulated histories and agrees with brute force on corrupted ones", () => {
    const rand = mulberry32(2718);
    let failing = 0;
    for (let round = 0; round < 1500; round++) {
      const h = generate(rand, 1 + Math.floor(rand() * 3), 1 + Math.floor(rand() * 3), 0.2);
      const clean = checkCounter(h);
      if (!clean.ok) throw new Error(`round ${round}: simulated history rejected\n${clean.message}`);
      const top = h.filter((o) => o.op === "incr").reduce((a, o) => a + o.delta, 0);
      for (const o of h) {
        if (o.outcome !== "ok" || rand() < 0.7) continue;
        const v = Math.floor(rand() * (top + 2));
        if (o.op === "incr") o.result = v;
        else if (o.op === "get") o.result = v === 0 ? ABSENT : present(String(v));
      }
      const expected = bruteForce(h);
      const r = checkCounter(h);
      expect(r.ok, `round ${round}\n${formatHistory(h)}`).toBe(expected);
      if (!r.ok) failing++;
    }
    expect(failing).toBeGreaterThan(300);
  });

  it("checks long histories quickly", () => {
    const rand = mulberry32(161);
    const h = generate(rand, 8, 2_000, 0.05);
    const t0 = performance.now();
    expect(checkCounter(h).ok).toBe(true);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});
