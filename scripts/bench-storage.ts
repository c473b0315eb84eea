/**
 * `npm run bench:storage`: what durability costs, measured on real processes.
 *
 * 1. Durable put throughput: 100-byte values, 50 requests in flight from one client, on a
 *    3-shard cluster with the log engine (the default), LMDB and, side by side, the memory
 *    engine (median of runs, alternating them).
 * 2. Recovery: a 1-shard cluster (`--engine log|lmdb`, default log) is filled with
 *    `--entries` entries (default 1,000,000), killed with SIGKILL, and started again; the
 *    shard reports how long loading took.
 * 3. clear() of that dict: how long the call takes and the worst latency of reads on another
 *    dict meanwhile (the purge runs in bounded background batches).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { parseConfig } from "../src/config/cluster-config.js";
import { LocalCluster } from "../src/launcher/local-cluster.js";
import { Dict, connect, type Client } from "../src/index.js";

const { values: args } = parseArgs({
  options: {
    entries: { type: "string", default: "1000000" },
    runs: { type: "string", default: "5" },
    puts: { type: "string", default: "100000" },
    "in-flight": { type: "string", default: "50" },
    "skip-throughput": { type: "boolean", default: false },
    engine: { type: "string", default: "log" },
  },
});
const ENTRIES = Number(args.entries);
const RUNS = Number(args.runs);
const PUTS = Number(args.puts);
const IN_FLIGHT = Number(args["in-flight"]);
const ENGINE = args.engine === "lmdb" ? "lmdb" : "log";

async function withCluster<T>(shards: number, engine: "log" | "lmdb" | "memory", body: (cluster: LocalCluster, client: Client, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "shardict-bench-"));
  const config = parseConfig({
    coordinator: { host: "127.0.0.1", port: 0 },
    shards: Array.from({ length: shards }, (_, i) => ({ id: `shard-${i + 1}`, host: "127.0.0.1", port: 0 })),
    dataDir: join(dir, "data"),
    storageEngine: engine,
  });
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(configPath, JSON.stringify(config));
  const lines: string[] = [];
  const cluster = new LocalCluster({ configPath, config, freePorts: true, onLine: (node, line) => lines.push(`[${node}] ${line}`) });
  await cluster.start();
  const client = await connect({ url: cluster.coordinatorUrl });
  try {
    return await body(cluster, client, dir);
  } finally {
    client.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function putThroughput(client: Client, name: string): Promise<number> {
  const d = await Dict.fromName(name, { createIfMissing: true, client }).hydrate();
  const value = "v".repeat(100);
  let i = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (i < PUTS) await d.put(`key-${String(i++).padStart(12, "0")}`, value);
    }),
  );
  return PUTS / ((performance.now() - t0) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, node ${process.version}`);
  if (!args["skip-throughput"]) await throughput();
  await recoveryAndClear();
}

async function throughput(): Promise<void> {
  console.log(`\n1. put throughput, ${PUTS} puts of 100-byte values, ${IN_FLIGHT} in flight, 3 shards, ${RUNS} runs each (alternating)`);
  const engines = ["log", "lmdb", "memory"] as const;
  const rates = new Map<string, number[]>(engines.map((e) => [e, []]));
  for (let r = 0; r < RUNS; r++) {
    for (const engine of engines) {
      const rate = await withCluster(3, engine, (_c, client) => putThroughput(client, "bench"));
      rates.get(engine)?.push(rate);
      console.log(`   run ${r + 1} ${engine.padEnd(6)} ${Math.round(rate).toLocaleString("en")} puts/s`);
    }
  }
  const m = (e: string) => median(rates.get(e) ?? []);
  console.log(
    `   median: log (durable, the default) ${Math.round(m("log")).toLocaleString("en")} puts/s, lmdb (durable) ${Math.round(m("lmdb")).toLocaleString("en")} puts/s, ` +
      `memory (not durable) ${Math.round(m("memory")).toLocaleString("en")} puts/s; log/memory ${(m("log") / m("memory")).toFixed(2)}`,
  );
}

async function recoveryAndClear(): Promise<void> {
  console.log(`\n2. recovery of ${ENTRIES.toLocaleString("en")} entries on one shard after SIGKILL`);
  await withCluster(1, ENGINE, async (cluster, client) => {
    const d = await Dict.fromName("big", { createIfMissing: true, client }).hydrate();
    const t0 = performance.now();
    const value = "v".repeat(100);
    for (let i = 0; i < ENTRIES; i += 1000) {
      const chunk: Record<string, string> = {};
      for (let j = i; j < Math.min(ENTRIES, i + 1000); j++) chunk[`key-${String(j).padStart(12, "0")}`] = value;
      await d.update(chunk);
      if (i % 100_000 === 0) process.stdout.write(`   filled ${i.toLocaleString("en")}\r`);
    }
    console.log(`   filled ${ENTRIES.toLocaleString("en")} in ${((performance.now() - t0) / 1000).toFixed(1)} s (bulk update, chunks of 1,000)`);
    await cluster.kill("shard-1", "SIGKILL");
    const recovered = cluster.waitFor(/recovered (\d+) entries of \d+ dicts in (\d+) ms/, "shard-1");
    const t1 = performance.now();
    await cluster.startShard("shard-1");
    const m = await recovered;
    console.log(`   shard-1 loaded ${Number(m[1]).toLocaleString("en")} entries in ${m[2]} ms (process start to listening: ${Math.round(performance.now() - t1)} ms)`);
    const t2 = performance.now();
    const n = await d.len();
    console.log(`   len() after recovery: ${n.toLocaleString("en")} (${(performance.now() - t2).toFixed(1)} ms)`);

    console.log(`\n3. clear() of those ${ENTRIES.toLocaleString("en")} entries while another dict is read`);
    const other = Dict.fromName("other", { createIfMissing: true, client });
    await other.put("k", 1);
    let worst = 0;
    let reads = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        const s = performance.now();
        await other.get("k");
        worst = Math.max(worst, performance.now() - s);
        reads++;
      }
    })();
    const t3 = performance.now();
    await d.clear();
    const clearMs = performance.now() - t3;
    const lenAfter = await d.len();
    await new Promise((r) => setTimeout(r, 3000)); // keep reading while the purge runs
    stop = true;
    await reader;
    console.log(`   clear() answered in ${clearMs.toFixed(1)} ms; len() right after: ${lenAfter}; ${reads} reads of another dict meanwhile and over the next 3 s, worst ${worst.toFixed(1)} ms`);
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
