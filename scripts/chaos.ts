/**
 * `npm run chaos -- --seeds N --duration S [--first-seed K]`: a longer chaos run. It runs the
 * chaos suite (test/chaos) with these settings and prints its summary table: operations,
 * faults by type, ok / failed / indeterminate counts (in all and per op type), the counters'
 * totals, the watchers (events checked, resets, missed events), violations (the watchers'
 * among them), and the longest unavailability after each fault type. Exits non-zero on any
 * violation. `--help` lists the flags and the environment variables the suite reads.
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "5" },
    duration: { type: "string", default: "60" },
    "first-seed": { type: "string", default: "1" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run chaos -- [--seeds N] [--duration S] [--first-seed K] [--verbose]

  --seeds N       seeds with every fault type (default 5); one seed each with only
                  membership faults and only disk faults follows them
  --duration S    seconds of faults and load per seed (default 60)
  --first-seed K  the first seed (default 1)
  --verbose       every node's log lines, not only the fault schedule

environment:
  SHARDICT_CHAOS_RF=N                  replication factor (default 2)
  SHARDICT_CHAOS_RETRY_BUDGET_MS=MS    the clients' retry budget (default 4000); shorter than
                                       a fault, writes end indeterminate during it`);
  process.exit(0);
}
for (const [name, v] of Object.entries({ seeds: values.seeds, duration: values.duration, "first-seed": values["first-seed"] })) {
  if (!/^\d+$/.test(v) || Number(v) < 1) {
    console.error(`chaos: --${name} must be a positive integer, got "${v}"`);
    process.exit(2);
  }
}
const seeds = Number(values.seeds);
const duration = Number(values.duration);
// Each seed needs its duration plus cluster start-up and checking; checking a long run's
// histories (tens of thousands of operations per key) can take a few times the run itself.
const timeoutMs = (duration * 5 + 300) * 1000;
const run = spawnSync("npx", ["vitest", "run", "test/chaos/chaos.test.ts", "--testTimeout", String(timeoutMs), "-t", "seed|vacuous"], {
  stdio: "inherit",
  env: {
    ...process.env,
    SHARDICT_CHAOS_SEEDS: String(seeds),
    SHARDICT_CHAOS_DURATION_S: String(duration),
    SHARDICT_CHAOS_FIRST_SEED: values["first-seed"],
    SHARDICT_CHAOS_VERBOSE: values.verbose ? "1" : "0",
  },
});
process.exit(run.status ?? 1);
