/**
 * `npm run bench:pairs -- --a DIR --b DIR`: two builds of shardict against each other, in
 * interleaved pairs of put phases.
 *
 * Why pairs: this machine's speed drifts by ×1.5 and more over minutes (other tenants), so
 * two builds measured one after the other, even alternating run by run, differ by more than
 * most changes are worth. Here both builds' clusters (3 shards each, started from each
 * build's own `dist/`) are up at once, and their put phases alternate a few seconds apart,
 * the order flipped every pair: each pair sees the same minutes, and the median of the
 * per-pair ratios leaves the drift out. The same DIR twice is the A/A control, whose spread
 * is the method's own: ~±7% for a median of 10 pairs, ~±3% for 60 (README, Performance).
 *
 * A DIR is a checkout of shardict with `npm run build` done (for example a `git worktree` of
 * another commit, with this one's `node_modules` linked into it).
 *
 *   npm run bench:pairs -- --a ../before --b .              # 40 pairs of 20,000 rf 1 puts
 *   npm run bench:pairs -- --a ../before --b . --rf 2 --pairs 20
 *   npm run bench:pairs -- --a . --b . --b-shards 2     # one build, 3 shard processes against 2
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { closedLoop, logRounds, median, runFor } from "./bench/measure.js";
import { ROUND_PHASES } from "../src/store/round-times.js";
import type { Target } from "./bench/systems.js";

type Systems = typeof import("./bench/systems.js");

interface Side {
  name: "A" | "B";
  target: Target;
  /** The next key to write: every phase writes new keys, as the bench's put phase does. */
  next: number;
}

interface Phase {
  perSec: number;
  /** CPU per put, µs: the shards' (all threads) and this process's. */
  shards: number;
  client: number;
  p99: number;
  /**
   * The shards' log rounds over the phase (`shardict_log_round_seconds_total`): their mean
   * length and sync, µs, and puts per round. Absent for a build without those metrics.
   */
  round?: { micros: number; sync: number; puts: number };
}

/** The shards' log rounds so far and their wall time (all phases, and the sync's), summed over the shards. */
async function roundsOf(s: Side): Promise<{ rounds: number; seconds: number; sync: number }> {
  const out = { rounds: 0, seconds: 0, sync: 0 };
  for (const { name, url } of s.target.metricsUrls?.() ?? []) {
    if (name === "coordinator") continue;
    const r = logRounds(await (await fetch(url)).text());
    out.rounds += r.rounds;
    out.seconds += ROUND_PHASES.reduce((sum, phase) => sum + r.seconds[phase], 0);
    out.sync += r.seconds.sync;
  }
  return out;
}

const VALUE = "v".repeat(100);
const key = (i: number): string => `k${String(i).padStart(15, "0")}`;

function fail(message: string): never {
  console.error(`npm run bench:pairs: ${message}`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        a: { type: "string" },
        b: { type: "string" },
        pairs: { type: "string", default: "40" },
        ops: { type: "string", default: "20000" },
        warm: { type: "string", default: "100000" },
        // Untimed puts between reading the rounds (over HTTP) and a timed phase: see phase().
        "lead-in-s": { type: "string", default: "1" },
        rf: { type: "string", default: "1" },
        "in-flight": { type: "string", default: "50" },
        // Shard processes per side: one build at two cluster sizes (processes against cores).
        "a-shards": { type: "string", default: "3" },
        "b-shards": { type: "string", default: "3" },
      },
    });
  } catch (err) {
    return fail((err as Error).message);
  }
})();
const counts = {
  pairs: Number(values.pairs),
  ops: Number(values.ops),
  warm: Number(values.warm),
  rf: Number(values.rf),
  "in-flight": Number(values["in-flight"]),
  "a-shards": Number(values["a-shards"]),
  "b-shards": Number(values["b-shards"]),
};
for (const [name, v] of Object.entries(counts)) if (!Number.isInteger(v) || v < 1) fail(`--${name} takes a positive integer, not ${String(v)}`);
const leadInS = Number(values["lead-in-s"]);
if (!Number.isFinite(leadInS) || leadInS < 0) fail(`--lead-in-s takes a number of seconds ≥ 0, not ${String(values["lead-in-s"])}`);
const shardsOf = { A: counts["a-shards"], B: counts["b-shards"] };
const fewest = Math.min(shardsOf.A, shardsOf.B);
if (counts.rf > fewest) fail(`--rf takes 1 to ${fewest} (the smaller cluster has ${fewest} shard${fewest === 1 ? "" : "s"}), not ${counts.rf}`);
const dirs = { A: values.a, B: values.b };
for (const [name, dir] of Object.entries(dirs)) {
  if (dir === undefined) fail(`--${name.toLowerCase()} DIR is required: a checkout of shardict with npm run build done`);
  if (!existsSync(resolve(dir, "dist/scripts/bench/systems.js"))) fail(`${dir} has no dist/scripts/bench/systems.js: run npm run build there first`);
}

async function start(name: "A" | "B", dir: string): Promise<Side> {
  const systems = (await import(pathToFileURL(resolve(dir, "dist/scripts/bench/systems.js")).href)) as Systems;
  const target = await systems.startShardict({ shards: shardsOf[name], rf: counts.rf, profileDir: undefined, engine: "log" });
  return { name, target, next: 0 };
}

/**
 * A timed phase reads the shards' rounds over HTTP first, and a plain HTTP request
 * deoptimises a shard's stream code for a second or two (README, Performance, "What the
 * bench's own scrape cost"); `--lead-in-s` of untimed puts come between, so the timed puts
 * run past it. The rounds cover the lead-in with the phase.
 */
async function phase(s: Side, ops: number, timed: boolean): Promise<Phase> {
  const shards = () => (timed ? s.target.nodes().filter((n) => n.holdsData).map((n) => n.pid) : []);
  const before = timed ? await roundsOf(s) : undefined;
  let led = 0;
  if (timed && leadInS > 0) {
    const base = s.next;
    led = await runFor(leadInS, counts["in-flight"], (i) => s.target.put(key(base + i), VALUE));
    s.next += led;
  }
  const from = s.next;
  s.next += ops;
  const st = await closedLoop(ops, counts["in-flight"], (i) => s.target.put(key(from + i), VALUE), shards);
  const out: Phase = { perSec: st.opsPerSec, shards: st.serverCpuPerOp, client: st.clientCpuPerOp, p99: st.p99 };
  if (before) {
    const after = await roundsOf(s);
    const rounds = after.rounds - before.rounds;
    if (rounds > 0) out.round = { micros: ((after.seconds - before.seconds) * 1e6) / rounds, sync: ((after.sync - before.sync) * 1e6) / rounds, puts: (led + ops) / rounds };
  }
  return out;
}

const f0 = (n: number) => Math.round(n).toLocaleString("en");
const showRound = (r: Phase["round"]) => (r ? `, rounds of ${f0(r.micros)} µs (sync ${f0(r.sync)}), ${r.puts.toFixed(1)} puts each` : "");
const show = (p: Phase) => `${f0(p.perSec)} puts/s, shards ${p.shards.toFixed(1)} µs/put, client ${p.client.toFixed(1)}, p99 ${(p.p99 / 1000).toFixed(1)} ms${showRound(p.round)}`;

const sizes = shardsOf.A === shardsOf.B ? `${shardsOf.A} shards each` : `A ${shardsOf.A} shards, B ${shardsOf.B}`;
console.log(
  `A = ${dirs.A}, B = ${dirs.B}: ${sizes} at rf ${counts.rf}, both up at once; ${counts.pairs} pairs of ${f0(counts.ops)} puts per build at ${counts["in-flight"]} in flight, after ${f0(counts.warm)} each; each timed phase after ${leadInS} s of untimed puts`,
);
/** The shard processes a side's cluster runs, as started (what its CPU figures sum over). */
const running = (s: Side) => `${s.name}: ${s.target.nodes().filter((n) => n.holdsData).length} shard processes up`;
const a = await start("A", dirs.A as string);
const rows: { a: Phase; b: Phase }[] = [];
// A's cluster is stopped however B's start or a phase fails: its processes must not outlive this one.
let started: Side | undefined;
try {
  const b = (started = await start("B", dirs.B as string));
  console.log(`${running(a)}, ${running(b)}`);
  // Warm both (V8 compiles the hot paths first); the order of the first pair follows.
  await phase(a, counts.warm, false);
  await phase(b, counts.warm, false);
  for (let p = 1; p <= counts.pairs; p++) {
    const order = p % 2 === 1 ? [a, b] : [b, a];
    const got: Partial<Record<"A" | "B", Phase>> = {};
    for (const s of order) got[s.name] = await phase(s, counts.ops, true);
    const row = { a: got.A as Phase, b: got.B as Phase };
    rows.push(row);
    console.log(
      `  pair ${p} (${order[0]?.name} first): A ${show(row.a)} | B ${show(row.b)} | B ÷ A puts ×${(row.b.perSec / row.a.perSec).toFixed(2)}, shard CPU ×${(row.b.shards / row.a.shards).toFixed(2)}`,
    );
  }
} finally {
  await a.target.stop();
  await started?.target.stop();
}
const med = (f: (r: { a: Phase; b: Phase }) => number) => median(rows.map(f));
/** The median round of a side, when every one of its phases had rounds to show. */
const medRound = (side: "a" | "b"): Phase["round"] =>
  rows.every((r) => r[side].round !== undefined)
    ? { micros: med((r) => r[side].round?.micros ?? 0), sync: med((r) => r[side].round?.sync ?? 0), puts: med((r) => r[side].round?.puts ?? 0) }
    : undefined;
console.log(`median A: ${f0(med((r) => r.a.perSec))} puts/s, shards ${med((r) => r.a.shards).toFixed(1)} µs/put, client ${med((r) => r.a.client).toFixed(1)} µs/put${showRound(medRound("a"))}`);
console.log(`median B: ${f0(med((r) => r.b.perSec))} puts/s, shards ${med((r) => r.b.shards).toFixed(1)} µs/put, client ${med((r) => r.b.client).toFixed(1)} µs/put${showRound(medRound("b"))}`);
const lower = rows.filter((r) => r.b.shards < r.a.shards).length;
console.log(
  `B ÷ A, median of the pairs: puts ×${med((r) => r.b.perSec / r.a.perSec).toFixed(3)}, shard CPU per put ×${med((r) => r.b.shards / r.a.shards).toFixed(3)}, client CPU per put ×${med((r) => r.b.client / r.a.client).toFixed(3)} (B's shard CPU lower in ${lower} of ${rows.length} pairs)`,
);
process.exit(0);
