import { describe, expect, it } from "vitest";
import { checkHistory, checkKey, checkNoLostWrites, formatHistory } from "../chaos/checker.js";
import { HistoryRecorder, present, type DeleteResult, type Op, type Outcome } from "../chaos/history.js";
import { mulberry32 } from "../helpers/prng.js";
import { bruteForce, generate, rr } from "../helpers/register-histories.js";

// ---- op builders (key "k" unless given) -------------------------------------------------

type Times = [invokeAt: number, completeAt: number, outcome?: Outcome];
const base = (process: number, [invokeAt, completeAt, outcome = "ok"]: Times, key = "k") => ({ process, key, invokeAt, completeAt, outcome });
const put = (p: number, value: string, t: Times, key?: string): Op => ({ op: "put", value, ...base(p, t, key) });
const pia = (p: number, value: string, written: boolean, t: Times): Op => ({ op: "putIfAbsent", value, result: written, ...base(p, t) });
const get = (p: number, value: string | undefined, t: Times, key?: string): Op => ({ op: "get", result: rr(value), ...base(p, t, key) });
const pop = (p: number, value: string | undefined, t: Times, key?: string): Op => ({ op: "pop", result: rr(value), ...base(p, t, key) });
const del = (p: number, result: DeleteResult, t: Times): Op => ({ op: "delete", result, ...base(p, t) });

function expectOk(h: Op[], initial?: string): void {
  const r = checkKey(h, { initial });
  if (!r.ok) throw new Error(`expected linearizable:\n${r.message}`);
}
function expectViolation(h: Op[], initial?: string): Exclude<ReturnType<typeof checkKey>, { ok: true }> {
  const r = checkKey(h, { initial });
  if (r.ok) throw new Error(`expected a violation:\n${formatHistory(h)}`);
  expect(r.inconclusive).toBeUndefined();
  return r;
}

/**
 * Whether every op of `ops` that needs a write keeps one, if `original` had one: a read of a
 * value a write of it, a putIfAbsent → false or delete → ok (key present) a write invoked
 * before it completed (unless there is an initial value). The checker only shrinks to such
 * "explained" sub-histories.
 */
function explained(ops: Op[], original: Op[], hasInitial: boolean): boolean {
  const mayWrite = (w: Op) => w.outcome !== "failed" && (w.op === "put" || (w.op === "putIfAbsent" && !(w.outcome === "ok" && w.result === false)));
  const canExplain = (o: Op, w: Op) =>
    mayWrite(w) && (o.op === "get" || o.op === "pop" ? o.result?.found === true && (w.op === "put" || w.op === "putIfAbsent") && w.value === o.result.value : w.invokeAt <= o.completeAt);
  return ops.every((o) => {
    if (o.outcome !== "ok") return true;
    const needs = ((o.op === "get" || o.op === "pop") && o.result?.found === true) || (!hasInitial && ((o.op === "putIfAbsent" && o.result === false) || (o.op === "delete" && o.result === "ok")));
    return !needs || !original.some((w) => canExplain(o, w)) || ops.some((w) => canExplain(o, w));
  });
}

/** A sub-history is 1-minimal if dropping any op (keeping it explained) makes it pass. */
function expectOneMinimal(minimal: Op[], original: Op[], passes: (ops: Op[]) => boolean, hasInitial = false): void {
  for (let i = 0; i < minimal.length; i++) {
    const rest = minimal.filter((_, j) => j !== i);
    if (explained(rest, original, hasInitial)) expect(passes(rest), `dropping ${i} of\n${formatHistory(minimal)}`).toBe(true);
  }
}

/**
 * Make an ok get read a value that is certainly stale: written only by an ok put W1 that
 * finished before another ok put W2 started, which finished before the get started.
 * Returns undefined if the history has no such triple.
 */
function staleRead(h: Op[], rand: () => number): Op[] | undefined {
  const puts = h.filter((o) => o.op === "put" && o.outcome === "ok");
  const gets = h.filter((o) => o.op === "get" && o.outcome === "ok");
  const cands: [Op, Op][] = [];
  for (const g of gets) {
    for (const w2 of puts) {
      if (w2.completeAt >= g.invokeAt) continue;
      for (const w1 of puts) if (w1.completeAt < w2.invokeAt && w1.op === "put") cands.push([g, w1]);
    }
  }
  const pick = cands[Math.floor(rand() * cands.length)];
  if (pick === undefined) return undefined;
  const [g, w1] = pick;
  if (w1.op !== "put") return undefined;
  return h.map((o) => (o === g ? { ...g, result: present(w1.value) } as Op : o));
}

// ---------------------------------------------------------------------------------------

describe("checkKey: known histories", () => {
  it("accepts sequential put/get", () => {
    expectOk([get(1, undefined, [0, 1]), put(1, "a", [2, 3]), get(2, "a", [4, 5]), put(2, "b", [6, 7]), get(1, "b", [8, 9])]);
  });

  it("accepts an empty history and one of only failed ops", () => {
    expectOk([]);
    expectOk([get(1, "zzz", [0, 1, "failed"]), del(1, "ok", [2, 3, "failed"])]);
  });

  it("accepts concurrent puts where a get returns either value", () => {
    const puts = [put(1, "a", [0, 10]), put(2, "b", [1, 9])];
    expectOk([...puts, get(3, "a", [11, 12])]);
    expectOk([...puts, get(3, "b", [11, 12])]);
    // Both orders observed by one reader during the overlap are fine too.
    expectOk([...puts, get(3, "a", [2, 3]), get(3, "b", [4, 5])]);
    expectOk([...puts, get(3, "b", [2, 3]), get(3, "a", [4, 5])]);
  });

  it("treats equal times as concurrent", () => {
    // put completes at 5, get invoked at 5: they may be in either order.
    expectOk([put(1, "a", [0, 5]), get(2, undefined, [5, 6])]);
    expectViolation([put(1, "a", [0, 5]), get(2, undefined, [5.001, 6])]);
  });

  it("rejects a stale read", () => {
    const r = expectViolation([put(1, "a", [0, 1]), put(1, "b", [2, 3]), get(2, "a", [4, 5])]);
    expect(r.message).toContain("not linearizable");
    expect(r.message).toContain('get("k")');
  });

  it("rejects a lost acknowledged write", () => {
    expectViolation([put(1, "a", [0, 1]), get(2, undefined, [2, 3])]);
  });

  it("rejects two putIfAbsent both writing, accepts one winner", () => {
    expectViolation([pia(1, "a", true, [0, 10]), pia(2, "b", true, [1, 11])]);
    expectOk([pia(1, "a", true, [0, 10]), pia(2, "b", false, [1, 11]), get(3, "a", [12, 13])]);
    expectViolation([pia(1, "a", true, [0, 10]), pia(2, "b", false, [1, 11]), get(3, "b", [12, 13])]);
    // With a pop in between both may win.
    expectOk([pia(1, "a", true, [0, 1]), pop(3, "a", [2, 3]), pia(2, "b", true, [4, 5])]);
  });

  it("rejects a double pop of one value", () => {
    expectViolation([put(1, "a", [0, 1]), pop(2, "a", [2, 10]), pop(3, "a", [3, 11])]);
    expectOk([put(1, "a", [0, 1]), pop(2, "a", [2, 10]), pop(3, undefined, [3, 11])]);
  });

  it("accepts an indeterminate put whose value is later read", () => {
    expectOk([put(1, "a", [0, 1, "indeterminate"]), get(2, "a", [50, 51])]);
    // ...even if the read happens before the writer gave up, as long as after invoke.
    expectOk([put(1, "a", [10, 20, "indeterminate"]), get(2, undefined, [11, 12]), get(2, "a", [13, 14]), get(2, "a", [100, 101])]);
    // But not before it was invoked.
    expectViolation([get(2, "a", [0, 1]), put(1, "a", [5, 6, "indeterminate"])]);
  });

  it("accepts an indeterminate put never read", () => {
    expectOk([put(1, "a", [0, 1]), put(2, "b", [2, 3, "indeterminate"]), get(3, "a", [10, 11]), get(3, "a", [20, 21])]);
  });

  it("lets an indeterminate put take effect after later ops, but only once", () => {
    // The indeterminate write of "b" lands between the reads of "c" and the second "b".
    expectOk([put(1, "b", [0, 1, "indeterminate"]), put(2, "c", [5, 6]), get(3, "c", [7, 8]), get(3, "b", [9, 10])]);
    // It cannot take effect twice: b, c, b requires two writes of "b".
    expectViolation([put(1, "b", [0, 1, "indeterminate"]), get(3, "b", [2, 3]), put(2, "c", [5, 6]), get(3, "c", [7, 8]), get(3, "b", [9, 10])]);
  });

  it("ignores failed ops", () => {
    expectViolation([put(1, "a", [0, 1, "failed"]), get(2, "a", [2, 3])]);
    expectOk([put(1, "a", [0, 1]), pop(1, "a", [2, 3, "failed"]), get(2, "a", [4, 5])]);
  });

  it("rejects a read of a value that was never written", () => {
    expectViolation([put(1, "a", [0, 1]), get(2, "ghost", [2, 3])]);
    expectViolation([get(2, "ghost", [2, 3])]);
  });

  it("rejects a delete KeyError while the value is present", () => {
    expectViolation([put(1, "a", [0, 1]), del(2, "KeyError", [2, 3])]);
    expectOk([put(1, "a", [0, 1]), del(2, "ok", [2, 3]), del(2, "KeyError", [4, 5]), get(1, undefined, [6, 7])]);
    expectViolation([del(2, "ok", [0, 1])]);
  });

  it("honours an initial state", () => {
    expectOk([get(1, "init", [0, 1])], "init");
    expectViolation([get(1, "init", [0, 1])]);
    expectOk([pia(1, "x", false, [0, 1]), pop(1, "init", [2, 3])], "init");
  });

  it("rejects malformed ops", () => {
    const bad = { op: "get", process: 1, key: "k", invokeAt: 0, completeAt: 1, outcome: "ok" } as Op;
    expect(() => checkKey([bad])).toThrow(/without a result/);
    expect(() => checkKey([put(1, "a", [5, 1])])).toThrow(/completeAt/);
    expect(() => checkKey([put(1, "a", [0, 1], "k1"), put(1, "b", [0, 1], "k2")])).toThrow(/mixed keys/);
  });
});

describe("minimal failing sub-history", () => {
  it("is no longer than the input, still fails, and is 1-minimal", () => {
    const h = [
      put(1, "a", [0, 1]),
      get(2, "a", [1.5, 2]),
      put(3, "x", [0, 0.5, "failed"]),
      put(1, "b", [2, 3]),
      get(2, "b", [4, 5]),
      put(1, "c", [6, 7, "indeterminate"]),
      get(4, "c", [3.5, 8]),
      put(1, "d", [9, 10]),
      get(2, "b", [11, 12]), // stale: "d" completed at 10
      get(3, "d", [13, 14]),
    ];
    const r = expectViolation(h);
    expect(r.minimal.length).toBeLessThanOrEqual(h.length);
    expect(r.minimal.length).toBeLessThan(h.length);
    expect(checkKey(r.minimal).ok).toBe(false);
    expectOneMinimal(r.minimal, h, (ops) => checkKey(ops).ok);
    // The stale read, the write it read, and the write(s) it missed: put "d", or the
    // indeterminate put "c" which the read of "c" proves landed before 8.
    expect(r.minimal).toContain(h[8]);
    expect(r.minimal).toContain(h[3]);
    expect(r.minimal.length).toBeLessThanOrEqual(4);
    expect(r.message).toContain(`1-minimal failing sub-history of ${r.minimal.length}`);
    expect(r.message).toContain('get("k")');
    // Without put "c" and its read, it is put b, put d, get b.
    const r2 = expectViolation(h.filter((_, i) => i !== 5 && i !== 6));
    expect(r2.minimal).toEqual([h[3], h[7], h[8]]);
  });

  it("can be switched off", () => {
    const h = [put(1, "a", [0, 1]), put(1, "b", [2, 3]), get(2, "b", [4, 5]), get(2, undefined, [6, 7])];
    const r = checkKey(h, { minimize: false });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.minimal).toHaveLength(4);
    const m = checkKey(h);
    if (!m.ok) expect(m.minimal.length).toBeLessThan(4);
  });
});

describe("checkHistory", () => {
  it("splits by key and reports only failing keys", () => {
    const h = [put(1, "a", [0, 1], "k1"), get(2, "a", [2, 3], "k1"), put(1, "b", [0, 1], "k2"), get(2, undefined, [2, 3], "k2"), get(3, "b", [4, 5], "k2")];
    const { violations } = checkHistory(h);
    expect(violations.map((v) => v.key)).toEqual(["k2"]);
    expect(violations[0]!.minimal.every((o) => o.key === "k2")).toBe(true);
  });

  it("uses per-key initial state", () => {
    const h = [get(1, "x", [0, 1], "k1")];
    expect(checkHistory(h).violations).toHaveLength(1);
    expect(checkHistory(h, { initial: new Map([["k1", "x"]]) }).violations).toHaveLength(0);
  });
});

describe("checkNoLostWrites", () => {
  const h = [put(1, "a", [0, 1], "k1"), put(2, "b", [0, 1], "k2"), put(2, "c", [2, 3, "indeterminate"], "k2"), put(3, "d", [0, 1], "k3"), pop(3, "d", [2, 3], "k3"), put(3, "e", [4, 5, "failed"])];

  it("accepts final values consistent with the history", () => {
    expect(checkNoLostWrites(h, new Map([["k1", "a"], ["k2", "b"], ["k3", undefined]])).violations).toEqual([]);
    // The indeterminate write may have landed.
    expect(checkNoLostWrites(h, new Map([["k2", "c"]])).violations).toEqual([]);
  });

  it("detects a final read that lost an acknowledged write", () => {
    const { violations } = checkNoLostWrites(h, new Map([["k1", undefined], ["k2", "b"]]));
    expect(violations.map((v) => v.key)).toEqual(["k1"]);
    expect(violations[0]!.message).toMatch(/final read of "k1" → absent is inconsistent/);
    // The witness: the acknowledged put and the final read.
    expect(violations[0]!.minimal.map((o) => [o.process, o.op])).toEqual([[1, "put"], [-1, "get"]]);
  });

  it("keeps the final read in the witness", () => {
    const hist = [put(1, "a", [0, 1]), get(2, "a", [1.5, 2]), pia(3, "q", false, [2, 3]), put(1, "d", [9, 10])];
    const { violations } = checkNoLostWrites(hist, new Map([["k", undefined]]));
    expect(violations).toHaveLength(1);
    const m = violations[0]!.minimal;
    expect(m.at(-1)).toMatchObject({ process: -1, op: "get", result: { found: false } });
    // ...with one of the acknowledged puts it lost, not the lone putIfAbsent → false.
    expect(m).toHaveLength(2);
    expect(m[0]).toMatchObject({ op: "put", outcome: "ok" });
  });

  it("detects resurrected and failed writes, and values of unknown keys", () => {
    const { violations } = checkNoLostWrites(h, new Map([["k3", "e"], ["k4", "ghost"]]));
    expect(violations.map((v) => v.key).sort()).toEqual(["k3", "k4"]);
  });

  it("orders the final read after indeterminate invokes too", () => {
    const late = [put(1, "a", [0, 1]), put(2, "z", [50, 51, "indeterminate"])];
    expect(checkNoLostWrites(late, new Map([["k", "z"]])).violations).toEqual([]);
  });
});

describe("HistoryRecorder", () => {
  it("records invoke/complete times and results", () => {
    let now = 0;
    const rec = new HistoryRecorder(() => now++);
    const a = rec.invoke(1, "k", { op: "put", value: "a" });
    const g = rec.invoke(2, "k", { op: "get" });
    rec.ok(a);
    rec.ok(g, "a");
    const u = rec.invokeUpdate(1, { k: "b", j: "c" });
    const p = rec.invoke(2, "k", { op: "pop" });
    const d = rec.invoke(3, "j", { op: "delete" });
    const f = rec.invoke(3, "k", { op: "putIfAbsent", value: "x" });
    rec.ok(u);
    rec.ok(p, "b");
    rec.fail(f);
    rec.ok(d, "ok");
    const lost = rec.invoke(4, "k", { op: "put", value: "q" }); // never settled: indeterminate
    const h = rec.history();
    expect(h).toHaveLength(8);
    expect(g).toMatchObject({ invokeAt: 1, completeAt: 3, outcome: "ok", result: { found: true, value: "a" } });
    expect(u.map((o) => [o.key, o.invokeAt, o.completeAt])).toEqual([["k", 4, 8], ["j", 4, 8]]);
    expect(lost.outcome).toBe("indeterminate");
    expect(checkHistory(h).violations).toEqual([]);
    expect(formatHistory(h)).toContain("p4    put(\"k\", \"q\")");
  });
});

describe("randomized", () => {
  it("accepts simulated linearizable histories and rejects impossible and stale reads", () => {
    const rand = mulberry32(20240601);
    let mutated = 0;
    let staled = 0;
    for (let round = 0; round < 150; round++) {
      const h = generate(rand, {
        processes: 1 + Math.floor(rand() * 5),
        opsPerProcess: 1 + Math.floor(rand() * 12),
        indeterminateRate: rand() < 0.5 ? 0.1 : 0,
        failRate: 0.05,
        integerTimes: round % 3 === 0,
      });
      const r = checkKey(h);
      if (!r.ok) throw new Error(`round ${round}: simulated history rejected\n${r.message}`);
      const gets = h.filter((o) => o.op === "get" && o.outcome === "ok");
      const victim = gets[Math.floor(rand() * gets.length)];
      if (victim === undefined || victim.op !== "get") continue;
      const bad = h.map((o) => (o === victim ? { ...victim, result: present("never-written") } : o));
      const m = checkKey(bad);
      expect(m.ok, `round ${round}`).toBe(false);
      if (!m.ok) expect(checkKey(m.minimal).ok).toBe(false);
      mutated++;
      const stale = staleRead(h, rand);
      if (stale === undefined) continue;
      const s = checkKey(stale);
      expect(s.ok, `round ${round}`).toBe(false);
      if (!s.ok) {
        expect(s.minimal.length).toBeLessThanOrEqual(stale.length);
        expect(checkKey(s.minimal).ok).toBe(false);
      }
      staled++;
    }
    expect(mutated).toBeGreaterThan(100);
    expect(staled).toBeGreaterThan(50);
  });

  it("agrees with brute force on small histories with arbitrary results", () => {
    const rand = mulberry32(7);
    const values = ["c0-0", "c1-1", "c0-2", "c2-3"];
    let failing = 0;
    for (let round = 0; round < 600; round++) {
      const h = generate(rand, { processes: 1 + Math.floor(rand() * 3), opsPerProcess: 1 + Math.floor(rand() * 3), indeterminateRate: 0.2, failRate: 0.05, integerTimes: rand() < 0.5 });
      // Corrupt some results to plausible-but-maybe-wrong values.
      for (const o of h) {
        if (o.outcome !== "ok" || rand() < 0.6) continue;
        const pick = rand() * (values.length + 1);
        const v = pick < values.length ? values[Math.floor(pick)] : undefined;
        if (o.op === "get" || o.op === "pop") o.result = rr(v);
        else if (o.op === "putIfAbsent") o.result = rand() < 0.5;
        else if (o.op === "delete") o.result = rand() < 0.5 ? "ok" : "KeyError";
      }
      const initial = rand() < 0.2 ? "init" : undefined;
      const expected = bruteForce(h, initial);
      const r = checkKey(h, { initial });
      expect(r.ok, `round ${round}\n${formatHistory(h)}`).toBe(expected);
      if (!r.ok) {
        failing++;
        expect(r.minimal.length).toBeLessThanOrEqual(h.length);
        expect(bruteForce(r.minimal, initial)).toBe(false);
        expectOneMinimal(r.minimal, h, (ops) => bruteForce(ops, initial), initial !== undefined);
      }
    }
    expect(failing).toBeGreaterThan(100);
  });

  it("checks 300-op, 8-process histories", () => {
    const rand = mulberry32(99);
    for (const indeterminateRate of [0, 0.03, 0.1]) {
      const h = generate(rand, { processes: 8, opsPerProcess: 38, indeterminateRate, failRate: 0.02 });
      expect(h.length).toBeGreaterThanOrEqual(300);
      const t0 = performance.now();
      const r = checkKey(h);
      const t1 = performance.now();
      expect(r.ok).toBe(true);
      const stale = staleRead(h, rand)!;
      const m = checkKey(stale);
      const t2 = performance.now();
      expect(m.ok).toBe(false);
      if (!m.ok) expect(m.minimal.length).toBeLessThan(10);
      console.log(`${h.length} ops, ${indeterminateRate * 100}% indeterminate: linearizable in ${(t1 - t0).toFixed(1)} ms; stale read found and shrunk in ${(t2 - t1).toFixed(1)} ms`);
    }
  });
});
