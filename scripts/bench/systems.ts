/**
 * The two systems `npm run bench` drives, behind one interface: a local shardict cluster
 * (through the public SDK) and, with `--vs-redis`, a redis-server (through ioredis). Both are
 * started fresh for each run in a temporary folder and removed afterwards.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { parseConfig } from "../../src/config/cluster-config.js";
import { makeThrowawayCa } from "../../src/launcher/throwaway-ca.js";
import { LocalCluster } from "../../src/launcher/local-cluster.js";
import { Dict, connect, type Client } from "../../src/index.js";
import type { Contender } from "./contention.js";
import { redisContenders } from "./redis-cas.js";
import { shardictContenders } from "./shardict-cas.js";
import { exportImport, type ExportImportStats } from "./export-workload.js";
import type { WatchDriver } from "./watch-workload.js";
import { shardictWatchDriver } from "./shardict-watch.js";
import { redisWatchDriver } from "./redis-watch.js";
import { freePort, onPath, serverRoom, startServer, waitFor } from "./servers.js";

export type SystemName = "shardict" | "redis";

export interface ServerNode {
  name: string;
  pid: number;
  /** Shards (and redis-server) hold the data; the coordinator does not. */
  holdsData: boolean;
}

/**
 * Where the keys of a workload live: shardict has one dict each ("bench", "bench-bulk",
 * "bench-big"); redis keeps main and bulk in db 0 (their keys differ by prefix) and big in
 * db 1, so that DBSIZE counts exactly the big space. The counters of incr and cas are in a
 * dict of their own ("bench-coord") / in db 0 under their own prefixes.
 */
export type Space = "main" | "bulk" | "big";

export interface Target {
  readonly system: SystemName;
  /** The server processes, for CPU and memory accounting. */
  nodes(): ServerNode[];
  put(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<unknown>;
  /** Write many entries in one call: `Dict.update` / `MSET`. */
  bulk(space: Space, entries: [string, string][]): Promise<unknown>;
  /** Add 1 to the counter at `key`, atomically, in one request: `Dict.incr` / `INCRBY`. */
  incr(key: string): Promise<unknown>;
  /** The counters at `keys` (0 for an absent key), read one by one / by MGET: for checks, untimed. */
  counters(keys: string[]): Promise<number[]>;
  /** `n` clients, each with its own connection, for the cas workload; the caller closes them. */
  contenders(n: number): Promise<Contender[]>;
  /** The watch workload's writer and watchers (own connections; dict "bench-watch" / db 2). */
  watchDriver(): Promise<WatchDriver>;
  /** Number of entries in the "big" space: `Dict.len()` / `DBSIZE`. */
  len(): Promise<number>;
  /** Read every entry of the "big" space, keys and values; returns how many were read. */
  scan(): Promise<number>;
  /** Export the big space to a file and import it into a fresh dict (shardict only). */
  exportImport?(): Promise<ExportImportStats>;
  /** shardict only: every node's `GET /metrics` address (coordinator and shards). */
  metricsUrls?(): { name: string; url: string }[];
  /** Redis's own account of its data (`INFO memory` used_memory), bytes; shardict has none. */
  usedMemory(): Promise<number | undefined>;
  stop(): Promise<void>;
}

export interface ShardictOptions {
  shards: number;
  rf: number;
  /** Start every node with `--cpu-prof` writing into this folder. */
  profileDir: string | undefined;
  /** "memory" measures what durability costs (nothing is written to disk). */
  engine: "lmdb" | "log" | "memory";
  /** Every connection over TLS (a throwaway CA), to measure what TLS costs. */
  tls?: boolean;
  /**
   * Preload the allocation probe (alloc-probe.ts) into every node, writing its reports into
   * this folder; {@link Target.nodes} pids are what to signal.
   */
  allocDir?: string;
  /** Config fields set over the bench's own (e.g. a slower failure detector). */
  config?: Record<string, unknown>;
}

/** The dict of the incr and cas counters. */
const COORD_DICT = "bench-coord";

export async function startShardict(opts: ShardictOptions): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), "shardict-bench-"));
  let tls: { cert: string; key: string; ca: string } | undefined;
  if (opts.tls === true) {
    const ca = makeThrowawayCa("shardict-bench", join(dir, "tls"));
    tls = { cert: ca.cert, key: ca.key, ca: ca.ca };
    // Every client this process makes (the workloads' own connect()s too) trusts it.
    process.env.SHARDICT_CA = ca.ca;
  }
  const config = parseConfig({
    ...(tls !== undefined && { tls }),
    coordinator: { host: "127.0.0.1", port: 0 },
    shards: Array.from({ length: opts.shards }, (_, i) => ({ id: `shard-${i + 1}`, host: "127.0.0.1", port: 0 })),
    dataDir: join(dir, "data"),
    replicationFactor: opts.rf,
    storageEngine: opts.engine,
    ...opts.config,
  });
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(configPath, JSON.stringify(config));
  const log: string[] = [];
  const nodeArgs: string[] = [];
  if (opts.profileDir !== undefined) {
    mkdirSync(opts.profileDir, { recursive: true });
    nodeArgs.push("--cpu-prof", "--cpu-prof-interval", "100", "--cpu-prof-dir", opts.profileDir);
  }
  if (opts.allocDir !== undefined) {
    mkdirSync(opts.allocDir, { recursive: true });
    nodeArgs.push("--import", new URL("./alloc-probe.js", import.meta.url).href);
  }
  const cluster = new LocalCluster({
    configPath,
    config,
    freePorts: true,
    nodeArgs,
    ...(opts.allocDir !== undefined && { env: { SHARDICT_ALLOC_DIR: opts.allocDir } }),
    onLine: (node, line) => {
      log.push(`[${node}] ${line}`);
      if (log.length > 200) log.shift();
    },
  });
  let client: Client | undefined;
  try {
    await cluster.start();
    client = await connect({ url: cluster.coordinatorUrl });
  } catch (err) {
    client?.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    console.error(log.slice(-30).join("\n"));
    throw err;
  }
  const c = client;
  const dicts: Record<Space, Dict<string>> = {
    main: Dict.fromName<string>("bench", { createIfMissing: true, client: c }),
    bulk: Dict.fromName<string>("bench-bulk", { createIfMissing: true, client: c }),
    big: Dict.fromName<string>("bench-big", { createIfMissing: true, client: c }),
  };
  const coord = Dict.fromName<number>(COORD_DICT, { createIfMissing: true, client: c });
  for (const d of [...Object.values(dicts), coord]) await d.hydrate();
  const main = dicts.main;
  const url = cluster.coordinatorUrl;
  return {
    system: "shardict",
    nodes: () =>
      cluster.names().flatMap((name) => {
        const pid = cluster.isRunning(name) ? cluster.pidOf(name) : undefined;
        return pid === undefined ? [] : [{ name, pid, holdsData: name !== "coordinator" }];
      }),
    put: (k, v) => main.put(k, v),
    get: (k) => main.get(k),
    bulk: (space, entries) => dicts[space].update(entries),
    incr: (k) => coord.incr(k),
    counters: async (keys) => {
      const out: number[] = [];
      for (let i = 0; i < keys.length; i += 1000) out.push(...(await Promise.all(keys.slice(i, i + 1000).map(async (k) => (await coord.get(k)) ?? 0))));
      return out;
    },
    contenders: (n) => shardictContenders(url, COORD_DICT, n),
    watchDriver: () => shardictWatchDriver(url, c),
    len: () => dicts.big.len(),
    scan: async () => {
      let n = 0;
      for await (const [k, v] of dicts.big.items()) if (k !== undefined && v !== undefined) n++;
      return n;
    },
    metricsUrls: () =>
      cluster.names().flatMap((name) => {
        const ws = name === "coordinator" ? url : cluster.urlOf(name);
        return ws === undefined || ws === "" ? [] : [{ name, url: `${ws.replace(/^ws/, "http")}/metrics` }];
      }),
    usedMemory: async () => undefined,
    exportImport: () => exportImport(c, dir, dicts.big),
    stop: async () => {
      c.close();
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The `redis-server` on PATH, or undefined. */
export function findRedis(): { path: string; version: string } | undefined {
  const path = onPath("redis-server");
  if (path === undefined) return undefined;
  const v = spawnSync(path, ["--version"], { encoding: "utf8" });
  const version = v.stdout?.match(/v=(\S+)/)?.[1] ?? "unknown";
  return { path, version };
}

/** When redis fsyncs its append-only file: once a second (the default baseline), or before every reply (shardict's guarantee). */
export type RedisFsync = "everysec" | "always";

/** redis's arguments: an append-only file, synced as `fsync` says; no RDB snapshots. */
export function redisArgs(fsync: RedisFsync): string[] {
  return ["--appendonly", "yes", "--appendfsync", fsync, "--save", ""];
}

export async function startRedis(path: string, fsync: RedisFsync): Promise<Target> {
  const { dir, servers, stop: stopServer } = serverRoom("shardict-bench-redis-");
  const port = await freePort();
  const server = startServer("redis-server", path, ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no", ...redisArgs(fsync)]);
  servers.push(server);
  try {
    await waitFor("redis-server to accept connections", async () => server.log().includes("Ready to accept connections"), [server], 10_000);
  } catch (err) {
    await stopServer();
    throw err;
  }
  const options = { host: "127.0.0.1", port, enableAutoPipelining: true, maxRetriesPerRequest: 0 };
  const db0 = new Redis({ ...options, db: 0 });
  const db1 = new Redis({ ...options, db: 1 });
  const pid = server.pid;
  return {
    system: "redis",
    nodes: () => (server.exited() ? [] : [{ name: "redis-server", pid, holdsData: true }]),
    put: (k, v) => db0.set(k, v),
    get: (k) => db0.get(k),
    bulk: (space, entries) => {
      const flat: string[] = [];
      for (const [k, v] of entries) flat.push(k, v);
      return (space === "big" ? db1 : db0).mset(flat);
    },
    incr: (k) => db0.incrby(k, 1),
    counters: async (keys) => {
      const out: number[] = [];
      for (let i = 0; i < keys.length; i += 1000) for (const v of await db0.mget(keys.slice(i, i + 1000))) out.push(v === null ? 0 : Number(v));
      return out;
    },
    contenders: (n) => redisContenders(port, n),
    watchDriver: () => redisWatchDriver(port),
    len: () => db1.dbsize(),
    scan: async () => {
      // SCAN pages of ~1,000 keys, MGET of each page while the next SCAN is in flight
      // (the same one-page-ahead pipelining the shardict SDK does).
      let n = 0;
      let page = await db1.scan("0", "COUNT", 1000);
      for (;;) {
        const [cursor, keys] = page;
        const nextPage = cursor === "0" ? undefined : db1.scan(cursor, "COUNT", 1000);
        if (keys.length > 0) {
          const values = await db1.mget(keys);
          for (const v of values) if (v !== null) n++;
        }
        if (nextPage === undefined) return n;
        page = await nextPage;
      }
    },
    usedMemory: async () => {
      const info = await db0.info("memory");
      const m = info.match(/^used_memory:(\d+)/m);
      return m ? Number(m[1]) : undefined;
    },
    stop: async () => {
      db0.disconnect();
      db1.disconnect();
      await stopServer();
    },
  };
}
