/**
 * The chaos suite: real node processes, 8 clients running a mixed workload on a small key
 * space (registers, compare-and-set on entry versions among their ops, and counters) while
 * faults from the table are injected; every key's history must be linearizable and no
 * acknowledged write or increment may be lost (nor one applied twice) once the cluster heals.
 * Watchers (the whole dict, single keys, one resumed in a new process mid-run) must each
 * get exactly their keys' changes, in order, once (watch-checker.ts). One more seed draws only
 * from the membership faults (shards joining, leaving, rejoining, killed mid-move).
 *
 * `npm test` runs a short pass. `npm run chaos -- --seeds N --duration S` runs a longer one
 * (it sets SHARDICT_CHAOS_SEEDS / SHARDICT_CHAOS_DURATION_S / SHARDICT_CHAOS_FIRST_SEED).
 */
import { afterAll, describe, expect, it } from "vitest";
import { runChaos, summarize, type ChaosResult } from "./runner.js";
import { checkHistory, checkNoLostWrites } from "./checker.js";
import type { GetEntryOp, GetOp, Op } from "./history.js";
import { checkWatcher, type SeenEvent, type WatchCheckInput, type WatcherRecord } from "./watch-checker.js";
import { MARKER_PROCESS } from "./watchers.js";

const seeds = Number(process.env.SHARDICT_CHAOS_SEEDS ?? 2);
const firstSeed = Number(process.env.SHARDICT_CHAOS_FIRST_SEED ?? 1);
const durationMs = Number(process.env.SHARDICT_CHAOS_DURATION_S ?? 12) * 1000;
const verbose = process.env.SHARDICT_CHAOS_VERBOSE === "1";
const rf = Number(process.env.SHARDICT_CHAOS_RF ?? 2);
const retryBudgetMs = process.env.SHARDICT_CHAOS_RETRY_BUDGET_MS === undefined ? undefined : Number(process.env.SHARDICT_CHAOS_RETRY_BUDGET_MS);
/** Shards joining and leaving, and processes killed in the middle of a partition move. */
const MEMBERSHIP_FAULTS = ["join shard, then leave", "leave shard, rejoin", "kill -9 mid-move"];
/** Failing syncs (fail-stop, supervised restarts) mixed with plain crashes. */
const DISK_FAULTS = ["fsync EIO on shard", "kill -9 shard, restart"];

/**
 * The watch check is not vacuous: a watcher's recorded stream passes, and fails with an event
 * dropped, delivered twice, two events swapped, a value never written, and a final read
 * changed. (The watcher with the most acknowledged writes after its last reset: at rf 1 a
 * restarted shard resets the whole-dict watchers.)
 */
function tamperWatch(result: ChaosResult): void {
  const { records, input } = result.watch;
  const writer = new Map<string, Op>();
  for (const o of input.history) if (o.op === "put" || o.op === "putIfAbsent" || o.op === "cas") writer.set(o.value, o);
  /** Puts of acknowledged register writes the workload made after the watcher's last reset. */
  const ackedOf = (w: WatcherRecord) => {
    const from = Math.max(w.startedAt, ...w.events.filter((e) => e.type === "reset").map((e) => e.at));
    return w.events.flatMap((e, i) => {
      const o = typeof e.value === "string" ? writer.get(e.value) : undefined;
      return e.type === "put" && o !== undefined && o.outcome === "ok" && o.process !== MARKER_PROCESS && o.invokeAt > from ? [{ e, i, o }] : [];
    });
  };
  const w = records.reduce((a, b) => (ackedOf(b).length > ackedOf(a).length ? b : a));
  const acked = ackedOf(w);
  const kinds = (events: readonly SeenEvent[], inp: WatchCheckInput = input) => checkWatcher({ ...w, events }, inp).violations.map((v) => v.kind);
  expect(kinds(w.events)).toEqual([]);
  const drop = acked[Math.floor(acked.length / 2)];
  if (drop === undefined) throw new Error("no watcher delivered an acknowledged write after its last reset");
  expect(kinds(w.events.filter((_, i) => i !== drop.i))).toContain("missed");
  expect(kinds([...w.events.slice(0, drop.i + 1), drop.e, ...w.events.slice(drop.i + 1)])).toContain("duplicate");
  // Two writes of one key, the first completed before the second was invoked, delivered the other way round.
  const pair = acked.flatMap((a) => acked.filter((b) => b.e.key === a.e.key && a.o.completeAt < b.o.invokeAt).map((b) => [a, b] as const))[0];
  if (pair === undefined) throw new Error("no two non-overlapping acknowledged writes of one key");
  const swapped = w.events.map((e, i) => (i === pair[0].i ? pair[1].e : i === pair[1].i ? pair[0].e : e));
  expect(kinds(swapped)).toContain("reordered");
  expect(kinds(w.events.map((e, i) => (i === drop.i ? { ...e, value: "never-written" } : e)))).toContain("invented");
  const final = new Map(input.final!.state).set(drop.e.key!, "never-written");
  expect(kinds(w.events, { ...input, final: { at: input.final!.at, state: final } })).toEqual(["final-state"]);
}

describe("chaos", () => {
  const results: ChaosResult[] = [];
  const run = async (seed: number, faults?: readonly string[]) => {
    const t0 = performance.now();
    const result = await runChaos({
      seed,
      durationMs,
      replicationFactor: rf,
      ...(faults && { faults }),
      ...(retryBudgetMs !== undefined && { retryBudgetMs }),
      // The fault schedule always (to reproduce a failure); every node's lines when verbose.
      log: (l: string) => {
        if (verbose || l.startsWith("chaos: ")) console.log(`${((performance.now() - t0) / 1000).toFixed(2).padStart(7)} ${l}`);
      },
    });
    results.push(result);
    console.log(summarize([result]));
    expect(result.events.length).toBeGreaterThan(0);
    expect(result.ok).toBeGreaterThan(100);
    expect(result.problems).toEqual([]);
    expect(result.violations.map((v) => `${v.key}: ${v.message}`)).toEqual([]);
    const watch = result.watch.checks;
    expect(watch.every((c) => c.events > 0)).toBe(true);
    expect(watch.flatMap((c) => c.violations).map((v) => `${v.watcher}, ${v.key ?? "-"}: ${v.kind}: ${v.message}`)).toEqual([]);
    expect(watch.reduce((n, c) => n + c.missed, 0)).toBe(0);
  };
  for (let s = firstSeed; s < firstSeed + seeds; s++) {
    it(`seed ${s} (rf ${rf}): linearizable, nothing acknowledged lost`, () => run(s), durationMs + 120_000);
  }
  const membershipSeed = firstSeed + seeds;
  it(`seed ${membershipSeed} (rf ${rf}): membership faults only`, () => run(membershipSeed, MEMBERSHIP_FAULTS), durationMs + 120_000);
  it(`seed ${membershipSeed + 1} (rf ${rf}): disk faults (failing syncs) and crashes only`, () => run(membershipSeed + 1, DISK_FAULTS), durationMs + 120_000);
  it("the check is not vacuous: a recorded run with one read, version, final value or watch event tampered with fails it", async () => {
    const result = await runChaos({ seed: 99, durationMs: 2_000, faults: ["kill -9 shard, restart"] });
    expect(result.violations).toEqual([]);
    expect(result.watch.checks.flatMap((c) => c.violations)).toEqual([]);
    const counterKeys = new Set(result.history.filter((o) => o.op === "incr").map((o) => o.key));
    expect(counterKeys.size).toBeGreaterThan(0);
    const history = result.history.map((o) => ({ ...o }));
    const read = history.find((o): o is GetOp => o.op === "get" && o.outcome === "ok" && !counterKeys.has(o.key));
    if (!read) throw new Error("no successful read recorded");
    read.result = { found: true, value: "never-written" };
    const caught = checkHistory(history).violations;
    expect(caught.map((v) => v.key)).toEqual([read.key]);
    // A lost acknowledged write: an acknowledged put made after everything else (so nothing
    // overlaps it) on a key with no indeterminate op, and the key read back absent. (Tampering
    // with a recorded value alone can be linearizable: a concurrent pop may explain it.)
    const certain = (key: string) => result.history.every((o) => o.key !== key || o.outcome !== "indeterminate");
    const key = [...result.finalState.keys()].find((k) => certain(k) && !counterKeys.has(k));
    if (key === undefined) throw new Error("every key has an indeterminate operation");
    const end = Math.max(...result.history.flatMap((o) => [o.invokeAt, o.completeAt]).filter(Number.isFinite)) + 1;
    const last: Op = { op: "put", process: 9999, key, value: "acknowledged-last", invokeAt: end, completeAt: end + 1, outcome: "ok" };
    const history2 = [...result.history, last];
    expect(checkNoLostWrites(history2, new Map(result.finalState).set(key, "acknowledged-last")).violations).toEqual([]);
    const lost = new Map(result.finalState).set(key, undefined);
    expect(checkNoLostWrites(history2, lost).violations.map((v) => v.key)).toContain(key);
    // A version read with a second write (reused): two getEntry reads of different writes of
    // one key, the later one given the earlier one's version.
    const entries = result.history.filter((o): o is GetEntryOp & { result: { found: true } } => o.op === "getEntry" && o.outcome === "ok" && o.result?.found === true);
    const pair = entries.flatMap((a) => entries.filter((b) => b.key === a.key && b.result.value !== a.result.value).map((b) => [a, b] as const))[0];
    if (pair === undefined) throw new Error("no key with two getEntry reads of different writes");
    const [first, second] = pair;
    const reused = result.history.map((o) => (o === second ? { ...second, result: { ...second.result, version: first.result.version } } : o));
    expect(checkHistory(reused).violations.map((v) => v.key)).toEqual([second.key]);
    // A counter's final value below its acknowledged increments, and above them and every
    // indeterminate one.
    const counter = [...counterKeys][0]!;
    const incrs = result.history.filter((o) => o.key === counter && o.op === "incr");
    const most = incrs.filter((o) => o.outcome !== "failed").length;
    expect(incrs.some((o) => o.outcome === "ok")).toBe(true);
    expect(checkNoLostWrites(result.history, new Map([[counter, result.finalState.get(counter)]])).violations).toEqual([]);
    for (const tampered of [undefined, String(most + 1)]) {
      expect(checkNoLostWrites(result.history, new Map([[counter, tampered]])).violations.map((v) => v.key)).toEqual([counter]);
    }
    tamperWatch(result);
  }, 120_000);

  afterAll(() => {
    if (results.length > 1) console.log(`\n=== chaos summary ===\n${summarize(results)}`);
  });
});
