/**
 * `npm run bench`: shardict's throughput, latency, CPU and memory, measured from one client
 * process through the public SDK against a local cluster (durable LMDB, free ports, a
 * temporary data folder), optionally side by side with redis-server (`--vs-redis`).
 *
 * Each run starts a fresh cluster (and, with `--vs-redis`, a fresh redis-server: the systems
 * alternate run by run) and runs, in order:
 *   put    `--ops` puts (16-byte keys, `--value-bytes` values, `--in-flight` requests in flight)
 *   get    `--ops` gets of those keys
 *   mix    `--ops` operations, 50/50 get/put, on a zipfian (s = 0.99) key space of 100,000 keys
 *   bulk   `--ops`/2 entries written with update() / MSET in chunks of 1,000, one at a time
 *   incr   `--incr-ops` incr() / INCRBY, `--in-flight` in flight, on 1 hot key, then as many spread
 *          over 10,000 keys; the counters' sum is checked against the increments done
 *   cas    8 clients (own connections) race on one key with modify() / WATCH…EXEC loops until
 *          `--cas-updates` successful updates: updates/s, latency, conflicts per update
 *   watch  1 writer puts `--watch-writes` values as fast as it can (`--in-flight`) to
 *          `--watch-keys` keys while `--watchers` watchers of the whole dict and
 *          `--key-watchers` of one key each (own connections) take the changes: events/s,
 *          delivery latency from the writer's acknowledgement, CPU per event, and a check that
 *          every watcher got every write of its keys once (redis: keyspace notifications)
 *   then a separate dict is filled with `--entries` entries (update chunks of 1,000), and:
 *   memory (RSS of the shards 35 s after the fill, at rest, − before) ÷ entries; also 1 s after
 *   len    len() / DBSIZE latency, median of 20 calls
 *   scan   a full items() scan / SCAN + MGET, entries per second
 *   export shardict dict export of the big dict to a file, then import into a fresh dict (shardict only)
 * The summary gives the median of `--runs` runs for every figure. See bench/README.md.
 *
 * `--vs-redis-cluster` (with `--vs-nats`, `--vs-etcd`, `--vs-floor`) is another mode, put then get only:
 * scripts/bench/compare.ts; this file parses its flags and hands over.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, platform, release, totalmem } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { closedLoop, median, procMemory, prng, shuffled, sleep, warmUp, zipfSampler, cpuMicros, type LatencyStats } from "./bench/measure.js";
import { findRedis, redisArgs, startRedis, startShardict, type RedisFsync, type SystemName, type Target } from "./bench/systems.js";
import { profilesIn, summarise, type ProfileSummary } from "./bench/profile.js";
import { incrWorkload, type IncrStats } from "./bench/incr-workload.js";
import { casWorkload, type CasStats } from "./bench/cas-workload.js";
import { CAS_ATTEMPTS } from "./bench/contention.js";
import { expectedWatchEvents, watchWorkload, type WatchStats } from "./bench/watch-workload.js";
import { compareMain, stopRunning } from "./bench/compare.js";

const WORKLOADS = ["put", "get", "mix", "bulk", "incr", "cas", "watch", "len", "scan", "export", "memory"] as const;
type Workload = (typeof WORKLOADS)[number];

const USAGE = `usage: npm run bench -- [options]
  --shards N        shards in the cluster (default 3)
  --rf N            replication factor (default 1)
  --in-flight N     requests in flight for put/get/mix/incr (default 50)
  --value-bytes N   value size in bytes (default 100)
  --runs N          runs; figures are medians over runs (default 5; 3 with --vs-redis-cluster)
  --ops N           operations for put, get and mix; bulk writes N/2 entries (default 200000;
                    100000 with --vs-redis-cluster)
  --incr-ops N      increments of each incr variant (1 hot key; 10,000 keys) (default 50000)
  --cas-updates N   successful updates of the cas workload, shared by its 8 clients (default 4000)
  --watch-writes N  puts of the watch workload's writer (default 5000)
  --watch-keys N    keys the watch writer spreads its puts over (default 1000)
  --watchers N      watchers of the whole dict in the watch workload (default 100)
  --key-watchers N  watchers of one key each in the watch workload (default 100)
  --entries N       entries for len, scan, export and memory (default 1000000)
  --only a,b        workloads to run, of: ${WORKLOADS.join(", ")} (default all)
  --rest-s N        memory "at rest" is read at least N seconds after the fill (default 35: past
                    the shards' 30 s window of request answers kept for retries), once the
                    resident memory has stopped falling for 10 s (at most 60 s more)
  --warmup-s N      before each system is measured, put for N seconds and get for N/2 (at least
                    2,000 of each; default 5): V8 compiles the shards' hot path only after tens
                    of thousands of calls, which a short warm-up leaves inside the measurement
  --profile         start the nodes with --cpu-prof and summarise the profiles
  --engine E        shard storage: log (default), lmdb, or memory (not durable: for comparison)
  --tls             every shardict connection over TLS (a throwaway CA made by openssl):
                    compare with a run without it to see what TLS costs
  --vs-redis        also run every workload against redis-server (if on PATH), alternating runs
  --redis-fsync M   when redis fsyncs its append-only file: everysec (default), or always
                    (before every reply, the guarantee shardict gives)
  --vs-redis-cluster  another mode: put then get only, alternating run by run shardict (3 shards,
                    rf 1), shardict (3 shards, rf 2) and a 3-master Redis Cluster (appendfsync
                    always, no replica; ioredis Cluster): ops/s, p50, p99, client and server CPU
                    per op, syncs and messages per put, ratios and the issue's targets. Takes
                    only --ops, --runs, --in-flight, --value-bytes, --warmup-s, --vs-nats,
                    --vs-etcd, --vs-floor and --alloc
  --vs-nats         with --vs-redis-cluster: also NATS JetStream KV, R1 and R3 (3 clustered
                    nats-server -js; apt-get install -y nats-server)
  --vs-etcd         with --vs-redis-cluster: also etcd, one member (apt-get install -y etcd-server)
  --vs-floor        with --vs-redis-cluster: also the floor (npm run bench:floor) at rf 1 and rf 2,
                    puts only: three bare Node servers that append, fdatasync and answer per
                    turn, and at rf 2 copy each put to a replica that does the same, with none
                    of a shard's work: what this machine gives Node at all, side by side
  --alloc           with --vs-redis-cluster: after the timed runs, one more shardict run at rf 1
                    and rf 2 counting the bytes the shards allocate per put and per get (V8's
                    sampling heap profiler in each node), and the functions that allocate most`;

const { values: args, tokens } = (() => {
  try {
    return parseArgs({
      options: {
        shards: { type: "string", default: "3" },
        rf: { type: "string", default: "1" },
        "in-flight": { type: "string", default: "50" },
        "value-bytes": { type: "string", default: "100" },
        runs: { type: "string" },
        ops: { type: "string" },
        "incr-ops": { type: "string", default: "50000" },
        "cas-updates": { type: "string", default: "4000" },
        "watch-writes": { type: "string", default: "5000" },
        "watch-keys": { type: "string", default: "1000" },
        watchers: { type: "string", default: "100" },
        "key-watchers": { type: "string", default: "100" },
        entries: { type: "string", default: "1000000" },
        "rest-s": { type: "string", default: "35" },
        "warmup-s": { type: "string", default: "5" },
        only: { type: "string" },
        profile: { type: "boolean", default: false },
        engine: { type: "string", default: "log" },
        tls: { type: "boolean", default: false },
        "vs-redis": { type: "boolean", default: false },
        "redis-fsync": { type: "string", default: "everysec" },
        "vs-redis-cluster": { type: "boolean", default: false },
        "vs-nats": { type: "boolean", default: false },
        "vs-etcd": { type: "boolean", default: false },
        "vs-floor": { type: "boolean", default: false },
        alloc: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      tokens: true,
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
})();

if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

function oneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) {
    const list = `${allowed.slice(0, -1).join(", ")} or ${allowed[allowed.length - 1]}`;
    console.error(`--${name} must be ${list}, got ${JSON.stringify(raw)}\n\n${USAGE}`);
    process.exit(2);
  }
  return raw as T;
}

function positiveInt(name: string, raw: string, min = 1): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer ≥ ${min}, not ${JSON.stringify(raw)}\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const SHARDS = positiveInt("shards", args.shards);
const RF = positiveInt("rf", args.rf);
const IN_FLIGHT = positiveInt("in-flight", args["in-flight"]);
const VALUE_BYTES = positiveInt("value-bytes", args["value-bytes"], 0);
const ENGINE = oneOf("engine", args.engine, ["lmdb", "log", "memory"] as const);
const REDIS_FSYNC: RedisFsync = oneOf("redis-fsync", args["redis-fsync"], ["everysec", "always"] as const);
const VS_CLUSTER = args["vs-redis-cluster"] === true;
const RUNS = positiveInt("runs", args.runs ?? (VS_CLUSTER ? "3" : "5"));
const OPS = positiveInt("ops", args.ops ?? (VS_CLUSTER ? "100000" : "200000"));
const INCR_OPS = positiveInt("incr-ops", args["incr-ops"]);
const CAS_UPDATES = positiveInt("cas-updates", args["cas-updates"]);
const WATCH_WRITES = positiveInt("watch-writes", args["watch-writes"]);
const WATCH_KEYS = positiveInt("watch-keys", args["watch-keys"]);
const WATCHERS = positiveInt("watchers", args.watchers, 0);
const KEY_WATCHERS = positiveInt("key-watchers", args["key-watchers"], 0);
const ENTRIES = positiveInt("entries", args.entries);
const REST_MS = positiveInt("rest-s", args["rest-s"]) * 1000;
const WARMUP_S = positiveInt("warmup-s", args["warmup-s"], 0);
const BULK = Math.max(1, Math.floor(OPS / 2));
const MIX_KEYS = 100_000;
const ZIPF_S = 0.99;
const CHUNK = 1_000;
const LEN_CALLS = 20;
const INCR_KEYS = 10_000;
const CAS_CLIENTS = 8;
if (WATCHERS + KEY_WATCHERS === 0) {
  console.error(`--watchers and --key-watchers cannot both be 0\n\n${USAGE}`);
  process.exit(2);
}
if (!VS_CLUSTER) {
  for (const flag of ["vs-nats", "vs-etcd", "vs-floor", "alloc"] as const) {
    if (args[flag] === true) {
      console.error(`--${flag} goes with --vs-redis-cluster\n\n${USAGE}`);
      process.exit(2);
    }
  }
} else {
  // The mode runs put and get on shardict at 3 shards, rf 1 and rf 2, with the durable log.
  const TAKES = new Set(["vs-redis-cluster", "vs-nats", "vs-etcd", "vs-floor", "alloc", "ops", "runs", "in-flight", "value-bytes", "warmup-s"]);
  const given = [...new Set((tokens ?? []).flatMap((t) => (t.kind === "option" ? [t.name] : [])))];
  const other = given.filter((n) => !TAKES.has(n));
  if (other.length > 0) {
    console.error(`--vs-redis-cluster takes only --ops, --runs, --in-flight, --value-bytes, --warmup-s, --vs-nats, --vs-etcd, --vs-floor and --alloc, not ${other.map((n) => `--${n}`).join(", ")}\n\n${USAGE}`);
    process.exit(2);
  }
}
if (RF > SHARDS) {
  console.error(`--rf ${RF} needs at least ${RF} shards (--shards ${SHARDS})`);
  process.exit(2);
}
const ONLY: Set<Workload> = (() => {
  if (args.only === undefined) return new Set(WORKLOADS);
  const picked = args.only.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const bad = picked.filter((w) => !(WORKLOADS as readonly string[]).includes(w));
  if (bad.length > 0 || picked.length === 0) {
    console.error(`--only: unknown workload(s) ${bad.join(", ") || "(none given)"}; pick from ${WORKLOADS.join(", ")}`);
    process.exit(2);
  }
  return new Set(picked as Workload[]);
})();
const BIG = ONLY.has("len") || ONLY.has("scan") || ONLY.has("export") || ONLY.has("memory");

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A 16-byte key: a 4-character prefix and 12 digits. */
const key = (prefix: string, i: number): string => prefix + String(i).padStart(12, "0");

/** A value of VALUE_BYTES printable characters (the same for every key and both systems). */
const VALUE = (() => {
  const r = prng(7);
  const abc = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  let s = "";
  for (let i = 0; i < VALUE_BYTES; i++) s += abc[Math.floor(r() * abc.length)];
  return s;
})();

function chunkOf(prefix: string, from: number, to: number): [string, string][] {
  const out: [string, string][] = [];
  for (let i = from; i < to; i++) out.push([key(prefix, i), VALUE]);
  return out;
}

interface ScanStats {
  entriesPerSec: number;
  entries: number;
  seconds: number;
  serverCpuPerEntry: number;
  clientCpuPerEntry: number;
}

interface MemoryStats {
  entries: number;
  /** Sums over the data-holding processes (shards / redis-server), bytes. */
  rssBefore: number;
  /** At rest: REST_MS after the fill. */
  rssAfter: number;
  rssPerEntry: number;
  anonPerEntry: number;
  filePerEntry: number;
  /** One second after the fill: with what the fill itself left (answers kept for retries, garbage). */
  rssAfterFillPerEntry: number;
  /** redis only: used_memory after − before, per entry. */
  usedMemoryPerEntry: number | undefined;
}

interface RunResult {
  system: SystemName;
  run: number;
  pids: Record<string, number>;
  put?: LatencyStats;
  get?: LatencyStats;
  mix?: LatencyStats;
  bulk?: LatencyStats;
  incrHot?: IncrStats;
  incrSpread?: IncrStats;
  cas?: CasStats;
  watch?: WatchStats;
  fill?: LatencyStats;
  len?: { medianMs: number; minMs: number; maxMs: number; value: number };
  scan?: ScanStats;
  export?: { exportPerSec: number; importPerSec: number; bytesPerEntry: number };
  memory?: MemoryStats;
  /** VmHWM per server process at the end of the run, bytes. */
  peakRss: Record<string, number>;
  profileDir?: string;
  warnings: string[];
}

/**
 * Wait until memory is at rest: at least REST_MS (the answers kept for retries are gone by
 * then), and then until `rss()` has not fallen by more than 1% for 10 s (V8 gives memory back
 * some seconds after it was freed), at most 60 s more.
 */
async function atRest(rss: () => number): Promise<void> {
  await sleep(REST_MS);
  let low = rss();
  let lowAt = performance.now();
  for (const end = performance.now() + 60_000; performance.now() < end && performance.now() - lowAt < 10_000; ) {
    await sleep(1000);
    const now = rss();
    if (now < low * 0.99) {
      low = now;
      lowAt = performance.now();
    }
  }
}

/** The system being measured, so Ctrl-C stops it instead of leaving its processes behind. */
let running: Target | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\nbench: ${signal}: stopping the system under test`);
    const stop = VS_CLUSTER ? stopRunning() : (running?.stop() ?? Promise.resolve());
    void stop.finally(() => process.exit(130));
  });
}

async function oneRun(system: SystemName, run: number, redisPath: string | undefined, profileRoot: string | undefined): Promise<RunResult> {
  const profileDir = profileRoot !== undefined && system === "shardict" ? join(profileRoot, `run-${run}`) : undefined;
  const target: Target =
    system === "shardict" ? await startShardict({ shards: SHARDS, rf: RF, profileDir, engine: ENGINE, tls: args.tls === true }) : await startRedis(redisPath as string, REDIS_FSYNC);
  running = target;
  const pids = () => target.nodes().map((n) => n.pid);
  const res: RunResult = { system, run, pids: Object.fromEntries(target.nodes().map((n) => [n.name, n.pid])), peakRss: {}, warnings: [] };
  if (profileDir !== undefined) res.profileDir = profileDir;
  // Progress on a terminal only (overwritten in place); logs get the one line per run.
  const tty = process.stdout.isTTY;
  const say = (what: string) => {
    if (tty) process.stdout.write(`  run ${run} ${system.padEnd(8)} ${what}\x1b[K\r`);
  };
  try {
    say("warm-up");
    await warmUp(
      WARMUP_S,
      IN_FLIGHT,
      (i) => target.put(key("wrm-", i), VALUE),
      (i) => target.get(key("wrm-", i)),
    );

    // Keys key-0 … key-(filled - 1) are in the main space.
    let filled = 0;
    const ensureMain = async (n: number) => {
      for (; filled < n; filled = Math.min(n, filled + CHUNK)) await target.bulk("main", chunkOf("key-", filled, Math.min(n, filled + CHUNK)));
    };
    // A seeded permutation: the order keys are put and read in.
    const order = shuffled(OPS, prng(1000 + run));
    if (ONLY.has("put")) {
      say("put");
      res.put = await closedLoop(OPS, IN_FLIGHT, (i) => target.put(key("key-", order[i] as number), VALUE), pids);
      filled = OPS;
    }
    if (ONLY.has("get")) {
      say("get");
      await ensureMain(OPS);
      let missing = 0;
      res.get = await closedLoop(
        OPS,
        IN_FLIGHT,
        async (i) => {
          if ((await target.get(key("key-", order[i] as number))) == null) missing++;
        },
        pids,
      );
      if (missing > 0) res.warnings.push(`get: ${missing} keys missing`);
    }
    if (ONLY.has("mix")) {
      say("mix");
      await ensureMain(MIX_KEYS);
      const r = prng(2000 + run);
      const next = zipfSampler(MIX_KEYS, ZIPF_S, r);
      const keys = new Uint32Array(OPS);
      const isGet = new Uint8Array(OPS);
      for (let i = 0; i < OPS; i++) {
        keys[i] = next();
        isGet[i] = r() < 0.5 ? 1 : 0;
      }
      res.mix = await closedLoop(
        OPS,
        IN_FLIGHT,
        (i) => {
          const k = key("key-", keys[i] as number);
          return isGet[i] ? target.get(k) : target.put(k, VALUE);
        },
        pids,
      );
    }
    if (ONLY.has("bulk")) {
      say("bulk");
      res.bulk = await closedLoop(Math.ceil(BULK / CHUNK), 1, (c) => target.bulk("bulk", chunkOf("blk-", c * CHUNK, Math.min(BULK, (c + 1) * CHUNK))), pids, BULK);
    }
    if (ONLY.has("incr")) {
      say("incr, 1 hot key");
      res.incrHot = await incrWorkload(target, [key("hot-", 0)], INCR_OPS, IN_FLIGHT, prng(3000 + run), pids);
      say(`incr, ${INCR_KEYS.toLocaleString("en")} keys`);
      const keys = Array.from({ length: INCR_KEYS }, (_, i) => key("inc-", i));
      res.incrSpread = await incrWorkload(target, keys, INCR_OPS, IN_FLIGHT, prng(4000 + run), pids);
      for (const [name, r] of [["incr hot", res.incrHot], ["incr spread", res.incrSpread]] as const) {
        if (r.sum !== r.ops) res.warnings.push(`${name}: counters sum to ${r.sum}, expected ${r.ops}`);
      }
    }
    if (ONLY.has("cas")) {
      say("cas");
      res.cas = await casWorkload(target, key("cas-", 0), CAS_UPDATES, CAS_CLIENTS, pids);
      if (res.cas.final !== res.cas.ops) res.warnings.push(`cas: final value ${res.cas.final}, expected ${res.cas.ops}`);
    }
    if (ONLY.has("watch")) {
      say("watch");
      const dataPids = () => target.nodes().filter((n) => n.holdsData).map((n) => n.pid);
      const w = await watchWorkload(await target.watchDriver(), {
        writes: WATCH_WRITES,
        keys: WATCH_KEYS,
        dictWatchers: WATCHERS,
        keyWatchers: KEY_WATCHERS,
        inFlight: IN_FLIGHT,
        valueBytes: VALUE_BYTES,
        dataPids,
        say,
      });
      res.watch = w;
      const wrong = watchProblems(w);
      if (wrong.length > 0) res.warnings.push(`watch: ${wrong.join(", ")}`);
    }
    if (BIG) {
      const data = () => target.nodes().filter((n) => n.holdsData);
      const sum = (xs: ReturnType<typeof procMemory>[], k: "rss" | "anon" | "file") => xs.reduce((s, x) => s + x[k], 0);
      // "Before" at rest too: what the earlier workloads left (answers kept for retries,
      // garbage) must not count against, or for, the fill.
      const earlier = ["put", "get", "mix", "bulk", "incr", "cas"].some((w) => ONLY.has(w as Workload));
      if (earlier) {
        say("waiting for rest before the fill");
        await atRest(() => sum(data().map((n) => procMemory(n.pid)), "rss"));
      } else {
        await sleep(500);
      }
      const before = data().map((n) => procMemory(n.pid));
      const usedBefore = await target.usedMemory();
      say(`fill ${ENTRIES.toLocaleString("en")}`);
      res.fill = await closedLoop(
        Math.ceil(ENTRIES / CHUNK),
        1,
        (c) => target.bulk("big", chunkOf("big-", c * CHUNK, Math.min(ENTRIES, (c + 1) * CHUNK))),
        pids,
        ENTRIES,
      );
      await sleep(1000);
      const justFilled = sum(data().map((n) => procMemory(n.pid)), "rss");
      // At rest: the shards keep the answers of recent writes for 30 s (retries), which a
      // bulk load of 1M entries makes a few hundred thousand of; both systems wait as long.
      say("waiting for rest after the fill");
      await atRest(() => sum(data().map((n) => procMemory(n.pid)), "rss"));
      const after = data().map((n) => procMemory(n.pid));
      const usedAfter = await target.usedMemory();
      res.memory = {
        entries: ENTRIES,
        rssAfterFillPerEntry: (justFilled - sum(before, "rss")) / ENTRIES,
        rssBefore: sum(before, "rss"),
        rssAfter: sum(after, "rss"),
        rssPerEntry: (sum(after, "rss") - sum(before, "rss")) / ENTRIES,
        anonPerEntry: (sum(after, "anon") - sum(before, "anon")) / ENTRIES,
        filePerEntry: (sum(after, "file") - sum(before, "file")) / ENTRIES,
        usedMemoryPerEntry: usedBefore !== undefined && usedAfter !== undefined ? (usedAfter - usedBefore) / ENTRIES : undefined,
      };
      if (ONLY.has("len")) {
        say("len");
        const ms: number[] = [];
        let value = 0;
        for (let i = 0; i < LEN_CALLS; i++) {
          const t0 = performance.now();
          value = await target.len();
          ms.push(performance.now() - t0);
        }
        if (value !== ENTRIES) res.warnings.push(`len: ${value}, expected ${ENTRIES}`);
        res.len = { medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms), value };
      }
      if (ONLY.has("scan")) {
        say("scan");
        const cpu0 = pids().reduce((s, p) => s + cpuMicros(p), 0);
        const client0 = process.cpuUsage();
        const t0 = performance.now();
        const n = await target.scan();
        const seconds = (performance.now() - t0) / 1000;
        const cpu = pids().reduce((s, p) => s + cpuMicros(p), 0) - cpu0;
        const client = process.cpuUsage(client0);
        if (n !== ENTRIES) res.warnings.push(`scan: ${n} entries, expected ${ENTRIES}`);
        res.scan = { entriesPerSec: n / seconds, entries: n, seconds, serverCpuPerEntry: cpu / n, clientCpuPerEntry: (client.user + client.system) / n };
      }
      if (ONLY.has("export") && target.exportImport) {
        say("export");
        const x = await target.exportImport();
        if (x.exported !== ENTRIES || x.imported !== ENTRIES) res.warnings.push(`export: ${x.exported} exported, ${x.imported} imported, expected ${ENTRIES}`);
        res.export = { exportPerSec: x.exported / x.exportSeconds, importPerSec: x.imported / x.importSeconds, bytesPerEntry: x.fileBytes / Math.max(1, x.exported) };
      }
    }
    for (const n of target.nodes()) res.peakRss[n.name] = procMemory(n.pid).hwm;
  } finally {
    say("stopping");
    await target.stop();
    running = undefined;
    if (tty) process.stdout.write("\x1b[K");
  }
  return res;
}

// ---- figures, medians, ratios ---------------------------------------------------------------

type Better = "higher" | "lower";
interface Figure {
  id: string;
  label: string;
  unit: string;
  better: Better;
  of: (r: RunResult) => number | undefined;
  /** No ratio: a breakdown where redis's figure is about zero (redis maps no data file). */
  noRatio?: true;
  /** Printed in the contention table rather than the table at `--entries` entries. */
  contention?: true;
  /** Printed in the watch table. */
  watch?: true;
}

const LAT_WORKLOADS = ["put", "get", "mix", "bulk", "incrHot", "incrSpread", "cas", "fill"] as const;
type LatWorkload = (typeof LAT_WORKLOADS)[number];
const LAT_FIELDS = [
  ["opsPerSec", "ops/s", "higher"],
  ["p50", "p50 µs", "lower"],
  ["p99", "p99 µs", "lower"],
  ["p999", "p99.9 µs", "lower"],
  ["serverCpuPerOp", "server CPU µs/op", "lower"],
  ["clientCpuPerOp", "client CPU µs/op", "lower"],
] as const;

const FIGURES: Figure[] = [
  ...LAT_WORKLOADS.flatMap((w) =>
    LAT_FIELDS.map(([f, unit, better]): Figure => ({ id: `${w}.${f}`, label: `${w} ${unit}`, unit, better, of: (r) => r[w]?.[f] })),
  ),
  { id: "cas.conflictsPerUpdate", label: "cas: conflicts per successful update", unit: "", better: "lower", of: (r) => r.cas?.conflictsPerUpdate, contention: true },
  { id: "cas.gaveUp", label: `cas: calls that gave up after ${CAS_ATTEMPTS} attempts`, unit: "", better: "lower", of: (r) => r.cas?.gaveUp, contention: true, noRatio: true },
  { id: "watch.eventsPerSec", label: "events delivered/s (all watchers)", unit: "events/s", better: "higher", of: (r) => r.watch?.eventsPerSec, watch: true },
  { id: "watch.p50", label: "delivery latency p50 from the ack, µs", unit: "µs", better: "lower", of: (r) => r.watch?.p50, watch: true },
  { id: "watch.p99", label: "delivery latency p99 from the ack, µs", unit: "µs", better: "lower", of: (r) => r.watch?.p99, watch: true },
  { id: "watch.p999", label: "delivery latency p99.9 from the ack, µs", unit: "µs", better: "lower", of: (r) => r.watch?.p999, watch: true },
  { id: "watch.fromCallP50", label: "delivery latency p50 from the put's call, µs", unit: "µs", better: "lower", of: (r) => r.watch?.fromCallP50, watch: true },
  { id: "watch.fromCallP99", label: "delivery latency p99 from the put's call, µs", unit: "µs", better: "lower", of: (r) => r.watch?.fromCallP99, watch: true },
  { id: "watch.serverCpuPerEvent", label: "server CPU per event, µs (shards / redis-server)", unit: "µs", better: "lower", of: (r) => r.watch?.serverCpuPerEvent, watch: true },
  { id: "watch.clientCpuPerEvent", label: "client CPU per event, µs (writer + watchers)", unit: "µs", better: "lower", of: (r) => r.watch?.clientCpuPerEvent, watch: true },
  { id: "watch.writesPerSec", label: "writer's puts/s while watched", unit: "ops/s", better: "higher", of: (r) => r.watch?.writesPerSec, watch: true },
  { id: "watch.seconds", label: "first write → last event, s", unit: "s", better: "lower", of: (r) => r.watch?.seconds, watch: true },
  { id: "watch.beforeAck", label: "events received before the writer saw its ack (counted as 0 above)", unit: "", better: "lower", of: (r) => r.watch?.beforeAck, watch: true, noRatio: true },
  { id: "watch.startSeconds", label: "opening + confirming the watchers, s", unit: "s", better: "lower", of: (r) => r.watch?.startSeconds, watch: true },
  { id: "len.medianMs", label: `len() ms (median of ${LEN_CALLS} calls)`, unit: "ms", better: "lower", of: (r) => r.len?.medianMs },
  { id: "scan.entriesPerSec", label: "full scan, entries/s", unit: "entries/s", better: "higher", of: (r) => r.scan?.entriesPerSec },
  { id: "scan.serverCpuPerEntry", label: "full scan, server CPU µs/entry", unit: "µs", better: "lower", of: (r) => r.scan?.serverCpuPerEntry },
  { id: "scan.clientCpuPerEntry", label: "full scan, client CPU µs/entry", unit: "µs", better: "lower", of: (r) => r.scan?.clientCpuPerEntry },
  { id: "export.exportPerSec", label: "shardict dict export (NDJSON), entries/s", unit: "entries/s", better: "higher", of: (r) => r.export?.exportPerSec },
  { id: "export.importPerSec", label: "shardict dict import (NDJSON), entries/s", unit: "entries/s", better: "higher", of: (r) => r.export?.importPerSec },
  { id: "export.bytesPerEntry", label: "export file, bytes/entry", unit: "B", better: "lower", of: (r) => r.export?.bytesPerEntry },
  { id: "memory.rssPerEntry", label: "memory per entry at rest, B (RSS delta)", unit: "B", better: "lower", of: (r) => r.memory?.rssPerEntry },
  { id: "memory.rssAfterFillPerEntry", label: "  1 s after the fill, B (RSS delta)", unit: "B", better: "lower", of: (r) => r.memory?.rssAfterFillPerEntry },
  { id: "memory.anonPerEntry", label: "  of which anonymous (heap), B", unit: "B", better: "lower", of: (r) => r.memory?.anonPerEntry, noRatio: true },
  { id: "memory.filePerEntry", label: "  of which file-backed (mmap), B", unit: "B", better: "lower", of: (r) => r.memory?.filePerEntry, noRatio: true },
  { id: "memory.usedMemoryPerEntry", label: "memory per entry, B (redis used_memory)", unit: "B", better: "lower", of: (r) => r.memory?.usedMemoryPerEntry },
  { id: "peakRss.total", label: "peak RSS, all server processes, MiB", unit: "MiB", better: "lower", of: (r) => sumValues(r.peakRss) / 2 ** 20 },
];

function sumValues(o: Record<string, number>): number {
  return Object.values(o).reduce((s, x) => s + x, 0);
}

function medians(results: RunResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of FIGURES) {
    const xs = results.map(f.of).filter((x): x is number => x !== undefined && Number.isFinite(x));
    if (xs.length > 0) out[f.id] = median(xs);
  }
  const nodes = new Set(results.flatMap((r) => Object.keys(r.peakRss)));
  for (const n of nodes) out[`peakRss.${n}`] = median(results.map((r) => (r.peakRss[n] ?? Number.NaN) / 2 ** 20));
  return out;
}

// ---- printing ---------------------------------------------------------------------------------

function fmt(x: number | undefined, unit = ""): string {
  if (x === undefined || !Number.isFinite(x)) return "–";
  if (unit === "ms" || unit === "MiB" || unit === "s") return x.toFixed(x < 10 ? 2 : 1);
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString("en");
  return x.toFixed(Math.abs(x) < 10 ? 2 : 1);
}

function ratio(s: number | undefined, r: number | undefined): number | undefined {
  if (s === undefined || r === undefined || !Number.isFinite(s) || !Number.isFinite(r) || r === 0) return undefined;
  return s / r;
}

const fmtRatio = (x: number | undefined): string => (x === undefined ? "–" : `×${x < 0.1 ? x.toFixed(3) : x.toFixed(2)}`);

function table(rows: string[][], align: ("l" | "r")[]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (align[c] === "l" ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join("  ").trimEnd()).join("\n");
}

const WL_LABEL: Record<LatWorkload, string> = {
  put: "put",
  get: "get",
  mix: "mix 50/50 zipf",
  bulk: "bulk update",
  incrHot: "incr, 1 hot key",
  incrSpread: `incr, ${INCR_KEYS.toLocaleString("en")} keys`,
  cas: `cas modify, ${CAS_CLIENTS} clients, 1 key`,
  fill: "fill (update)",
};

function printLatencies(sh: Record<string, number>, rd: Record<string, number>, hasRedis: boolean, runsNote: string): void {
  console.log(
    `\nThroughput and latency (${runsNote}; latency per call, server CPU = utime+stime of all server processes ÷ ops` +
      `${sh["cas.opsPerSec"] !== undefined ? "; cas: successful updates/s, latency of a successful call with its retries, CPU ÷ successful updates" : ""})`,
  );
  const rows: string[][] = [["workload", "system", ...LAT_FIELDS.map(([, u]) => u)]];
  for (const w of LAT_WORKLOADS) {
    if (sh[`${w}.opsPerSec`] === undefined) continue;
    const label =
      w === "bulk" || w === "fill"
        ? `${WL_LABEL[w]} (entries/s; µs per 1,000)`
        : w === "cas"
          ? `${WL_LABEL[w]} (per successful update)`
          : WL_LABEL[w];
    rows.push([label, "shardict", ...LAT_FIELDS.map(([f, u]) => fmt(sh[`${w}.${f}`], u))]);
    if (hasRedis) {
      rows.push(["", "redis", ...LAT_FIELDS.map(([f, u]) => fmt(rd[`${w}.${f}`], u))]);
      rows.push(["", "shardict/redis", ...LAT_FIELDS.map(([f]) => fmtRatio(ratio(sh[`${w}.${f}`], rd[`${w}.${f}`])))]);
    }
  }
  console.log(table(rows, ["l", "l", "r", "r", "r", "r", "r", "r"]));
  if (hasRedis) console.log("ratio shardict/redis: for ops/s above ×1 means shardict is faster; for latency and CPU below ×1 means shardict is better");
}

function printSummary(med: Partial<Record<SystemName, Record<string, number>>>, hasRedis: boolean): void {
  const sh = med.shardict ?? {};
  const rd = med.redis ?? {};
  const runsNote = `median of ${RUNS} run${RUNS === 1 ? "" : "s"}`;
  if (LAT_WORKLOADS.some((w) => sh[`${w}.opsPerSec`] !== undefined)) printLatencies(sh, rd, hasRedis, runsNote);

  /** One row per figure: shardict's, and with redis, redis's and the ratio. */
  const figureTable = (figures: typeof FIGURES): string => {
    const rows: string[][] = [hasRedis ? ["figure", "shardict", "redis", "shardict/redis"] : ["figure", "shardict"]];
    for (const f of figures) {
      const row = [f.label, fmt(sh[f.id], f.unit)];
      if (hasRedis) row.push(fmt(rd[f.id], f.unit), f.noRatio ? "" : fmtRatio(ratio(sh[f.id], rd[f.id])));
      rows.push(row);
    }
    return table(rows, ["l", "r", "r", "r"]);
  };
  const contention = FIGURES.filter((f) => f.contention);
  if (contention.some((f) => sh[f.id] !== undefined)) {
    console.log(`\nContention (${runsNote}; a conflict is an attempt whose conditional write lost: attempts − successful updates)`);
    console.log(figureTable(contention));
  }

  const watch = FIGURES.filter((f) => f.watch);
  if (watch.some((f) => sh[f.id] !== undefined)) {
    console.log(
      `\nWatch (${runsNote}; 1 writer, ${WATCH_WRITES.toLocaleString("en")} puts over ${WATCH_KEYS.toLocaleString("en")} keys, ${IN_FLIGHT} in flight; ` +
        `${WATCHERS} watchers of everything + ${KEY_WATCHERS} of one key each, own connections, in this process; ` +
        `${fmt(expectedWatchEvents({ writes: WATCH_WRITES, keys: WATCH_KEYS, dictWatchers: WATCHERS, keyWatchers: KEY_WATCHERS }))} events expected per run; latency from the writer's acknowledgement to a watcher's receipt)`,
    );
    console.log(figureTable(watch));
    if (hasRedis) {
      console.log(
        "Not like for like: a redis keyspace notification carries the key and the command's name, no value (a watcher that needs it must GET it, and may read a later one) and no version;\n" +
          "it is sent once to the connections subscribed at that moment (fire-and-forget: lost while a watcher is disconnected or its output buffer overflows, no resume, no order or once guarantee across reconnects).\n" +
          "A shardict event carries the value and the version, and a watcher resumes from its cursor after a reconnection, failover or partition move, each change once, in order (or is told \"reset\").",
      );
    }
  }

  const big = FIGURES.filter((f) => !f.contention && !f.watch && !LAT_WORKLOADS.some((w) => f.id.startsWith(`${w}.`)) && f.id !== "peakRss.total");
  if (big.some((f) => sh[f.id] !== undefined)) {
    console.log(`\nAt ${ENTRIES.toLocaleString("en")} entries (${runsNote}; memory is RSS-based: resident memory of the data processes at rest after the fill − before, ÷ entries; at rest = at least ${REST_MS / 1000} s after, once it stopped falling)`);
    const rows2: string[][] = [hasRedis ? ["figure", "shardict", "redis", "shardict/redis", "better"] : ["figure", "shardict"]];
    for (const f of big) {
      if (sh[f.id] === undefined && rd[f.id] === undefined) continue;
      if (!hasRedis && f.id === "memory.usedMemoryPerEntry") continue;
      const row = [f.label, fmt(sh[f.id], f.unit)];
      if (hasRedis) {
        const q = f.noRatio ? undefined : ratio(sh[f.id], rd[f.id]);
        const verdict = q === undefined || q === 1 ? "" : (f.better === "higher") === q > 1 ? ": shardict" : ": redis";
        row.push(fmt(rd[f.id], f.unit), fmtRatio(q), f.noRatio ? "" : `${f.better} is better${verdict}`);
      }
      rows2.push(row);
    }
    console.log(table(rows2, ["l", "r", "r", "r", "l"]));
  }

  console.log(`\nPeak RSS per server process (VmHWM at the end of the run, MiB, ${runsNote})`);
  const rows3: string[][] = [["process", "MiB"]];
  for (const [id, v] of Object.entries(sh)) if (id.startsWith("peakRss.") && id !== "peakRss.total") rows3.push([`shardict ${id.slice(8)}`, fmt(v, "MiB")]);
  rows3.push(["shardict, all processes", fmt(sh["peakRss.total"], "MiB")]);
  if (hasRedis) {
    rows3.push(["redis-server", fmt(rd["peakRss.total"], "MiB")]);
    rows3.push(["shardict/redis (lower is better for shardict)", fmtRatio(ratio(sh["peakRss.total"], rd["peakRss.total"]))]);
  }
  console.log(table(rows3, ["l", "r"]));
}

/** The correctness checks of incr and cas: read back after the timed loop, in every run. */
const CHECKS: { label: string; of: (r: RunResult) => { ok: boolean; got: number; want: number; detail?: string } | undefined }[] = [
  { label: `${WL_LABEL.incrHot}: counter = increments`, of: (r) => r.incrHot && { ok: r.incrHot.sum === r.incrHot.ops, got: r.incrHot.sum, want: r.incrHot.ops } },
  { label: `${WL_LABEL.incrSpread}: sum of counters = increments`, of: (r) => r.incrSpread && { ok: r.incrSpread.sum === r.incrSpread.ops, got: r.incrSpread.sum, want: r.incrSpread.ops } },
  { label: `${WL_LABEL.cas}: final value = successful updates`, of: (r) => r.cas && { ok: r.cas.final === r.cas.ops, got: r.cas.final, want: r.cas.ops } },
  {
    label: "watch: every watcher got every write of its keys once (events delivered)",
    of: (r) => r.watch && { ok: watchProblems(r.watch).length === 0, got: r.watch.events, want: r.watch.expected, detail: watchProblems(r.watch).join(", ") },
  },
];

/** What went wrong in a watch run: missed, repeated or reordered events, resets, reconnections. */
function watchProblems(w: WatchStats): string[] {
  const out: string[] = [];
  if (w.missing !== 0) out.push(`${w.missing.toLocaleString("en")} events MISSED (${w.watchersWrong} watchers with a count mismatch)`);
  if (w.duplicates !== 0) out.push(`${w.duplicates.toLocaleString("en")} events delivered twice`);
  if (w.outOfOrder !== 0) out.push(`${w.outOfOrder.toLocaleString("en")} events out of order`);
  for (const [what, n] of Object.entries(w.other)) out.push(`${n} × ${what}`);
  return out;
}

function printChecks(results: RunResult[], systems: readonly SystemName[]): void {
  const rows: string[][] = [["check", ...systems]];
  for (const c of CHECKS) {
    const cells = systems.map((system) => {
      const outcomes = results.filter((r) => r.system === system).map((r) => ({ run: r.run, check: c.of(r) }));
      const done = outcomes.filter((o) => o.check !== undefined);
      if (done.length === 0) return undefined;
      const bad = done.filter((o) => !o.check?.ok);
      const want = [...new Set(done.map((o) => o.check?.want))].map((w) => fmt(w)).join("/");
      if (bad.length === 0) return `ok in ${done.length}/${done.length} runs (${want})`;
      return `WRONG in ${bad.length}/${done.length} runs: ${bad.map((o) => `run ${o.run} got ${fmt(o.check?.got)}, want ${fmt(o.check?.want)}${o.check?.detail ? ` (${o.check.detail})` : ""}`).join("; ")}`;
    });
    if (cells.some((x) => x !== undefined)) rows.push([c.label, ...cells.map((x) => x ?? "–")]);
  }
  if (rows.length === 1) return;
  console.log("\nChecks (every run: the counters read back after the timed loop, untimed; the watchers' tallies)");
  console.log(table(rows, ["l", ...systems.map(() => "l" as const)]));
}

/** Names on a run's line, where they differ from the result's field. */
const RUN_NAME: Partial<Record<LatWorkload, string>> = { incrHot: "incr hot", incrSpread: "incr spread" };

function runLine(r: RunResult): string {
  const parts: string[] = [];
  for (const w of LAT_WORKLOADS) {
    const s = r[w];
    if (s) parts.push(`${RUN_NAME[w] ?? w} ${fmt(s.opsPerSec)}/s p99 ${fmt(s.p99 / 1000, "ms")} ms`);
  }
  if (r.cas) parts.push(`cas ${fmt(r.cas.conflictsPerUpdate)} conflicts/update${r.cas.gaveUp > 0 ? `, ${r.cas.gaveUp} gave up` : ""}`);
  if (r.watch) parts.push(`watch ${fmt(r.watch.eventsPerSec)} events/s p50 ${fmt(r.watch.p50 / 1000, "ms")} ms p99 ${fmt(r.watch.p99 / 1000, "ms")} ms ${fmt(r.watch.serverCpuPerEvent)} µs/event`);
  const checks = CHECKS.map((c) => c.of(r)).filter((c) => c !== undefined);
  if (checks.length > 0) parts.push(`checks ${checks.every((c) => c.ok) ? "ok" : "FAILED"}`);
  if (r.len) parts.push(`len ${fmt(r.len.medianMs, "ms")} ms`);
  if (r.scan) parts.push(`scan ${fmt(r.scan.entriesPerSec)}/s`);
  if (r.export) parts.push(`export ${fmt(r.export.exportPerSec)}/s · import ${fmt(r.export.importPerSec)}/s`);
  if (r.memory) parts.push(`mem ${fmt(r.memory.rssPerEntry)} B/entry`);
  return `  run ${r.run} ${r.system.padEnd(8)} ${parts.join(" · ")}${r.warnings.length ? `  WARNING: ${r.warnings.join("; ")}` : ""}`;
}

// ---- main -------------------------------------------------------------------------------------

function commandLine(): string {
  const quote = (s: string) => (/^[\w./=,:@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const script = relative(process.cwd(), process.argv[1] ?? "") || (process.argv[1] ?? "");
  return ["node", ...process.execArgv, script, ...process.argv.slice(2)].map(quote).join(" ");
}

async function main(): Promise<void> {
  const started = new Date();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    node: process.version,
    os: `${platform()} ${release()}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
  const command = commandLine();
  console.log(`shardict bench, ${started.toISOString()}`);
  console.log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.os}`);
  console.log(`command: ${command}${process.env.npm_lifecycle_event === "bench" ? "  (via npm run bench)" : ""}`);

  let redis: { path: string; version: string } | undefined;
  if (args["vs-redis"]) {
    redis = findRedis();
    if (redis === undefined) console.log(`redis-server not found: install it with "apt-get install redis-server" to compare; running shardict alone`);
  }
  console.log(
    `shardict: ${SHARDS} shards, rf ${RF}, ${ENGINE === "memory" ? "memory engine (NOT durable: for comparison only)" : `${ENGINE === "lmdb" ? "LMDB" : "append-only log"} (durable: acknowledged after fsync)`}, temporary data folder; one client process (this one), SDK${args.tls === true ? "; every connection over TLS" : ""}`,
  );
  if (redis) console.log(`redis: redis-server ${redis.version} ${redisArgs(REDIS_FSYNC).map((a) => (a === "" ? '""' : a)).join(" ")}, ioredis with auto-pipelining, same process`);
  console.log(
    `workloads: ${[...ONLY].join(", ")}; 16-byte keys, ${VALUE_BYTES}-byte values, ${IN_FLIGHT} in flight; put/get/mix ${OPS.toLocaleString("en")} ops, ` +
      `bulk ${BULK.toLocaleString("en")} entries in chunks of ${CHUNK.toLocaleString("en")}` +
      `${ONLY.has("incr") ? `, incr ${INCR_OPS.toLocaleString("en")} on 1 key and ${INCR_OPS.toLocaleString("en")} on ${INCR_KEYS.toLocaleString("en")}` : ""}` +
      `${ONLY.has("cas") ? `, cas ${CAS_UPDATES.toLocaleString("en")} successful updates by ${CAS_CLIENTS} clients` : ""}` +
      `${ONLY.has("watch") ? `, watch ${WATCH_WRITES.toLocaleString("en")} puts over ${WATCH_KEYS.toLocaleString("en")} keys to ${WATCHERS} + ${KEY_WATCHERS} watchers` : ""}${BIG ? `, ${ENTRIES.toLocaleString("en")} entries for len/scan/memory` : ""}; ` +
      `${RUNS} run${RUNS === 1 ? "" : "s"}${redis ? " alternating shardict and redis" : ""}, figures are medians over runs`,
  );

  const stamp = started.toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const profileRoot = args.profile ? join(ROOT, "bench", "profiles", stamp) : undefined;
  if (profileRoot) console.log(`profiling: nodes run with --cpu-prof (slower: figures of this run are not comparable)`);

  const results: RunResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const system of redis ? (["shardict", "redis"] as const) : (["shardict"] as const)) {
      const r = await oneRun(system, run, redis?.path, profileRoot);
      results.push(r);
      console.log(runLine(r));
    }
  }

  const med: Partial<Record<SystemName, Record<string, number>>> = { shardict: medians(results.filter((r) => r.system === "shardict")) };
  if (redis) med.redis = medians(results.filter((r) => r.system === "redis"));
  printSummary(med, redis !== undefined);
  printChecks(results, redis ? ["shardict", "redis"] : ["shardict"]);

  const ratios: Record<string, number> = {};
  if (med.redis && med.shardict) {
    for (const [id, v] of Object.entries(med.shardict)) {
      const q = ratio(v, med.redis[id] ?? (id.startsWith("peakRss.") ? med.redis["peakRss.total"] : undefined));
      const noRatio = FIGURES.some((f) => f.id === id && f.noRatio);
      if (q !== undefined && !noRatio && (!id.startsWith("peakRss.") || id === "peakRss.total")) ratios[id] = q;
    }
  }

  let profiles: ProfileSummary[] | undefined;
  if (profileRoot) {
    const files = results
      .filter((r) => r.profileDir !== undefined)
      .flatMap((r) => profilesIn(r.profileDir as string, new Map(Object.entries(r.pids).map(([n, p]) => [p, n]))));
    console.log(`\nCPU profiles (${files.length} .cpuprofile files, open in Chrome DevTools or speedscope): ${relative(process.cwd(), profileRoot) || profileRoot}/run-N/`);
    for (const f of files) console.log(`  ${f.node.padEnd(12)} ${relative(process.cwd(), f.file)}`);
    profiles = summarise(files, ROOT);
    for (const p of profiles) {
      console.log(`\n  ${p.node}: busy ${(p.busyMs / 1000).toFixed(1)} s of ${(p.totalMs / 1000).toFixed(1)} s profiled; top functions by self time:`);
      for (const t of p.top) console.log(`    ${t.pctOfBusy.toFixed(1).padStart(5)}%  ${(t.selfMs / 1000).toFixed(2).padStart(7)} s  ${t.fn}  ${t.where}`);
      console.log(`    by area: ${p.areas.slice(0, 8).map((a) => `${a.area} ${a.pctOfBusy.toFixed(0)}%`).join(", ")}`);
    }
  }

  const notes = [
    `every figure is the median over ${RUNS} run(s); each run starts fresh servers in a temporary folder`,
    "latency: per call (for bulk and fill, per update()/MSET of 1,000 entries), microseconds, from perf_hooks histograms",
    "server CPU per op: utime+stime from /proc/<pid>/stat of every server process (coordinator and shards; redis-server), delta over the workload ÷ ops",
    "memory per entry is RSS-based: (sum of VmRSS of the shards, or redis-server, at rest after the fill − before) ÷ entries; at rest = --rest-s after the fill (default 35 s: past the 30 s window of request answers kept for retries); LMDB pages mapped into the shards count (file-backed)",
    "incr: Dict.incr / INCRBY (auto-pipelined), on 1 key, then spread uniformly (seeded) over 10,000 keys; the counters are read back after the timed loop and must sum to the increments",
    `cas: ${CAS_CLIENTS} clients with their own connections add 1 to one key until ${CAS_UPDATES} successful updates: Dict.modify (getEntry + put ifVersion) / WATCH+GET, MULTI+SET+EXEC; both loops: ${CAS_ATTEMPTS} attempts, full-jitter backoff up to min(100, 2^attempt) ms; latency and CPU per successful call; conflicts = attempts − successful updates`,
    `watch: 1 writer puts ${WATCH_WRITES} values (write i to key i mod ${WATCH_KEYS}, its value starting with i), ${IN_FLIGHT} in flight, while ${WATCHERS} watchers of the whole dict (redis: PSUBSCRIBE __keyspace@2__:*) and ${KEY_WATCHERS} of one key each (SUBSCRIBE __keyspace@2__:<key>), spread evenly over the keys, each on its own connection (shardict: its own connect()), all in this process, take the changes; every watcher is confirmed started by a marker write before the first put; events/s = events delivered ÷ (first write → last event); latency = a watcher's receipt − the moment the writer's put resolved (same process, same clock; an event received before that counts as 0: the watchers' messages and the writer's reply race in this process), and − the moment the writer called put (its round trip included, no race); server CPU = utime+stime of the shards / redis-server ÷ events; redis keyspace notifications carry no value or version and are fire-and-forget`,
    "peak RSS: VmHWM of each server process at the end of a run",
    "ratios are shardict/redis: above 1 is better for shardict for ops/s and entries/s, below 1 is better for latency, CPU and memory",
  ];
  const out = {
    date: started.toISOString().slice(0, 10),
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    command,
    machine,
    options: {
      shards: SHARDS,
      rf: RF,
      inFlight: IN_FLIGHT,
      valueBytes: VALUE_BYTES,
      keyBytes: 16,
      runs: RUNS,
      ops: OPS,
      bulkEntries: BULK,
      bulkChunk: CHUNK,
      mixKeys: MIX_KEYS,
      incrOps: INCR_OPS,
      incrKeys: INCR_KEYS,
      casUpdates: CAS_UPDATES,
      casClients: CAS_CLIENTS,
      casAttempts: CAS_ATTEMPTS,
      watchWrites: WATCH_WRITES,
      watchKeys: WATCH_KEYS,
      watchers: WATCHERS,
      keyWatchers: KEY_WATCHERS,
      zipfS: ZIPF_S,
      entries: ENTRIES,
      lenCalls: LEN_CALLS,
      workloads: [...ONLY],
      profile: args.profile,
      vsRedis: args["vs-redis"],
      storageEngine: ENGINE,
      tls: args.tls === true,
    },
    redis: redis ? { version: redis.version, args: redisArgs(REDIS_FSYNC), client: "ioredis (enableAutoPipelining)" } : null,
    notes,
    figures: FIGURES.map(({ id, label, unit, better }) => ({ id, label, unit, better })),
    medians: med,
    ratios: med.redis ? ratios : null,
    runs: results,
    ...(profiles && { profiles }),
  };
  const dir = join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${out.date}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  console.log(`\nwrote ${relative(process.cwd(), file) || file}`);
}

(VS_CLUSTER ? compareMain({ runs: RUNS, ops: OPS, inFlight: IN_FLIGHT, value: VALUE, warmupS: WARMUP_S, nats: args["vs-nats"] === true, etcd: args["vs-etcd"] === true, floor: args["vs-floor"] === true, alloc: args.alloc === true, command: commandLine(), root: ROOT }) : main()).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
