/**
 * Linearizability of a counter key's history (see history.ts): `incr` ops, acknowledged
 * with the value after them or indeterminate, and `get` reads of the counter in decimal
 * (absent: never incremented, 0, unless the history starts from an initial value).
 *
 * Model: one integer, incr adds its delta. Deltas are positive, so the value only grows and
 * each value names one point of the counter's history; an acknowledged incr → r of delta d
 * took it from r - d to r (its "step"). That makes the check a few sweeps instead of a
 * search. An op "saw" a value: a read the one it returned, an acked incr its result.
 *
 * 1. Values: a read of something other than an integer, of less than the start, or of a
 *    value inside an acknowledged step; an incr whose step starts below the start.
 * 2. Steps: two acknowledged steps overlap (with deltas of 1: two acked incrs returned the
 *    same value), so one increment's effect was lost, or counted by both.
 * 3. Real time: an op completed before another was invoked, and the later one saw less than
 *    the earlier one (an acked incr: started from less), so the counter went backwards.
 * 4. Enough increments: a value v seen by an op completing at c needs v - start units; the
 *    acked steps up to v supply theirs, the rest must come from indeterminate incrs invoked
 *    by c, else some increment was applied twice. With the final read as the last op this is
 *    "acked ≤ final ≤ acked + indeterminate" (deltas summed), 3 giving the left side.
 *
 * When every indeterminate incr adds 1, passing 1-4 is exactly linearizability (the unit
 * test compares with brute force): give each value from start + 1 up to the largest seen a
 * point, in order, each as early as its incr (an acked one, or the earliest-invoked unused
 * indeterminate one) and the reads of the value before allow; a value that cannot be placed
 * by its deadline (its acked incr completing, or a read of it completing) breaks 3 or 4.
 * With larger indeterminate deltas, which of them fill each gap is a subset-sum problem, and
 * 1-4 are what is checked. Failed incrs are ignored; indeterminate reads tell nothing.
 *
 * On a violation the witness is the ops that show it (all of them for 2 and 3; for 4 the op
 * and the indeterminate incrs it could have counted, at most `WITNESS_CAP`), not a shrunk
 * sub-history: removing incrs from a counter's history would make every later read "too
 * high", hiding the real conflict.
 */
import type { KeyCheckResult } from "./checker.js";
import type { IncrOp, Op } from "./history.js";
import { byInvoke, formatHistory, formatOp } from "./history-format.js";

const WITNESS_CAP = 12;

/** Whether a key's history is a counter's: it has incr ops (of any outcome). */
export function isCounterHistory(ops: readonly Op[]): boolean {
  return ops.some((o) => o.op === "incr");
}

/** An ok op and the value it saw; `from`: for an acked incr the value before it, else `value`. */
interface Seen {
  op: Op;
  value: number;
  from: number;
}

function validate(o: Op, key: string | undefined): void {
  if (o.key !== key) throw new TypeError(`checkCounter: mixed keys ${JSON.stringify(key)} and ${JSON.stringify(o.key)}`);
  if (o.op !== "incr" && o.op !== "get") throw new TypeError(`${o.op} on a counter key (a counter key has only incr and get): ${formatOp(o)}`);
  if (o.outcome !== "ok" && o.outcome !== "failed" && o.outcome !== "indeterminate") throw new TypeError(`bad outcome ${String(o.outcome)}: ${formatOp(o)}`);
  if (Number.isNaN(o.invokeAt) || o.invokeAt === Infinity) throw new TypeError(`bad invokeAt: ${formatOp(o)}`);
  if (o.op === "incr" && !(Number.isSafeInteger(o.delta) && o.delta > 0)) throw new TypeError(`incr with a delta that is not a positive integer: ${formatOp(o)}`);
  if (o.outcome !== "ok") return;
  if (!(o.completeAt >= o.invokeAt) || o.completeAt === Infinity) throw new TypeError(`ok op with completeAt not in [invokeAt, ∞): ${formatOp(o)}`);
  if (o.op === "incr" && !Number.isSafeInteger(o.result)) throw new TypeError(`ok incr without an integer result: ${formatOp(o)}`);
  if (o.op === "get" && (o.result === undefined || typeof o.result.found !== "boolean")) throw new TypeError(`ok get without a result: ${formatOp(o)}`);
}

/** The largest i in [0, n) with at(i) <= x, or -1 (at ascending). */
function lastAtMost(n: number, at: (i: number) => number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (at(mid) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * Check one counter key's history. `initial`: the counter's value before the history, in
 * decimal (undefined: absent, 0).
 */
export function checkCounter(history: readonly Op[], opts: { initial?: string | undefined } = {}): KeyCheckResult {
  const key = history[0]?.key;
  for (const o of history) validate(o, key);
  if (opts.initial !== undefined && !/^-?(0|[1-9][0-9]*)$/.test(opts.initial)) throw new TypeError(`counter ${JSON.stringify(key)}: initial value ${JSON.stringify(opts.initial)} is not an integer`);
  const start = opts.initial === undefined ? 0 : Number(opts.initial);
  const what = `counter ${JSON.stringify(key)}`;
  const fail = (message: string, witness: Op[]): KeyCheckResult => {
    const minimal = [...new Set(witness)].sort(byInvoke);
    return { ok: false, minimal, message: `${what}: ${message}\n${formatHistory(minimal)}` };
  };

  // 1. Values each ok op saw.
  const seen: Seen[] = [];
  for (const o of history) {
    if (o.outcome !== "ok") continue;
    if (o.op === "incr") {
      const r = o.result!;
      if (r - o.delta < start) return fail(`incr → ${r} of ${o.delta} started below ${start}, where the counter started: no increments explain it`, [o]);
      seen.push({ op: o, value: r, from: r - o.delta });
    } else if (o.op === "get") {
      const res = o.result!;
      let v: number;
      if (!res.found) {
        if (opts.initial !== undefined) return fail(`a read found the counter absent, but it started at ${start} and nothing removes it`, [o]);
        v = start;
      } else {
        if (!/^-?(0|[1-9][0-9]*)$/.test(res.value)) return fail(`a read returned ${JSON.stringify(res.value)}, not a counter`, [o]);
        v = Number(res.value);
        // Absent until the first increment: a present start value was never written.
        if (v < start || (v === start && opts.initial === undefined)) return fail(`a read returned ${v}, which no sequence of increments from ${opts.initial ?? "absent"} produces`, [o]);
      }
      seen.push({ op: o, value: v, from: v });
    }
  }

  // 2. Acknowledged steps, by value: no two overlap, and no read falls strictly inside one.
  const steps = seen.filter((s) => s.op.op === "incr").sort((a, b) => a.value - b.value || a.from - b.from);
  for (let i = 1; i < steps.length; i++) {
    const [a, b] = [steps[i - 1]!, steps[i]!];
    if (b.from < a.value) {
      const how = a.value === b.value ? `both returned ${b.value}` : `their steps ${a.from}→${a.value} and ${b.from}→${b.value} overlap`;
      return fail(`two acknowledged incrs ${how}: one increment's effect was lost (or counted by both)`, [a.op, b.op]);
    }
  }
  for (const s of seen) {
    if (s.op.op !== "get") continue;
    const i = lastAtMost(steps.length, (j) => steps[j]!.from, s.value);
    const step = i >= 0 ? steps[i]! : undefined;
    if (step !== undefined && step.from < s.value && s.value < step.value) {
      return fail(`a read returned ${s.value}, inside the step ${step.from}→${step.value} of an acknowledged incr (an incr is one step)`, [s.op, step.op]);
    }
  }

  // 3. Real time: what completed before an op was invoked saw at most what it started from.
  const byComplete = seen.slice().sort((a, b) => a.op.completeAt - b.op.completeAt);
  const byInvokeTime = seen.slice().sort((a, b) => a.op.invokeAt - b.op.invokeAt);
  let highest: Seen | undefined;
  let j = 0;
  for (const y of byInvokeTime) {
    for (; j < byComplete.length && byComplete[j]!.op.completeAt < y.op.invokeAt; j++) {
      const x = byComplete[j]!;
      if (highest === undefined || x.value > highest.value) highest = x;
    }
    if (highest !== undefined && y.from < highest.value) {
      const saw = y.op.op === "incr" ? `incremented from ${y.from}` : `read ${y.value}`;
      return fail(`the counter went backwards: an op ${saw} after one that saw ${highest.value} had completed (a lost increment)`, [highest.op, y.op]);
    }
  }

  // 4. Enough increments for every value seen, by the time it was seen.
  const indet = history.filter((o): o is IncrOp => o.op === "incr" && o.outcome === "indeterminate").sort((a, b) => a.invokeAt - b.invokeAt);
  const indetSum = [0];
  for (const o of indet) indetSum.push(indetSum.at(-1)! + o.delta);
  const ackedSum = [0];
  for (const s of steps) ackedSum.push(ackedSum.at(-1)! + (s.value - s.from));
  for (const y of seen) {
    const acked = ackedSum[lastAtMost(steps.length, (i) => steps[i]!.value, y.value) + 1]!;
    const n = lastAtMost(indet.length, (i) => indet[i]!.invokeAt, y.op.completeAt) + 1;
    const available = indetSum[n]!;
    if (y.value - start > acked + available) {
      const suspects = indet.slice(0, n).slice(-(WITNESS_CAP - 1));
      const shown = suspects.length < n ? ` (the last ${suspects.length} shown)` : "";
      return fail(
        `an op saw ${y.value}, but from ${start} the acknowledged incrs up to it add ${acked} and the ${n} indeterminate ones invoked by then at most ${available}: ` +
          `an increment was applied twice${shown}`,
        [y.op, ...suspects],
      );
    }
  }
  return { ok: true };
}
