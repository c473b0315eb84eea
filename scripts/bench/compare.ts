/**
 * `npm run bench -- --vs-redis-cluster [--vs-nats] [--vs-etcd] [--vs-floor]`: put then get,
 * run by run alternating shardict (3 shards, rf 1), shardict (3 shards, rf 2), a 3-master
 * Redis Cluster (fsynced, no replica), and where asked and installed NATS JetStream KV (R1,
 * R3) and etcd (one member), and where asked the floor (floor-cluster.ts: bare Node servers
 * of shardict's shape, puts only); each started fresh for its run. Prints ops/s, p50, p99,
 * client and server CPU per op, syncs and messages per put, the ratios of the medians and
 * the issue's targets (✓/✗), and writes bench/results/<date>-vs-redis-cluster.json.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, platform, release, totalmem } from "node:os";
import { join, relative } from "node:path";
import { closedLoop, cpuMicros, logRounds, median, promSum, prng, runFor, runOrders, shuffled, warmUp, type LatencyStats } from "./measure.js";
import { noRoundTime, ROUND_PHASES, type RoundPhase } from "../../src/store/round-times.js";
import { startShardict } from "./systems.js";
import { allocPass, printAlloc, type AllocResult } from "./alloc-pass.js";
import { findRedisCluster, startRedisCluster, clusterArgs } from "./redis-cluster.js";
import type { KvTarget } from "./servers.js";
import { startFloor } from "./floor-cluster.js";

export interface CompareOptions {
  runs: number;
  ops: number;
  inFlight: number;
  value: string;
  /** Seconds of puts (and half as long of gets) before each system is measured. */
  warmupS: number;
  nats: boolean;
  etcd: boolean;
  /** Also the floor at rf 1 and rf 2 (puts only). */
  floor?: boolean;
  /** After the timed runs, count the shards' bytes allocated per op (alloc-pass.ts). */
  alloc?: boolean;
  /** The command line, for the header and the JSON. */
  command: string;
  /** Where bench/results is. */
  root: string;
}

const SHARDS = 3;
/**
 * Seconds of untimed operations between reading a system's counters and the phase they are
 * for. shardict's counters are read over HTTP (`/metrics`), and a plain HTTP request makes a
 * shard's stream internals polymorphic and deoptimises them: measured (2026-12-08, 6
 * alternating rounds), 100,000 puts right after a scrape of the shards ran at ×0.81 of the
 * rate without one, at 6 µs more shard CPU per put, and it took 1–2 s (50,000–100,000 puts)
 * to recover. No other system is asked anything between its phases, so every system gets
 * the same lead-in, and the counters cover it with the phase. Never longer than the warm-up
 * (none with `--warmup-s 0`, as in the tests).
 */
const LEAD_IN_S = 2;

/** The lead-in a run with these options gets. */
const leadInS = (o: CompareOptions): number => Math.min(LEAD_IN_S, o.warmupS);

/** A 16-byte key: a 4-character prefix and 12 digits (as in the main bench). */
const key = (prefix: string, i: number): string => prefix + String(i).padStart(12, "0");

interface Phase extends LatencyStats {
  /** shardict: the coordinator's CPU per op, µs (serverCpuPerOp is then the shards' alone). */
  coordinatorCpuPerOp?: number;
}

interface Row {
  system: string;
  run: number;
  put: Phase;
  /** Absent for a system without gets (the floor). */
  get?: Phase;
  /** shardict: fsyncs summed over the shards ÷ puts, over the put phase and its lead-in. */
  syncsPerPut?: number;
  /** shardict: WebSocket messages sent by every node (coordinator included) ÷ puts. */
  messagesPerPut?: number;
  framesPerPut?: number;
  /**
   * shardict: the shards' log rounds over the put phase and its lead-in: how long one took (µs, wall time
   * of every shard's log ÷ rounds) and how that splits by phase of the write loop.
   */
  round?: { micros: number; phases: Record<RoundPhase, number> };
  /**
   * shardict: how far the partition table's epoch moved over the put and get phases. Not 0
   * means a shard was taken for dead (missed heartbeats on a starved machine) or partitions
   * moved: that run measured a failover and its copies, not the steady state.
   */
  tableChanges?: number;
  missing: number;
}

/** The system being measured, so that a signal stops it instead of leaving its processes behind. */
let current: KvTarget | undefined;
export function stopRunning(): Promise<void> {
  return current?.stop() ?? Promise.resolve();
}

async function startShardictKv(rf: number): Promise<KvTarget> {
  const t = await startShardict({ shards: SHARDS, rf, profileDir: undefined, engine: "log" });
  return {
    label: `shardict rf ${rf}`,
    pids: () => t.nodes().map((n) => ({ group: n.holdsData ? "shards" : "coordinator", pid: n.pid })),
    put: (k, v) => t.put(k, v),
    get: (k) => t.get(k),
    counters: async () => {
      const out = { fsyncs: 0, messages: 0, frames: 0, epoch: 0, rounds: 0, roundSeconds: noRoundTime() };
      for (const { name, url } of t.metricsUrls?.() ?? []) {
        const res = await fetch(url);
        if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
        const text = await res.text();
        if (name !== "coordinator") {
          out.fsyncs += promSum(text, "shardict_fsync_duration_seconds_count");
          const r = logRounds(text);
          out.rounds += r.rounds;
          for (const phase of ROUND_PHASES) out.roundSeconds[phase] += r.seconds[phase];
        }
        else out.epoch = promSum(text, "shardict_cluster_epoch");
        out.messages += promSum(text, "shardict_ws_messages_sent_total");
        out.frames += promSum(text, "shardict_ws_frames_sent_total");
      }
      return out;
    },
    stop: () => t.stop(),
  };
}

/** The floor (npm run bench:floor) as a system of this comparison: puts only. */
async function startFloorKv(rf: 1 | 2): Promise<KvTarget> {
  const f = await startFloor({ servers: SHARDS, rf });
  return {
    label: `node floor rf ${rf}`,
    pids: () => f.pids().map((pid) => ({ group: "floor-servers", pid })),
    put: (k, v) => f.put(k, v),
    counters: async () => {
      const c = await f.counts();
      // A floor message is one frame of ids: frames are not counted apart.
      return { fsyncs: c.rounds, messages: c.messages, frames: Number.NaN };
    },
    stop: () => f.stop(),
  };
}

/**
 * Flush the page cache's dirty data (`sync`) after a system stops, so the next one's syncs
 * do not wait behind the writeback of the last one's files.
 */
function settle(): void {
  spawnSync("sync", { stdio: "ignore" });
}

/** A closed loop of `ops` calls; the coordinator's CPU apart from the other servers'. */
async function phase(t: KvTarget, ops: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<Phase> {
  const coordinator = () => t.pids().filter((p) => p.group === "coordinator").map((p) => p.pid);
  const servers = () => t.pids().filter((p) => p.group !== "coordinator").map((p) => p.pid);
  const c0 = coordinator().reduce((s, p) => s + cpuMicros(p), 0);
  const stats: Phase = await closedLoop(ops, inFlight, op, servers);
  if (coordinator().length > 0) stats.coordinatorCpuPerOp = (coordinator().reduce((s, p) => s + cpuMicros(p), 0) - c0) / ops;
  return stats;
}

async function oneRun(start: () => Promise<KvTarget>, run: number, o: CompareOptions): Promise<Row> {
  const t = await start();
  current = t;
  // Absent for a system that only writes (the floor): no gets, in the warm-up or after.
  const read = t.get?.bind(t);
  try {
    await warmUp(
      o.warmupS,
      o.inFlight,
      (i) => t.put(key("wrm-", i), o.value),
      read && ((i) => read(key("wrm-", i))),
    );
    const order = shuffled(o.ops, prng(1000 + run));
    const before = await t.counters?.();
    // Every system runs the same lead-ins, counted by the counters but not timed (LEAD_IN_S).
    const lead = leadInS(o);
    const leadPuts = lead > 0 ? await runFor(lead, o.inFlight, (i) => t.put(key("lead-", i), o.value)) : 0;
    const put = await phase(t, o.ops, o.inFlight, (i) => t.put(key("key-", order[i] as number), o.value));
    const after = await t.counters?.();
    let missing = 0;
    if (read && lead > 0) await runFor(lead, o.inFlight, (i) => read(key("key-", order[i % o.ops] as number)));
    const get =
      read &&
      (await phase(t, o.ops, o.inFlight, async (i) => {
        if ((await read(key("key-", order[i] as number))) == null) missing++;
      }));
    const end = await t.counters?.();
    const row: Row = { system: t.label, run, put, ...(get && { get }), missing };
    if (before?.epoch !== undefined && end?.epoch !== undefined) row.tableChanges = end.epoch - before.epoch;
    if (before && after) {
      const puts = leadPuts + o.ops;
      row.syncsPerPut = (after.fsyncs - before.fsyncs) / puts;
      row.messagesPerPut = (after.messages - before.messages) / puts;
      row.framesPerPut = (after.frames - before.frames) / puts;
      const rounds = (after.rounds ?? 0) - (before.rounds ?? 0);
      if (rounds > 0 && after.roundSeconds && before.roundSeconds) {
        const phases = {} as Record<RoundPhase, number>;
        for (const phase of ROUND_PHASES) phases[phase] = ((after.roundSeconds[phase] - before.roundSeconds[phase]) * 1e6) / rounds;
        row.round = { micros: ROUND_PHASES.reduce((sum, phase) => sum + phases[phase], 0), phases };
      }
    }
    return row;
  } finally {
    await t.stop();
    current = undefined;
  }
}

// ---- figures ----------------------------------------------------------------------------------

const PHASE_FIELDS = ["opsPerSec", "p50", "p99", "clientCpuPerOp", "serverCpuPerOp", "coordinatorCpuPerOp"] as const;

function medians(rows: Row[]): Record<string, number> {
  const out: Record<string, number> = {};
  const put = (id: string, xs: (number | undefined)[]) => {
    const ok = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
    if (ok.length > 0) out[id] = median(ok);
  };
  for (const p of ["put", "get"] as const) for (const f of PHASE_FIELDS) put(`${p}.${f}`, rows.map((r) => r[p]?.[f]));
  put("syncsPerPut", rows.map((r) => r.syncsPerPut));
  put("messagesPerPut", rows.map((r) => r.messagesPerPut));
  put("framesPerPut", rows.map((r) => r.framesPerPut));
  put("round.micros", rows.map((r) => r.round?.micros));
  for (const phase of ROUND_PHASES) put(`round.${phase}`, rows.map((r) => r.round?.phases[phase]));
  return out;
}

function fmt(x: number | undefined, digits?: number): string {
  if (x === undefined || !Number.isFinite(x)) return "–";
  if (digits !== undefined) return x.toFixed(digits);
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString("en");
  return x.toFixed(Math.abs(x) < 10 ? 2 : 1);
}

const fmtRatio = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? "–" : `×${x.toFixed(2)}`);

function table(rows: string[][], align: ("l" | "r")[]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (align[c] === "l" ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join("  ").trimEnd()).join("\n");
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? undefined : a / b;
}

interface Target {
  id: string;
  label: string;
  value: number | undefined;
  /** "ratio": printed as ×n; "µs": a CPU figure. */
  kind: "ratio" | "µs";
  /** The issue's target: value ≥ min / value ≤ max; none: shown for information. */
  min?: number;
  max?: number;
  target: string;
}

function targets(med: Record<string, Record<string, number>>, rows: Row[]): Target[] {
  const rf1 = med["shardict rf 1"] ?? {};
  const rf2 = med["shardict rf 2"] ?? {};
  const rc = med["redis cluster"] ?? {};
  const r3 = med["nats R3"];
  const sameRun = sameRunRatio(rows, "shardict rf 2", "shardict rf 1");
  const floor1 = med["node floor rf 1"];
  const floor2 = med["node floor rf 2"];
  const floorSameRun = sameRunRatio(rows, "node floor rf 2", "node floor rf 1");
  return [
    { id: "rf1.put/rc.put", label: "rf 1 put ops/s ÷ redis cluster put", value: ratio(rf1["put.opsPerSec"], rc["put.opsPerSec"]), kind: "ratio", min: 1.0, target: "≥ ×1.0" },
    { id: "rf1.get/rc.get", label: "rf 1 get ops/s ÷ redis cluster get", value: ratio(rf1["get.opsPerSec"], rc["get.opsPerSec"]), kind: "ratio", min: 1.2, target: "≥ ×1.2" },
    { id: "rf1.putP99/rc.putP99", label: "rf 1 put p99 ÷ redis cluster put p99", value: ratio(rf1["put.p99"], rc["put.p99"]), kind: "ratio", max: 1.0, target: "≤ ×1.0 (no worse)" },
    { id: "rf1.getP99/rc.getP99", label: "rf 1 get p99 ÷ redis cluster get p99", value: ratio(rf1["get.p99"], rc["get.p99"]), kind: "ratio", max: 1.0, target: "≤ ×1.0 (no worse)" },
    { id: "rf2.put/rf1.put", label: "rf 2 put ÷ rf 1 put (same run)", value: finite(sameRun), kind: "ratio", min: 0.7, target: "≥ ×0.7" },
    { id: "rf2.put/natsR3.put", label: "rf 2 put ÷ nats R3 put", value: r3 && ratio(rf2["put.opsPerSec"], r3["put.opsPerSec"]), kind: "ratio", min: 2.0, target: "≥ ×2.0" },
    { id: "rf2.get/rf1.get", label: "rf 2 get ÷ rf 1 get", value: ratio(rf2["get.opsPerSec"], rf1["get.opsPerSec"]), kind: "ratio", min: 0.9, target: "≥ ×0.9 (within 10%, or faster)" },
    { id: "rf1.shardCpuPerPut", label: "shard CPU per rf 1 put, µs", value: rf1["put.serverCpuPerOp"], kind: "µs", max: 30, target: "≤ 30 µs" },
    { id: "rf1.shardCpuPerGet", label: "shard CPU per rf 1 get, µs", value: rf1["get.serverCpuPerOp"], kind: "µs", max: 8, target: "≤ 8 µs" },
    { id: "rf1.clientCpuPerPut/ioredis", label: "client CPU per put: SDK (rf 1) ÷ ioredis", value: ratio(rf1["put.clientCpuPerOp"], rc["put.clientCpuPerOp"]), kind: "ratio", max: 1.0, target: "≤ ×1.0" },
    { id: "rf1.clientCpuPerGet/ioredis", label: "client CPU per get: SDK (rf 1) ÷ ioredis", value: ratio(rf1["get.clientCpuPerOp"], rc["get.clientCpuPerOp"]), kind: "ratio", max: 1.0, target: "≤ ×1.0" },
    { id: "rf1.serverCpuPerPut/rc", label: "server CPU per put: shards (rf 1) ÷ redis-servers", value: ratio(rf1["put.serverCpuPerOp"], rc["put.serverCpuPerOp"]), kind: "ratio", target: "–" },
    { id: "rf1.serverCpuPerGet/rc", label: "server CPU per get: shards (rf 1) ÷ redis-servers", value: ratio(rf1["get.serverCpuPerOp"], rc["get.serverCpuPerOp"]), kind: "ratio", target: "–" },
    ...(floor1 && floor2
      ? ([
          { id: "floor.rf2.put/floor.rf1.put", label: "node floor: rf 2 put ÷ rf 1 put (same run)", value: finite(floorSameRun), kind: "ratio", target: "– (Node's own, beside rf 2's ×0.7)" },
          { id: "rf2.put/floor.rf2.put", label: "rf 2 put ÷ node floor rf 2 put", value: ratio(rf2["put.opsPerSec"], floor2["put.opsPerSec"]), kind: "ratio", target: "–" },
          { id: "rf1.put/floor.rf1.put", label: "rf 1 put ÷ node floor rf 1 put", value: ratio(rf1["put.opsPerSec"], floor1["put.opsPerSec"]), kind: "ratio", target: "–" },
          { id: "floor.rf2.put/natsR3.put", label: "node floor rf 2 put ÷ nats R3 put", value: r3 && ratio(floor2["put.opsPerSec"], r3["put.opsPerSec"]), kind: "ratio", target: "– (Node's own, beside rf 2's ×2.0)" },
        ] satisfies Target[])
      : []),
  ];
}

/** `a`'s put ÷ `b`'s put in the same run, then the median over runs (the machine's drift cancels). */
function sameRunRatio(rows: Row[], a: string, b: string): number {
  return median(rows.filter((r) => r.system === a).map((r) => ratio(r.put.opsPerSec, rows.find((x) => x.system === b && x.run === r.run)?.put.opsPerSec) ?? Number.NaN));
}

const finite = (x: number): number | undefined => (Number.isFinite(x) ? x : undefined);

function verdict(t: Target): string {
  if (t.min === undefined && t.max === undefined) return "";
  if (t.value === undefined) return "not run";
  return (t.min === undefined || t.value >= t.min) && (t.max === undefined || t.value <= t.max) ? "✓" : "✗";
}

function printTables(systems: string[], med: Record<string, Record<string, number>>, runs: number): void {
  const note = `median of ${runs} run${runs === 1 ? "" : "s"}`;
  console.log(
    `\nPut then get (${note}; latency per call; client CPU = this process's ÷ ops; servers' CPU = utime+stime of the data processes ÷ ops ` +
      `(shardict: the shards; the coordinator apart); syncs = the shards' fsyncs, messages/frames = WebSocket messages/frames sent by every node, per put, over the put phase and its untimed lead-in)`,
  );
  const head = ["system", "op", "ops/s", "p50 µs", "p99 µs", "client µs/op", "servers µs/op", "coordinator µs/op", "syncs/put", "msgs/put", "frames/put"];
  const rows: string[][] = [head];
  for (const s of systems) {
    const m = med[s] ?? {};
    for (const p of ["put", "get"] as const) {
      if (p === "get" && m["get.opsPerSec"] === undefined) continue;
      const extra = p === "put" ? [fmt(m.syncsPerPut, 3), fmt(m.messagesPerPut, 3), fmt(m.framesPerPut, 3)] : ["", "", ""];
      rows.push([p === "put" ? s : "", p, fmt(m[`${p}.opsPerSec`]), fmt(m[`${p}.p50`]), fmt(m[`${p}.p99`]), fmt(m[`${p}.clientCpuPerOp`]), fmt(m[`${p}.serverCpuPerOp`]), fmt(m[`${p}.coordinatorCpuPerOp`]), ...extra]);
    }
  }
  console.log(table(rows, ["l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r"]));
  printRounds(systems, med, note);
}

/**
 * Where a shard's log round goes over the put phase and its lead-in (shardict_log_round_seconds_total):
 * what every put in a round waits for. In a closed loop the put rate per shard is about
 * the puts per round ÷ the round's length, so this says whether the disk, the engine's own
 * work or the wait for the client's next requests sets it.
 */
function printRounds(systems: string[], med: Record<string, Record<string, number>>, note: string): void {
  const withRounds = systems.filter((s) => med[s]?.["round.micros"] !== undefined);
  if (withRounds.length === 0) return;
  console.log(
    `\nThe shards' log rounds over the put phase and its lead-in (${note}; µs per round, wall time: "idle" nothing to write, "turn" a write queued until the event loop's turn ends, ` +
      `"linger" a small round waiting for more writes, "write" encoding and appending, "sync" fdatasync; puts/round = puts ÷ the shards' syncs)`,
  );
  const rows: string[][] = [["system", "round µs", ...ROUND_PHASES, "puts/round"]];
  for (const s of withRounds) {
    const m = med[s] ?? {};
    rows.push([s, fmt(m["round.micros"]), ...ROUND_PHASES.map((phase) => fmt(m[`round.${phase}`])), fmt(m.syncsPerPut === undefined ? undefined : 1 / m.syncsPerPut)]);
  }
  console.log(table(rows, ["l", "r", "r", "r", "r", "r", "r", "r"]));
}

function printTargets(list: Target[], runs: number): void {
  console.log(`\nRatios and the issue's targets (from the medians of ${runs} run${runs === 1 ? "" : "s"}; rf 2 ÷ rf 1 put: per run, then the median)`);
  const rows: string[][] = [["figure", "value", "target", "met"]];
  for (const t of list) rows.push([t.label, t.kind === "ratio" ? fmtRatio(t.value) : fmt(t.value), t.target, verdict(t)]);
  console.log(table(rows, ["l", "r", "l", "l"]));
}

// ---- main -------------------------------------------------------------------------------------

export async function compareMain(o: CompareOptions): Promise<void> {
  const started = new Date();
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version, os: `${platform()} ${release()}`, memoryGiB: Math.round(totalmem() / 2 ** 30) };
  console.log(`shardict bench --vs-redis-cluster, ${started.toISOString()}`);
  console.log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.os}`);
  console.log(`command: ${o.command}${process.env.npm_lifecycle_event === "bench" ? "  (via npm run bench)" : ""}`);

  const systems: { name: string; start: () => Promise<KvTarget> }[] = [
    { name: "shardict rf 1", start: () => startShardictKv(1) },
    { name: "shardict rf 2", start: () => startShardictKv(2) },
  ];
  const describe: Record<string, string> = {};
  console.log(`shardict: ${SHARDS} shards at rf 1 and at rf 2, append-only log (durable: acknowledged after fsync on every copy), temporary data folder; SDK in this process`);

  const redis = findRedisCluster();
  if (redis === undefined) console.log("redis-server not found: apt-get install -y redis-server to compare (redis-cli comes with it)");
  else {
    systems.push({ name: "redis cluster", start: () => startRedisCluster(redis) });
    describe.redis = `redis-server ${redis.version}, 3 masters, no replica, each ${clusterArgs(0, "<tmp>/<port>").slice(4).map((a) => (a === "" ? '""' : a)).join(" ")}; ioredis Cluster with auto-pipelining`;
    console.log(`redis cluster: ${describe.redis} (fsynced, no replica)`);
  }
  if (o.nats) {
    const { findNats, startNatsKv } = await import("./nats-kv.js");
    const nats = findNats();
    if (nats === undefined) console.log("nats-server not found: apt-get install -y nats-server to compare");
    else {
      systems.push({ name: "nats R1", start: () => startNatsKv(nats, 1) }, { name: "nats R3", start: () => startNatsKv(nats, 3) });
      describe.nats = `nats-server ${nats.version}, 3 servers clustered, JetStream KV bucket with replicas 1 (R1) and 3 (R3); ${
        nats.syncAlways ? "sync_interval: always (fsync before every acknowledgement)" : "NOT fsynced per write: this nats-server has no sync_interval: always (2.10 and later), so JetStream syncs every 2 minutes"
      }; @nats-io/kv over @nats-io/transport-node`;
      console.log(`nats: ${describe.nats}`);
    }
  }
  if (o.etcd) {
    const { findEtcd, startEtcd } = await import("./etcd.js");
    const etcd = findEtcd();
    if (etcd === undefined) console.log("etcd not found: apt-get install -y etcd-server to compare");
    else {
      systems.push({ name: "etcd", start: () => startEtcd(etcd.path) });
      describe.etcd = `etcd ${etcd.version}, one member (fsyncs its WAL before acknowledging); etcd3 client`;
      console.log(`etcd: ${describe.etcd}`);
    }
  }
  if (o.floor === true) {
    systems.push({ name: "node floor rf 1", start: () => startFloorKv(1) }, { name: "node floor rf 2", start: () => startFloorKv(2) });
    describe.floor = `npm run bench:floor's servers: ${SHARDS} bare Node processes that take WebSocket messages of puts, append each turn's with one writeSync and one inline fdatasync to a preallocated file and answer per connection; at rf 2 each turn's puts also go to their replicas (spread over the other servers, as shardict's are) as one message per peer, which append and sync them in their own round and acknowledge them; puts only`;
    console.log(`node floor: ${describe.floor}`);
  }
  console.log(
    `workloads: put then get, ${o.ops.toLocaleString("en")} ops each, 16-byte keys, ${o.value.length}-byte values, ${o.inFlight} in flight, one client (this process); each phase after ${leadInS(o)} s of the same operation, untimed; ` +
      `${o.runs} run${o.runs === 1 ? "" : "s"} alternating ${systems.map((s) => s.name).join(", ")} (run 1 in this order, the others in orders that put each system far from its earlier slots and after other systems than before; the disk is synced after each system); figures are medians over runs`,
  );

  const rows: Row[] = [];
  // Each run in its own (seeded) order: no system always follows the same one, whose
  // shutdown, disk writeback and freed memory the next start inherits, nor always runs in
  // the same slot.
  const orders = runOrders(systems.length, o.runs);
  for (let run = 1; run <= o.runs; run++) {
    for (const i of orders[run - 1] as Uint32Array) {
      const s = systems[i] as (typeof systems)[number];
      const r = await oneRun(s.start, run, o);
      settle();
      rows.push(r);
      const rounds = r.round === undefined ? "" : ` · log rounds of ${fmt(r.round.micros)} µs (sync ${fmt(r.round.phases.sync)}, idle ${fmt(r.round.phases.idle)}, linger ${fmt(r.round.phases.linger)})`;
      const counters = r.syncsPerPut === undefined ? "" : ` · ${fmt(r.syncsPerPut, 3)} syncs/put, ${fmt(r.messagesPerPut, 3)} msgs/put${rounds}`;
      console.log(
        `  run ${run} ${s.name.padEnd(13)} put ${fmt(r.put.opsPerSec)}/s p99 ${fmt(r.put.p99 / 1000, 2)} ms · ${r.get ? `get ${fmt(r.get.opsPerSec)}/s p99 ${fmt(r.get.p99 / 1000, 2)} ms` : "no gets"}${counters}` +
          `${r.missing > 0 ? `  WARNING: get: ${r.missing} keys missing` : ""}` +
          `${(r.tableChanges ?? 0) > 0 ? `  WARNING: the partition table's epoch moved by ${r.tableChanges} during the run (a shard taken for dead, or a move): not the steady state` : ""}`,
      );
    }
  }

  const med: Record<string, Record<string, number>> = {};
  for (const s of systems) med[s.name] = medians(rows.filter((r) => r.system === s.name));
  printTables(systems.map((s) => s.name), med, o.runs);
  const list = targets(med, rows);
  printTargets(list, o.runs);
  const alloc: AllocResult[] = [];
  if (o.alloc === true) {
    for (const rf of [1, 2]) {
      alloc.push(await allocPass(o, rf));
      settle();
    }
    printAlloc(alloc);
  }

  const out = {
    date: started.toISOString().slice(0, 10),
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    command: o.command,
    machine,
    mode: "vs-redis-cluster",
    options: { shards: SHARDS, rfs: [1, 2], inFlight: o.inFlight, valueBytes: o.value.length, keyBytes: 16, runs: o.runs, ops: o.ops, leadInS: leadInS(o), vsNats: o.nats, vsEtcd: o.etcd, vsFloor: o.floor === true, storageEngine: "log" },
    systems: { shardict: `${SHARDS} shards, rf 1 and rf 2, log engine`, ...describe },
    notes: [
      `every figure is the median over ${o.runs} run(s); each run starts fresh servers in a temporary folder`,
      "latency per call, µs, from perf_hooks histograms; client CPU = process.cpuUsage() of this process ÷ ops",
      "servers' CPU = utime+stime from /proc/<pid>/stat summed over the data processes (shardict's shards, the redis-servers, the nats-servers, etcd, the floor's servers) ÷ ops; shardict's coordinator apart",
      `each timed phase follows ${leadInS(o)} s of the same operation, untimed, for every system (shardict's counters are read before the lead-in: a /metrics request slows a shard for 1–2 s)`,
      "syncsPerPut = shardict_fsync_duration_seconds_count summed over the shards, after − before the put phase and its lead-in, ÷ their puts; messagesPerPut / framesPerPut = shardict_ws_messages_sent_total / shardict_ws_frames_sent_total summed over every node, coordinator included",
    ],
    medians: med,
    targets: list.map((t) => ({ id: t.id, label: t.label, value: t.value ?? null, target: t.target, met: verdict(t) === "✓" ? true : verdict(t) === "✗" ? false : null })),
    runs: rows,
    ...(alloc.length > 0 && { alloc }),
  };
  // BENCH_RESULTS_DIR: elsewhere (the tests' small run must not overwrite a real run's figures).
  const dir = process.env.BENCH_RESULTS_DIR ?? join(o.root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${out.date}-vs-redis-cluster.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  console.log(`\nwrote ${relative(process.cwd(), file) || file}`);
}
