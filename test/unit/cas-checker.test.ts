/**
 * The register checker's getEntry and cas (put with ifVersion): hand-made histories that must
 * pass or be flagged, and random ones against brute force.
 */
import { describe, expect, it } from "vitest";
import { checkKey, checkNoLostWrites, formatHistory } from "../chaos/checker.js";
import { HistoryRecorder, type Op, type Outcome } from "../chaos/history.js";
import { mulberry32 } from "../helpers/prng.js";
import { bruteForce, generate, rr } from "../helpers/register-histories.js";

// ---- op builders (key "k") -----------------------------------------------------------------

type Times = [invokeAt: number, completeAt: number, outcome?: Outcome];
const base = (process: number, [invokeAt, completeAt, outcome = "ok"]: Times) => ({ process, key: "k", invokeAt, completeAt, outcome });
const put = (p: number, value: string, t: Times): Op => ({ op: "put", value, ...base(p, t) });
const get = (p: number, value: string | undefined, t: Times): Op => ({ op: "get", result: rr(value), ...base(p, t) });
const pop = (p: number, value: string | undefined, t: Times): Op => ({ op: "pop", result: rr(value), ...base(p, t) });
/** getEntry → value @version, or absent when value is undefined. */
const entry = (p: number, value: string | undefined, version: string | undefined, t: Times): Op => ({
  op: "getEntry",
  result: value === undefined ? { found: false } : { found: true, value, version: version! },
  ...base(p, t),
});
const cas = (p: number, ifVersion: string | null, value: string, written: boolean | undefined, t: Times): Op => ({
  op: "cas",
  value,
  ifVersion,
  ...(written !== undefined && { result: written }),
  ...base(p, t),
});

function expectOk(h: Op[]): void {
  const r = checkKey(h);
  if (!r.ok) throw new Error(`expected linearizable:\n${r.message}`);
}
function expectViolation(h: Op[]): Exclude<ReturnType<typeof checkKey>, { ok: true }> {
  const r = checkKey(h);
  if (r.ok) throw new Error(`expected a violation:\n${formatHistory(h)}`);
  expect(r.inconclusive).toBeUndefined();
  return r;
}

/**
 * Whether every op of `ops` that needs another keeps one, if `original` had one: a read of a
 * value a write of it, a putIfAbsent/cas-on-absent → false or delete → ok a write invoked
 * before it completed, a cas on a version a getEntry that returned it. The checker only
 * shrinks to such sub-histories.
 */
function explained(ops: Op[], original: Op[]): boolean {
  const mayWrite = (w: Op) =>
    w.outcome !== "failed" && (w.op === "put" || ((w.op === "putIfAbsent" || w.op === "cas") && !(w.outcome === "ok" && w.result === false)));
  const valueOf = (w: Op) => (w.op === "put" || w.op === "putIfAbsent" || w.op === "cas" ? w.value : undefined);
  const canExplain = (o: Op, w: Op): boolean => {
    if (o.op === "cas" && o.ifVersion !== null) return w.op === "getEntry" && w.outcome === "ok" && w.result?.found === true && w.result.version === o.ifVersion;
    if (o.outcome !== "ok") return false;
    if ((o.op === "get" || o.op === "pop" || o.op === "getEntry") && o.result?.found === true) return mayWrite(w) && valueOf(w) === o.result.value;
    return mayWrite(w) && w.invokeAt <= o.completeAt;
  };
  return ops.every((o) => {
    const needs =
      (o.op === "cas" && o.ifVersion !== null) ||
      (o.outcome === "ok" &&
        (((o.op === "get" || o.op === "pop" || o.op === "getEntry") && o.result?.found === true) ||
          ((o.op === "putIfAbsent" || o.op === "cas") && o.result === false) ||
          (o.op === "delete" && o.result === "ok")));
    return !needs || !original.some((w) => canExplain(o, w)) || ops.some((w) => canExplain(o, w));
  });
}

// ---------------------------------------------------------------------------------------

describe("cas and getEntry: known histories", () => {
  it("accepts a read-modify-write by version and a cas on absent", () => {
    expectOk([cas(1, null, "a", true, [0, 1]), entry(2, "a", "v1", [2, 3]), cas(2, "v1", "b", true, [4, 5]), entry(1, "b", "v2", [6, 7]), get(3, "b", [8, 9])]);
    expectOk([entry(1, undefined, undefined, [0, 1]), cas(1, null, "a", true, [2, 3]), cas(2, null, "b", false, [4, 5])]);
  });

  it("flags a cas that succeeded against a stale version", () => {
    const h = [put(1, "a", [0, 1]), entry(2, "a", "v1", [2, 3]), put(1, "b", [4, 5]), cas(2, "v1", "c", true, [6, 7])];
    const r = expectViolation(h);
    // The witness keeps the getEntry that says which write v1 names.
    expect(r.minimal).toEqual(h);
    expect(r.message).toContain('cas("k", "c", @v1)');
    // ...but with the overwrite concurrent to the cas it may have come after it.
    expectOk([put(1, "a", [0, 1]), entry(2, "a", "v1", [2, 3]), put(1, "b", [4, 7]), cas(2, "v1", "c", true, [6, 8])]);
  });

  it("flags two cas on one version both succeeding, even concurrently", () => {
    const h = [put(1, "a", [0, 1]), entry(2, "a", "v1", [2, 3]), entry(3, "a", "v1", [2, 3]), cas(2, "v1", "b", true, [4, 10]), cas(3, "v1", "c", true, [5, 9])];
    expectViolation(h);
    expectOk([...h.slice(0, 4), cas(3, "v1", "c", false, [5, 9])]);
  });

  it("flags a cas refused although its version was current", () => {
    expectViolation([put(1, "a", [0, 1]), entry(2, "a", "v1", [2, 3]), cas(2, "v1", "b", false, [4, 5])]);
    // A concurrent write explains the refusal.
    expectOk([put(1, "a", [0, 1]), entry(2, "a", "v1", [2, 3]), cas(2, "v1", "b", false, [4, 5]), put(3, "z", [3.5, 6])]);
    // So does an indeterminate one, if it may have landed before.
    expectOk([put(1, "a", [0, 1]), entry(2, "a", "v1", [2, 3]), put(3, "z", [2.5, 3, "indeterminate"]), cas(2, "v1", "b", false, [4, 5])]);
  });

  it("flags a cas on absent that wrote over a present value", () => {
    expectViolation([put(1, "a", [0, 1]), cas(2, null, "b", true, [2, 3])]);
    expectOk([put(1, "a", [0, 1]), pop(3, "a", [2, 3]), cas(2, null, "b", true, [4, 5]), get(1, "b", [6, 7])]);
  });

  it("lets an indeterminate cas land only where its version is current", () => {
    // Its value is read later: it landed, and could have (v1 current until put b).
    expectOk([put(1, "a", [0, 1]), entry(2, "a", "v1", [2, 3]), cas(2, "v1", "c", undefined, [4, 5, "indeterminate"]), get(3, "c", [6, 7])]);
    // Invoked after v1 was overwritten, it could not have written the "c" read later.
    expectViolation([put(1, "a", [0, 1]), entry(2, "a", "v1", [2, 3]), put(1, "b", [4, 5]), cas(2, "v1", "c", undefined, [6, 7, "indeterminate"]), get(3, "c", [8, 9])]);
  });

  it("treats getEntry as a read", () => {
    expectViolation([put(1, "a", [0, 1]), put(1, "b", [2, 3]), entry(2, "a", "v1", [4, 5])]);
    expectViolation([entry(2, "ghost", "v1", [0, 1])]);
    expectViolation([put(1, "a", [0, 1]), entry(2, undefined, undefined, [2, 3])]);
  });

  it("flags a version read with two writes (reused), and a write read with two versions", () => {
    const reused = expectViolation([put(1, "a", [0, 1]), entry(2, "a", "7", [2, 3]), put(1, "b", [4, 5]), entry(2, "b", "7", [6, 7])]);
    expect(reused.message).toMatch(/version 7 was read with two different writes \("a" and "b"\): a version was reused/);
    expect(reused.minimal).toHaveLength(4);
    const moved = expectViolation([put(1, "a", [0, 1]), entry(2, "a", "7", [2, 3]), entry(3, "a", "8", [4, 5])]);
    expect(moved.message).toMatch(/the write of "a" was read with two versions \(7 and 8\)/);
    // Distinct versions for distinct writes, and one version per write, are fine.
    expectOk([put(1, "a", [0, 1]), entry(2, "a", "7", [2, 3]), put(1, "b", [4, 5]), entry(2, "b", "9", [6, 7]), entry(3, "b", "9", [8, 9])]);
  });

  it("rejects a cas whose version no getEntry of the key returned", () => {
    expect(() => checkKey([put(1, "a", [0, 1]), cas(2, "v1", "b", false, [2, 3])])).toThrow(/version no getEntry/);
  });

  it("finds a lost cas-written value in the final read", () => {
    const h = [put(1, "a", [0, 1]), entry(2, "a", "v1", [2, 3]), cas(2, "v1", "b", true, [4, 5])];
    expect(checkNoLostWrites(h, new Map([["k", "b"]])).violations).toEqual([]);
    const { violations } = checkNoLostWrites(h, new Map([["k", "a"]]));
    expect(violations.map((v) => v.key)).toEqual(["k"]);
    expect(violations[0]!.message).toMatch(/final read of "k" → "a" is inconsistent with the history \(lost or resurrected write\)/);
  });

  it("records getEntry, cas and incr", () => {
    let now = 0;
    const rec = new HistoryRecorder(() => now++);
    const e = rec.invoke(1, "k", { op: "getEntry" });
    rec.ok(e, { value: "a", version: "3" });
    const c = rec.invoke(1, "k", { op: "cas", value: "b", ifVersion: "3" });
    rec.ok(c, false);
    const a = rec.invoke(1, "j", { op: "getEntry" });
    rec.ok(a, null);
    const n = rec.invoke(2, "n", { op: "incr", delta: 1 });
    rec.ok(n, 5);
    expect(e).toMatchObject({ outcome: "ok", result: { found: true, value: "a", version: "3" } });
    expect(a).toMatchObject({ result: { found: false } });
    expect(c).toMatchObject({ result: false, ifVersion: "3" });
    expect(n).toMatchObject({ result: 5, delta: 1 });
    expect(formatHistory([c, n])).toContain('cas("k", "b", @3)');
  });
});

describe("cas and getEntry: randomized", () => {
  it("accepts simulated histories with cas, and agrees with brute force on corrupted ones", () => {
    const rand = mulberry32(31337);
    let failing = 0;
    let cases = 0;
    for (let round = 0; round < 500; round++) {
      const h = generate(rand, { processes: 1 + Math.floor(rand() * 3), opsPerProcess: 1 + Math.floor(rand() * 4), indeterminateRate: 0.15, failRate: 0.05, integerTimes: rand() < 0.5, cas: true });
      cases += h.filter((o) => o.op === "cas").length;
      const clean = checkKey(h);
      if (!clean.ok) throw new Error(`round ${round}: simulated history rejected\n${clean.message}`);
      // Corrupt some results (never a getEntry's: its version says which write it read).
      const written = h.flatMap((o) => (o.op === "put" || o.op === "putIfAbsent" || o.op === "cas" ? [o.value] : []));
      for (const o of h) {
        if (o.outcome !== "ok" || rand() < 0.6) continue;
        const pick = Math.floor(rand() * (written.length + 1));
        if (o.op === "get" || o.op === "pop") o.result = rr(written[pick]);
        else if (o.op === "putIfAbsent" || o.op === "cas") o.result = rand() < 0.5;
        else if (o.op === "delete") o.result = rand() < 0.5 ? "ok" : "KeyError";
      }
      const expected = bruteForce(h);
      const r = checkKey(h);
      expect(r.ok, `round ${round}\n${formatHistory(h)}`).toBe(expected);
      if (r.ok) continue;
      failing++;
      expect(bruteForce(r.minimal)).toBe(false);
      // 1-minimal: dropping any op (keeping it explained) makes it pass.
      for (let i = 0; i < r.minimal.length; i++) {
        const rest = r.minimal.filter((_, j) => j !== i);
        if (explained(rest, h)) expect(bruteForce(rest), `round ${round}, dropping ${i} of\n${formatHistory(r.minimal)}`).toBe(true);
      }
    }
    expect(cases).toBeGreaterThan(300);
    expect(failing).toBeGreaterThan(100);
  });

  it("checks 300-op, 8-process histories with cas", () => {
    const rand = mulberry32(4242);
    for (const indeterminateRate of [0, 0.03, 0.1]) {
      const h = generate(rand, { processes: 8, opsPerProcess: 38, indeterminateRate, failRate: 0.02, cas: true });
      const t0 = performance.now();
      const r = checkKey(h);
      if (!r.ok) throw new Error(r.message);
      expect(h.filter((o) => o.op === "cas" && o.outcome === "ok" && o.result === true).length).toBeGreaterThan(5);
      console.log(`${h.length} ops with cas, ${indeterminateRate * 100}% indeterminate: checked in ${(performance.now() - t0).toFixed(1)} ms`);
    }
  });
});
