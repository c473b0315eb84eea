/**
 * `npm run bench -- --vs-redis-cluster` (and --vs-nats, --vs-etcd, --vs-floor): bad combinations stop it
 * before it starts anything (exit 2, with the usage), --help lists the flags, and a small run
 * prints every row and the targets, says what is not installed, and leaves no process or
 * folder behind. The run needs redis-server and redis-cli (apt-get install -y redis-server);
 * without them it is skipped, saying so. Runs the built script (dist/scripts/bench.js).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BENCH = fileURLToPath(new URL("../../dist/scripts/bench.js", import.meta.url));

function bench(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BENCH, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function which(name: string): string | undefined {
  const r = spawnSync("which", [name], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

describe("npm run bench -- --vs-redis-cluster flags", () => {
  it("--help lists --vs-redis-cluster, --vs-nats, --vs-etcd, --vs-floor and --alloc, and the mode's defaults", () => {
    const r = bench("--help");
    expect(r.code).toBe(0);
    for (const flag of ["--vs-redis-cluster", "--vs-nats", "--vs-etcd", "--vs-floor", "--alloc", "--vs-redis "]) expect(r.out).toContain(flag);
    expect(r.out).toMatch(/default 5; 3 with --vs-redis-cluster/);
    expect(r.out).toMatch(/100000 with --vs-redis-cluster/);
  });

  it.each([
    [["--vs-nats"], /--vs-nats goes with --vs-redis-cluster/],
    [["--vs-etcd"], /--vs-etcd goes with --vs-redis-cluster/],
    [["--alloc"], /--alloc goes with --vs-redis-cluster/],
    [["--vs-floor"], /--vs-floor goes with --vs-redis-cluster/],
    [["--vs-redis-cluster", "--vs-redis"], /--vs-redis-cluster takes only --ops, --runs, --in-flight, --value-bytes, --warmup-s, --vs-nats, --vs-etcd, --vs-floor and --alloc, not --vs-redis/],
    [["--vs-redis-cluster", "--rf", "2"], /not --rf/],
    [["--vs-redis-cluster", "--shards", "3"], /not --shards/],
    [["--vs-redis-cluster", "--only", "put"], /not --only/],
    [["--vs-redis-cluster", "--vs-nats", "--engine", "memory"], /not --engine/],
    [["--vs-redis-cluster", "--runs", "0"], /--runs must be an integer ≥ 1, not "0"/],
    [["--vs-redis-cluster", "--ops", "many"], /--ops must be an integer ≥ 1, not "many"/],
    [["--vs-redis-cluster", "--in-flight", "0"], /--in-flight must be an integer ≥ 1, not "0"/],
    [["--vs-redis-cluster=yes"], /--vs-redis-cluster/],
  ])("%j exits 2 with the usage, before starting anything", (args, message) => {
    const r = bench(...args);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(message);
    expect(r.out).toContain("usage: npm run bench");
  });
});

const redisServer = which("redis-server");
const redisCli = which("redis-cli");
const haveRedis = redisServer !== undefined && redisCli !== undefined;
if (!haveRedis) console.warn("bench-vs-redis-cluster: redis-server or redis-cli not on PATH (apt-get install -y redis-server): the small run is skipped");

describe.skipIf(!haveRedis)("npm run bench -- --vs-redis-cluster, a small run", () => {
  it("prints a row per system and op, the floor's puts, the targets, the bytes allocated per op, says nats-server and etcd are missing, and stops everything", async () => {
    // A PATH with redis and `which` only: nats-server and etcd are missing, whatever is installed.
    const bin = mkdtempSync(join(tmpdir(), "bench-path-"));
    for (const [name, path] of [["redis-server", redisServer], ["redis-cli", redisCli], ["which", which("which")], ["getconf", which("getconf")]] as const) {
      if (path !== undefined) symlinkSync(path, join(bin, name));
    }
    // Its own temporary folder (servers' data) and results folder, checked afterwards.
    const tmp = mkdtempSync(join(tmpdir(), "bench-tmp-"));
    const results = mkdtempSync(join(tmpdir(), "bench-results-"));
    let out = "";
    const child = spawn(process.execPath, [BENCH, "--vs-redis-cluster", "--vs-nats", "--vs-etcd", "--vs-floor", "--alloc", "--ops", "2000", "--runs", "1", "--in-flight", "20", "--warmup-s", "1"], {
      env: { ...process.env, PATH: bin, TMPDIR: tmp, BENCH_RESULTS_DIR: results },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    rmSync(bin, { recursive: true, force: true });

    expect(code, out).toBe(0);
    // Each timed phase after an untimed lead-in of the same operation (at most the warm-up).
    expect(out).toMatch(/one client \(this process\); each phase after 1 s of the same operation, untimed;/);
    expect(out).toContain("nats-server not found: apt-get install -y nats-server to compare");
    expect(out).toContain("etcd not found: apt-get install -y etcd-server to compare");
    for (const system of ["shardict rf 1", "shardict rf 2", "redis cluster"]) {
      expect(out).toMatch(new RegExp(`^  run 1 ${system} +put [\\d,]+/s`, "m"));
      // The summary: put with its counters (shardict: syncs, messages and frames per put), then get.
      const row = system.startsWith("shardict") ? String.raw`\d+\.\d{3} +\d+\.\d{3} +\d+\.\d{3}` : "– +– +–";
      expect(out).toMatch(new RegExp(`^${system} +put +[\\d,]+ .* ${row}$`, "m"));
    }
    // The floor: puts only, with its syncs and messages per put (its frames are not counted).
    for (const rf of [1, 2]) {
      expect(out).toMatch(new RegExp(`^  run 1 node floor rf ${rf} +put [\\d,]+/s p99 [\\d.]+ ms · no gets · \\d+\\.\\d{3} syncs/put`, "m"));
      expect(out).toMatch(new RegExp(`^node floor rf ${rf} +put +[\\d,]+ .* \\d+\\.\\d{3} +\\d+\\.\\d{3} +–$`, "m"));
    }
    expect(out.match(/^ +get +[\d,]+ /gm)).toHaveLength(3);
    // shardict's log rounds over the put phase: in its run lines and a table of their phases.
    for (const rf of [1, 2]) {
      expect(out).toMatch(new RegExp(`^  run 1 shardict rf ${rf} .* · log rounds of [\\d,.]+ µs \\(sync [\\d,.]+, idle [\\d,.]+, linger [\\d,.]+\\)$`, "m"));
      expect(out).toMatch(new RegExp(`^shardict rf ${rf} +[\\d,.]+ +[\\d,.]+ +[\\d,.]+ +[\\d,.]+ +[\\d,.]+ +[\\d,.]+ +[\\d,.]+$`, "m"));
    }
    expect(out).toMatch(/^system +round µs +idle +turn +linger +write +sync +puts\/round$/m);
    expect(out).toMatch(/^node floor: rf 2 put ÷ rf 1 put \(same run\) +×\d+\.\d\d +– \(Node's own, beside rf 2's ×0\.7\)$/m);
    expect(out).toMatch(/^rf 2 put ÷ node floor rf 2 put +×\d+\.\d\d +–$/m);
    expect(out).toMatch(/^rf 1 put ops\/s ÷ redis cluster put +×\d+\.\d\d +≥ ×1\.0 +[✓✗]$/m);
    expect(out).toMatch(/^rf 2 put ÷ nats R3 put +– +≥ ×2\.0 +not run$/m);
    expect(out).toMatch(/^shard CPU per rf 1 put, µs +[\d.,]+ +≤ 30 µs +[✓✗]$/m);
    // --alloc: the shards' bytes per op at rf 1 and rf 2, each with the functions that allocate most.
    expect(out).toContain("bytes allocated per op on the shards");
    for (const rf of [1, 2]) {
      expect(out).toMatch(new RegExp(`^  rf ${rf}: put [\\d,]+ B, get [\\d,]+ B$`, "m"));
      expect(out).toMatch(new RegExp(`^  most allocated per put at rf ${rf}:\\n +\\d+ B  \\S`, "m"));
    }
    const file = out.match(/^wrote (.*-vs-redis-cluster\.json)$/m)?.[1];
    expect(file).toBeDefined();
    const json = JSON.parse(readFileSync(join(results, readdirSync(results)[0] ?? "none"), "utf8")) as {
      mode: string;
      medians: Record<string, Record<string, number>>;
      options: { leadInS: number };
      alloc: { rf: number; put: { bytesPerOp: number }; get: { bytesPerOp: number }; tableChanges: number }[];
      runs: { system: string; tableChanges?: number }[];
    };
    // Whether the partition table moved during a run (a failover would be measured too).
    for (const r of json.runs) expect(typeof r.tableChanges).toBe(r.system.startsWith("shardict") ? "number" : "undefined");
    for (const a of json.alloc) expect(a.tableChanges).toBeGreaterThanOrEqual(0);
    expect(json.alloc.map((a) => a.rf)).toEqual([1, 2]);
    // A replicated put allocates more than an unreplicated one: the replica applies it too.
    for (const a of json.alloc) expect(a.put.bytesPerOp).toBeGreaterThan(500);
    expect(json.alloc[1]?.put.bytesPerOp).toBeGreaterThan(json.alloc[0]?.put.bytesPerOp ?? Infinity);
    expect(json.mode).toBe("vs-redis-cluster");
    expect(Object.keys(json.medians)).toEqual(["shardict rf 1", "shardict rf 2", "redis cluster", "node floor rf 1", "node floor rf 2"]);
    // At rf 2 the floor's servers sync each put twice and send copies and acknowledgements too.
    const floor1 = json.medians["node floor rf 1"] ?? {};
    const floor2 = json.medians["node floor rf 2"] ?? {};
    expect(floor2.messagesPerPut).toBeGreaterThan(floor1.messagesPerPut ?? Infinity);
    expect(floor1["get.opsPerSec"]).toBeUndefined();
    expect(json.medians["shardict rf 1"]?.syncsPerPut).toBeGreaterThan(0);
    expect(json.options.leadInS).toBe(1);
    // The counters are read before the lead-in and divided by its puts and the phase's: one
    // reply frame per rf 1 put (read after the lead-in, or divided by the phase's puts alone,
    // this would be far from 1).
    const frames = json.medians["shardict rf 1"]?.framesPerPut ?? Number.NaN;
    expect(frames).toBeGreaterThan(0.95);
    expect(frames).toBeLessThan(1.2);
    // A round's phases add up to the round (one run: the medians are that run's figures).
    for (const system of ["shardict rf 1", "shardict rf 2"]) {
      const m = json.medians[system] ?? {};
      const phases = ["idle", "turn", "linger", "write", "sync"].map((p) => m[`round.${p}`] ?? Number.NaN);
      expect(m["round.sync"]).toBeGreaterThan(0);
      expect(phases.reduce((x, y) => x + y, 0)).toBeCloseTo(m["round.micros"] ?? Number.NaN, 3);
    }
    expect(json.medians["redis cluster"]?.["round.micros"]).toBeUndefined();
    expect(json.medians["shardict rf 2"]?.messagesPerPut).toBeGreaterThan(0);
    expect(file).toMatch(/-vs-redis-cluster\.json$/);
    // Nothing left behind in its temporary folder: every server's folder was removed.
    expect(readdirSync(tmp)).toEqual([]);
    rmSync(tmp, { recursive: true, force: true });
    rmSync(results, { recursive: true, force: true });
  }, 180_000);
});
