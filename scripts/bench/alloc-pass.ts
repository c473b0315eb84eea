/**
 * `--alloc` (with `--vs-redis-cluster`): after the timed runs, one more shardict run at rf 1
 * and at rf 2 with the allocation probe (alloc-probe.ts) in every node, counting the bytes the
 * shards allocate per put and per get, and which functions allocate them. Garbage is what a
 * write costs beyond its own work (the young generation's collections, and the promise and
 * closure machinery that made it), and it is steadier than CPU time on a shared machine:
 * the figure that says whether a change to the hot path did what it meant to.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AllocReport } from "./alloc-probe.js";
import { closedLoop, promSum, prng, shuffled, warmUp } from "./measure.js";
import { startShardict } from "./systems.js";

const SHARDS = 3;
const key = (prefix: string, i: number): string => prefix + String(i).padStart(12, "0");

export interface AllocPhase {
  /** Bytes sampled over the shards ÷ operations. */
  bytesPerOp: number;
  /** The functions that allocated the most, bytes per operation, summed over the shards. */
  top: { fn: string; bytesPerOp: number }[];
}

export interface AllocResult {
  rf: number;
  put: AllocPhase;
  get: AllocPhase;
  /** How far the partition table's epoch moved meanwhile (0: no failover or move polluted it). */
  tableChanges: number;
}

/**
 * Sampling slows the nodes several times over: with the usual failure detector (750 ms) the
 * coordinator took shards for dead under it, and the gets measured the failover's copies.
 */
const PATIENT_DETECTOR = { suspectAfterMs: 15_000, deadAfterMs: 15_000 };

async function epochOf(t: Awaited<ReturnType<typeof startShardict>>): Promise<number> {
  const coordinator = t.metricsUrls?.().find((m) => m.name === "coordinator");
  if (coordinator === undefined) return 0;
  return promSum(await (await fetch(coordinator.url)).text(), "shardict_cluster_epoch");
}

/** Signal each pid, and (on the second signal of a pair) wait for its report. */
async function reports(dir: string, pids: number[], seq: number): Promise<AllocReport[]> {
  const want = pids.map((pid) => join(dir, `alloc-${pid}-${seq}.json`));
  for (const end = Date.now() + 60_000; !want.every((f) => existsSync(f)); ) {
    if (Date.now() > end) throw new Error(`--alloc: no report from ${want.filter((f) => !existsSync(f)).join(", ")} within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // A report is written in one call; read it once it parses (it may still be being written).
  const out: AllocReport[] = [];
  for (const f of want) {
    for (let tries = 0; ; tries++) {
      try {
        out.push(JSON.parse(readFileSync(f, "utf8")) as AllocReport);
        break;
      } catch (err) {
        if (tries > 100) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  return out;
}

async function sampled(dir: string, pids: number[], seq: number, ops: number, run: () => Promise<unknown>): Promise<AllocPhase> {
  for (const pid of pids) process.kill(pid, "SIGUSR2");
  // The profiler starts in the node's next turn: give it a moment before the first op.
  await new Promise((r) => setTimeout(r, 200));
  await run();
  for (const pid of pids) process.kill(pid, "SIGUSR2");
  const got = await reports(dir, pids, seq);
  if (got.some((r) => r.bytes < 0)) throw new Error("--alloc: a node's profiler failed");
  const byFn = new Map<string, number>();
  for (const r of got) for (const t of r.top) byFn.set(t.fn, (byFn.get(t.fn) ?? 0) + t.bytes);
  return {
    bytesPerOp: got.reduce((s, r) => s + r.bytes, 0) / ops,
    top: [...byFn]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([fn, b]) => ({ fn, bytesPerOp: b / ops })),
  };
}

export async function allocPass(o: { ops: number; inFlight: number; value: string; warmupS: number }, rf: number): Promise<AllocResult> {
  const dir = mkdtempSync(join(tmpdir(), "shardict-alloc-"));
  const t = await startShardict({ shards: SHARDS, rf, profileDir: undefined, engine: "log", allocDir: dir, config: PATIENT_DETECTOR });
  try {
    const shards = t.nodes().filter((n) => n.holdsData).map((n) => n.pid);
    await warmUp(
      o.warmupS,
      o.inFlight,
      (i) => t.put(key("wrm-", i), o.value),
      (i) => t.get(key("wrm-", i)),
    );
    const order = shuffled(o.ops, prng(1000));
    const epoch = await epochOf(t);
    const put = await sampled(dir, shards, 0, o.ops, () => closedLoop(o.ops, o.inFlight, (i) => t.put(key("key-", order[i] as number), o.value), () => []));
    const get = await sampled(dir, shards, 1, o.ops, () => closedLoop(o.ops, o.inFlight, (i) => t.get(key("key-", order[i] as number)), () => []));
    return { rf, put, get, tableChanges: (await epochOf(t)) - epoch };
  } finally {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printAlloc(results: AllocResult[]): void {
  console.log("\nbytes allocated per op on the shards (--alloc: V8's sampling heap profiler every 256 bytes, collected objects included; one untimed run each)");
  for (const r of results) {
    console.log(
      `  rf ${r.rf}: put ${Math.round(r.put.bytesPerOp).toLocaleString("en")} B, get ${Math.round(r.get.bytesPerOp).toLocaleString("en")} B` +
        `${r.tableChanges > 0 ? `  WARNING: the partition table's epoch moved by ${r.tableChanges} meanwhile (a failover or a move was measured too)` : ""}`,
    );
  }
  for (const r of results) {
    console.log(`  most allocated per put at rf ${r.rf}:`);
    for (const t of r.put.top) console.log(`    ${Math.round(t.bytesPerOp).toString().padStart(6)} B  ${t.fn}`);
  }
}
