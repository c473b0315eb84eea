/**
 * Cluster membership from the command line, against real multi-process clusters:
 *
 * - `shardict shard --coordinator URL --id NEW …` joins a running cluster (no config file),
 *   takes its share of partitions, and SIGTERM makes it hand them back and exit 0;
 * - `shardict cluster status` (text and --json);
 * - `shardict cluster remove-shard ID` (and its refusals);
 * - `npm run cluster -- add-shard --id ID` (dist/scripts/cluster.js).
 *
 * Every step checks that all entries written before are still readable with their values.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, type Client } from "../../src/index.js";
import type { ClusterStatus } from "../../src/coordinator/coordinator-node.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { cleanEnv, runCli, spawnCli, type CliResult, type CliRun } from "../helpers/cli.js";
import { processGone } from "../helpers/child.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLUSTER_SCRIPT = join(ROOT, "dist", "scripts", "cluster.js");
const SHARD_STATES = ["joining", "serving", "handing off", "leaving"];
const ENTRIES = 300;

// ---- shared helpers ------------------------------------------------------------------------

const tempDirs: string[] = [];
const strayPids = new Set<number>();
const strayRuns: CliRun[] = [];

function tempDir(what: string): string {
  const dir = mkdtempSync(join(tmpdir(), `shardict-membership-${what}-`));
  tempDirs.push(dir);
  return dir;
}

/** A working directory with no cluster.config.json in it (so no config or secret is found). */
let emptyCwd = "";

beforeAll(() => {
  expect(existsSync(join(ROOT, "dist", "src", "cli", "shardict.js")), 'run "npm run build" first').toBe(true);
  expect(existsSync(CLUSTER_SCRIPT), 'run "npm run build" first').toBe(true);
  emptyCwd = tempDir("cwd");
});

afterAll(async () => {
  for (const run of strayRuns) if (run.exit === undefined) run.child.kill("SIGKILL");
  for (const pid of strayPids) {
    if (!processGone(pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
  await Promise.all(strayRuns.map((r) => r.done.catch(() => undefined)));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});


/** Environment with the cluster secret (and nothing else of SHARDICT_*). */
function withSecret(tc: TestCluster, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ SHARDICT_CLUSTER_SECRET: tc.cluster.clusterSecret, ...extra });
}

function describeRun(r: CliResult): string {
  return `exit ${r.code ?? r.signal}${r.timedOut ? " (timed out)" : ""}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

async function statusJson(url: string): Promise<ClusterStatus> {
  const r = await runCli(["cluster", "status", "--json", "--url", url], { cwd: emptyCwd });
  if (r.code !== 0) throw new Error(`cluster status --json failed: ${describeRun(r)}`);
  return JSON.parse(r.stdout) as ClusterStatus;
}

/** Wait for a status that passes `ok` (polling `cluster status --json`); returns it. */
async function waitForStatus(url: string, what: string, ok: (s: ClusterStatus) => boolean, timeoutMs = 40_000): Promise<ClusterStatus> {
  let last: ClusterStatus | undefined;
  try {
    return await waitUntil(
      async () => {
        last = await statusJson(url);
        return ok(last) ? last : undefined;
      },
      { what, timeoutMs, intervalMs: 200 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast status: ${JSON.stringify(last, null, 2)}`);
  }
}

function settled(s: ClusterStatus): boolean {
  return s.rebalance.pending === 0 && s.rebalance.moving === 0 && s.moves.length === 0;
}

/** Every shard listed is serving and alive, and they lead all partitions between them. */
function allServing(s: ClusterStatus, ids: string[]): boolean {
  return (
    s.shards.length === ids.length &&
    ids.every((id) => s.shards.some((x) => x.id === id && x.state === "serving" && x.health === "alive")) &&
    s.shards.reduce((n, x) => n + x.partitions, 0) === s.partitions
  );
}

function exitWithin(run: { done: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }, ms: number, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    run.done,
    new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not exit within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The value stored under key `k-i`. */
function valueOf(i: number): { i: number; s: string } {
  return { i, s: `value-${i}-${"x".repeat(i % 17)}` };
}

async function fill(d: Dict): Promise<void> {
  for (let start = 0; start < ENTRIES; start += 50) {
    await Promise.all(Array.from({ length: Math.min(50, ENTRIES - start) }, (_, j) => d.put(`k-${start + j}`, valueOf(start + j))));
  }
}

/** Every entry reads back with its value, and `len()` is exact. */
async function expectAllReadable(d: Dict): Promise<void> {
  for (let start = 0; start < ENTRIES; start += 50) {
    const got = await Promise.all(Array.from({ length: Math.min(50, ENTRIES - start) }, (_, j) => d.get(`k-${start + j}`)));
    got.forEach((v, j) => expect(v, `k-${start + j}`).toEqual(valueOf(start + j)));
  }
  expect(await d.len()).toBe(ENTRIES);
}

/** Run `node dist/scripts/cluster.js ...args` to completion (killed after `timeoutMs`). */
async function runClusterScript(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 45_000): Promise<CliResult> {
  const child: ChildProcess = spawn(process.execPath, [CLUSTER_SCRIPT, ...args], { stdio: ["ignore", "pipe", "pipe"], env, cwd: emptyCwd });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  let timedOut = false;
  const guard = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => resolve({ code, signal }));
    });
    return { code, signal, stdout, stderr, timedOut };
  } finally {
    clearTimeout(guard);
  }
}

// ---- a 3-shard cluster: status, a shard joining by hand, SIGTERM, add-shard --------------------

describe("joining and leaving (3 shards, 32 partitions)", () => {
  const PARTITIONS = 32;
  const BASE = ["shard-1", "shard-2", "shard-3"];
  let tc: TestCluster;
  let client: Client;
  let d: Dict;

  beforeAll(async () => {
    tc = await startTestCluster({ shards: 3, replicationFactor: 1, partitions: PARTITIONS });
    client = await tc.client();
    d = Dict.fromName("members", { createIfMissing: true, client });
    await fill(d);
  });

  afterAll(async () => {
    await tc?.stop();
  });

  it("cluster status --json has the documented fields; the text form names every shard and its state", async () => {
    const s = await waitForStatus(tc.url, "every shard serving and alive", (x) => allServing(x, BASE) && settled(x));
    expect(typeof s.epoch).toBe("number");
    expect(s.partitions).toBe(PARTITIONS);
    expect(s.replicationFactor).toBe(1);
    expect(s.dicts).toBeGreaterThanOrEqual(1);
    expect(s.shards.map((x) => x.id).sort()).toEqual(BASE);
    for (const x of s.shards) {
      expect(SHARD_STATES).toContain(x.state);
      expect(x.url).toBe(tc.cluster.urlOf(x.id));
      expect(typeof x.health).toBe("string");
      expect(x.partitions).toBeGreaterThan(0);
      expect(typeof x.replicas).toBe("number");
      expect(x.entries === null || typeof x.entries === "number").toBe(true);
      expect(x.held === null || typeof x.held === "number").toBe(true);
    }
    expect(s.rebalance).toEqual({ done: PARTITIONS, pending: 0, moving: 0 });
    expect(s.moves).toEqual([]);

    const r = await runCli(["cluster", "status", "--url", tc.url], { cwd: emptyCwd });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toContain(`${PARTITIONS} partitions`);
    expect(r.stdout).toMatch(/^partitions: all in place$/m);
    expect(r.stdout).not.toMatch(/rebalancing:/);
    for (const id of BASE) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+${id}\\s+serving\\s+alive\\s+\\d+\\s+\\d+\\s+(\\d+|\\?)\\s+${tc.cluster.urlOf(id) ?? "?"}$`, "m"));
    }
  });

  it("a shard started with --coordinator and a new --id (no config file) joins, takes partitions and entries; SIGTERM hands them back and exits 0", async () => {
    const dataDir = tempDir("extra-data");
    const run = spawnCli(
      ["shard", "--coordinator", tc.url, "--id", "extra-1", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir],
      { env: withSecret(tc), cwd: tempDir("extra-cwd") },
    );
    strayRuns.push(run);
    const output = () => `extra-1 stdout:\n${run.stdout}\nextra-1 stderr:\n${run.stderr}`;
    try {
      await waitUntil(() => run.exit !== undefined || /extra-1: listening on ws:\/\//.test(run.stdout), { what: "extra-1 to listen", timeoutMs: 30_000 });
      expect(run.exit, output()).toBeUndefined();

      let joined: ClusterStatus;
      try {
        joined = await waitForStatus(tc.url, "extra-1 serving with partitions and entries, rebalance done", (s) => {
          const x = s.shards.find((y) => y.id === "extra-1");
          return x !== undefined && x.state === "serving" && x.health === "alive" && x.partitions > 0 && (x.entries ?? 0) > 0 && settled(s);
        });
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${output()}`);
      }
      const extra = joined.shards.find((x) => x.id === "extra-1");
      expect(extra?.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
      expect(joined.shards.map((x) => x.id).sort()).toEqual([...BASE, "extra-1"].sort());
      expect(joined.shards.reduce((n, x) => n + x.partitions, 0)).toBe(PARTITIONS);
      expect(joined.rebalance.pending).toBe(0);
      // Its data lives in DIR/ID/.
      expect(existsSync(join(dataDir, "extra-1"))).toBe(true);
      // Every partition is led by a shard that has heartbeated its count: the sum is all entries.
      const withCounts = await waitForStatus(tc.url, "entry counts of all shards to sum to the entries written", (s) => s.shards.reduce((n, x) => n + (x.entries ?? 0), 0) === ENTRIES);
      expect(withCounts.shards.find((x) => x.id === "extra-1")?.entries).toBeGreaterThan(0);

      await expectAllReadable(d);

      run.child.kill("SIGTERM");
      const exit = await exitWithin(run, 40_000, "extra-1 after SIGTERM");
      expect(exit, output()).toEqual({ code: 0, signal: null });
      expect(run.stdout).toMatch(/extra-1: SIGTERM: leaving the cluster/);

      const after = await waitForStatus(tc.url, "extra-1 gone and partitions back on the others", (s) => !s.shards.some((x) => x.id === "extra-1") && allServing(s, BASE) && settled(s));
      expect(after.shards.map((x) => x.id).sort()).toEqual(BASE);
      await expectAllReadable(d);
    } finally {
      if (run.exit === undefined) {
        run.child.kill("SIGKILL");
        await run.done;
      }
    }
  });

  it("npm run cluster -- add-shard --id added-1 starts a detached shard that joins, then exits 0", async () => {
    const addedFile = join(tc.config.dataDir, "added-shards.json");
    const readAddedPid = (): number | undefined => {
      try {
        const list = JSON.parse(readFileSync(addedFile, "utf8")) as { id: string; pid: number }[];
        return list.find((a) => a.id === "added-1")?.pid;
      } catch {
        return undefined;
      }
    };
    let pid: number | undefined;
    try {
      const r = await runClusterScript(["add-shard", "--id", "added-1", "--coordinator", tc.url], withSecret(tc, { SHARDICT_CONFIG: tc.configPath }));
      pid = readAddedPid();
      if (pid !== undefined) strayPids.add(pid);
      const log = () => {
        try {
          return readFileSync(join(tc.config.dataDir, "added-1.log"), "utf8");
        } catch {
          return "(no log)";
        }
      };
      expect(r.code, `${describeRun(r)}\nadded-1 log:\n${log()}`).toBe(0);
      expect(r.stdout).toMatch(/cluster: added-1 joined at ws:\/\//);
      expect(pid, `${addedFile} names added-1`).toBeTypeOf("number");
      expect(processGone(pid as number)).toBe(false);

      const s = await waitForStatus(tc.url, "added-1 alive in the status", (x) => x.shards.some((y) => y.id === "added-1" && y.health === "alive"));
      expect(SHARD_STATES).toContain(s.shards.find((y) => y.id === "added-1")?.state);
      const placed = await waitForStatus(tc.url, "added-1 serving with its share, rebalance done", (x) => {
        const a = x.shards.find((y) => y.id === "added-1");
        return a !== undefined && a.state === "serving" && a.partitions > 0 && settled(x);
      });
      expect(placed.shards.reduce((n, y) => n + y.partitions, 0)).toBe(PARTITIONS);
      await expectAllReadable(d);
    } finally {
      pid ??= readAddedPid();
      if (pid !== undefined && !processGone(pid)) {
        process.kill(pid, "SIGINT");
        const p = pid;
        await waitUntil(() => processGone(p), { what: "added-1 to exit after SIGINT", timeoutMs: 20_000 });
      }
    }
  });
});

// ---- a 2-shard cluster: remove-shard --------------------------------------------------------

describe("cluster remove-shard (2 shards, 64 partitions)", () => {
  const PARTITIONS = 64;
  let tc: TestCluster;
  let client: Client;
  let d: Dict;

  beforeAll(async () => {
    tc = await startTestCluster({ shards: 2, replicationFactor: 1, partitions: PARTITIONS });
    client = await tc.client();
    d = Dict.fromName("removal", { createIfMissing: true, client });
    await fill(d);
    await waitForStatus(tc.url, "both shards serving", (s) => allServing(s, ["shard-1", "shard-2"]) && settled(s));
  });

  afterAll(async () => {
    await tc?.stop();
  });

  it("fails without the cluster secret, with a message, and removes nothing", async () => {
    const r = await runCli(["cluster", "remove-shard", "shard-2", "--url", tc.url], { env: cleanEnv(), cwd: emptyCwd });
    expect(r.timedOut, describeRun(r)).toBe(false);
    expect(r.code, describeRun(r)).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toMatch(/SHARDICT_CLUSTER_SECRET/);
    const s = await statusJson(tc.url);
    expect(s.shards.find((x) => x.id === "shard-2")?.state).toBe("serving");
    expect(tc.cluster.isRunning("shard-2")).toBe(true);
  });

  it("fails for an unknown shard id, naming it", async () => {
    const r = await runCli(["cluster", "remove-shard", "no-such-shard", "--url", tc.url], { env: withSecret(tc), cwd: emptyCwd });
    expect(r.timedOut, describeRun(r)).toBe(false);
    expect(r.code, describeRun(r)).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toContain("no-such-shard");
    expect(r.stderr).toMatch(/not a member/);
    expect((await statusJson(tc.url)).shards.map((x) => x.id).sort()).toEqual(["shard-1", "shard-2"]);
  });

  it("with the secret: exits 0, the shard hands off and exits by itself, status forgets it, data intact", async () => {
    const r = await runCli(["cluster", "remove-shard", "shard-2", "--url", tc.url], { env: withSecret(tc), cwd: emptyCwd });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toMatch(/shard shard-2 is /);

    await waitUntil(() => !tc.cluster.isRunning("shard-2"), { what: "shard-2 to exit by itself", timeoutMs: 40_000 }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${tc.logs.filter((l) => l.includes("shard-2")).join("\n")}`);
    });
    // leave() of an exited node only returns its exit code.
    expect(await tc.cluster.leave("shard-2")).toBe(0);
    expect(tc.logs.some((l) => l.startsWith("[shard-2]") && /removed from the cluster/.test(l))).toBe(true);

    const s = await waitForStatus(tc.url, "shard-2 gone, shard-1 leading everything", (x) => !x.shards.some((y) => y.id === "shard-2") && allServing(x, ["shard-1"]) && settled(x));
    expect(s.shards.find((x) => x.id === "shard-1")?.partitions).toBe(PARTITIONS);
    await expectAllReadable(d);
  });

  it("refuses to remove the last serving shard", async () => {
    const r = await runCli(["cluster", "remove-shard", "shard-1", "--url", tc.url], { env: withSecret(tc), cwd: emptyCwd });
    expect(r.timedOut, describeRun(r)).toBe(false);
    expect(r.code, describeRun(r)).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toMatch(/last serving shard/);
    expect(r.stderr).toContain("shard-1");
    expect(tc.cluster.isRunning("shard-1")).toBe(true);
    const s = await statusJson(tc.url);
    expect(s.shards.find((x) => x.id === "shard-1")?.state).toBe("serving");
    await expectAllReadable(d);
  });
});
