/**
 * `npm run bench:move`: what moving partitions costs the requests that keep running.
 *
 * A 3-shard cluster (durable, `--rf` 1 by default) is filled with `--entries` entries of
 * 100 bytes; one client keeps `--in-flight` random reads and writes going. Latency is
 * recorded separately while nothing moves, while a 4th shard joins (about a quarter of the
 * partitions are copied to it and handed over), and while an original shard leaves. Each
 * run prints its percentiles; the summary gives the median over `--runs` runs.
 *
 * The bound this checks: a move copies at most 1,000 entries (or 1 MiB of values) per
 * event-loop turn on the shards involved, so a request waits behind at most one such chunk.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import { parseConfig } from "../src/config/cluster-config.js";
import type { ClusterStatus } from "../src/coordinator/coordinator-node.js";
import { LocalCluster } from "../src/launcher/local-cluster.js";
import { Dict, connect } from "../src/index.js";
import { clientOf, type ClusterClient } from "../src/client/client.js";
import { partitionOf } from "../src/hashing/hash.js";
import { encodeKey } from "../src/protocol/keys.js";

const { values: args } = parseArgs({
  options: {
    entries: { type: "string", default: "200000" },
    runs: { type: "string", default: "3" },
    rf: { type: "string", default: "1" },
    "in-flight": { type: "string", default: "20" },
    "steady-s": { type: "string", default: "5" },
  },
});
const ENTRIES = Number(args.entries);
const RUNS = Number(args.runs);
const RF = Number(args.rf);
const IN_FLIGHT = Number(args["in-flight"]);
const STEADY_MS = Number(args["steady-s"]) * 1000;

type Phase = "steady" | "join" | "leave";
const PHASES: Phase[] = ["steady", "join", "leave"];

interface PhaseResult {
  ops: number;
  ms: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** The same for requests on partitions that did not move in the phase. */
  others: { ops: number; p99: number; max: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function status(client: ClusterClient): Promise<ClusterStatus> {
  return (await client.coordinatorRequest({ type: "status" })) as ClusterStatus;
}

async function settled(client: ClusterClient, members: number): Promise<void> {
  for (;;) {
    const s = await status(client);
    if (s.shards.length === members && s.rebalance.pending === 0 && s.moves.length === 0 && s.shards.every((x) => x.state === "serving")) return;
    await sleep(100);
  }
}

async function oneRun(run: number): Promise<Record<Phase, PhaseResult> & { moveMs: Record<"join" | "leave", number> }> {
  const dir = mkdtempSync(join(tmpdir(), "shardict-bench-move-"));
  const config = parseConfig({
    coordinator: { host: "127.0.0.1", port: 0 },
    shards: Array.from({ length: 3 }, (_, i) => ({ id: `shard-${i + 1}`, host: "127.0.0.1", port: 0 })),
    dataDir: join(dir, "data"),
    replicationFactor: RF,
  });
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(configPath, JSON.stringify(config));
  const cluster = new LocalCluster({ configPath, config, freePorts: true });
  await cluster.start();
  const client = clientOf(await connect({ url: cluster.coordinatorUrl }));
  try {
    const d = Dict.fromName<string>("bench", { createIfMissing: true, client });
    const value = "v".repeat(100);
    for (let i = 0; i < ENTRIES; i += 1000) {
      const chunk = new Map<string, string>();
      for (let j = i; j < Math.min(ENTRIES, i + 1000); j++) chunk.set(`key-${String(j).padStart(10, "0")}`, value);
      await d.update(chunk);
    }
    let phase: Phase = "steady";
    const hist: Record<Phase, RecordableHistogram> = { steady: createHistogram(), join: createHistogram(), leave: createHistogram() };
    // Per phase and partition: latencies, to tell requests on moving partitions from the rest.
    const byPart: Record<Phase, Map<number, number[]>> = { steady: new Map(), join: new Map(), leave: new Map() };
    const dictId = (await d.hydrate()).objectId;
    const partitions = client.table.partitions;
    const primaries = (): (string | undefined)[] => Array.from({ length: partitions }, (_, p) => client.table.primaryOf(p));
    const before: Record<Phase, (string | undefined)[]> = { steady: [], join: [], leave: [] };
    const after: Record<Phase, (string | undefined)[]> = { steady: [], join: [], leave: [] };
    const started: Record<Phase, number> = { steady: 0, join: 0, leave: 0 };
    const ended: Record<Phase, number> = { steady: 0, join: 0, leave: 0 };
    let stop = false;
    let seq = run * 7919;
    const lane = async () => {
      while (!stop) {
        seq = (seq * 1103515245 + 12345) % 2147483648;
        const key = `key-${String(seq % ENTRIES).padStart(10, "0")}`;
        const t0 = performance.now();
        if (seq % 2 === 0) await d.get(key);
        else await d.put(key, value);
        const us = Math.max(1, Math.round((performance.now() - t0) * 1000));
        hist[phase].record(us);
        const part = partitionOf(dictId, encodeKey(key), partitions);
        let list = byPart[phase].get(part);
        if (!list) byPart[phase].set(part, (list = []));
        list.push(us);
      }
    };
    const lanes = Array.from({ length: IN_FLIGHT }, lane);
    const bodies: Record<Phase, () => Promise<void>> = {
      steady: async () => {
        await sleep(STEADY_MS);
      },
      join: async () => {
        await cluster.startShard("shard-4");
        await settled(client, 4);
      },
      leave: async () => {
        await cluster.leave("shard-1");
        await settled(client, 3);
      },
    };
    for (const p of PHASES) {
      await client.refreshTable();
      before[p] = primaries();
      phase = p;
      started[p] = performance.now();
      await bodies[p]();
      ended[p] = performance.now();
      await client.refreshTable();
      after[p] = primaries();
    }
    stop = true;
    await Promise.all(lanes);
    const out = {} as Record<Phase, PhaseResult>;
    for (const p of PHASES) {
      const h = hist[p];
      const ms = (q: number) => h.percentile(q) / 1000;
      const others = createHistogram();
      for (const [part, list] of byPart[p]) if (before[p][part] === after[p][part]) for (const us of list) others.record(us);
      out[p] = {
        ops: h.count,
        ms: ended[p] - started[p],
        p50: ms(50),
        p99: ms(99),
        p999: ms(99.9),
        max: h.max / 1000,
        others: { ops: others.count, p99: others.count ? others.percentile(99) / 1000 : 0, max: others.count ? others.max / 1000 : 0 },
      };
    }
    return { ...out, moveMs: { join: ended.join - started.join, leave: ended.leave - started.leave } };
  } finally {
    client.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const f = (n: number) => n.toFixed(2).padStart(8);

async function main(): Promise<void> {
  console.log(`bench:move — ${ENTRIES} entries, rf ${RF}, ${IN_FLIGHT} requests in flight (50/50 get/put), ${RUNS} runs; ${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}`);
  const results: Awaited<ReturnType<typeof oneRun>>[] = [];
  for (let r = 0; r < RUNS; r++) {
    const res = await oneRun(r);
    results.push(res);
    console.log(
      `run ${r + 1}: join moved in ${(res.moveMs.join / 1000).toFixed(1)} s, leave in ${(res.moveMs.leave / 1000).toFixed(1)} s; ` +
        PHASES.map((p) => `${p} p99 ${res[p].p99.toFixed(1)} ms max ${res[p].max.toFixed(1)} ms`).join("; "),
    );
  }
  console.log("\nphase      ops/s    p50 ms   p99 ms  p99.9 ms   max ms   (medians of runs)");
  for (const p of PHASES) {
    const m = (k: "p50" | "p99" | "p999" | "max") => median(results.map((r) => r[p][k]));
    const rate = median(results.map((r) => r[p].ops / (r[p].ms / 1000)));
    console.log(`${p.padEnd(8)} ${rate.toFixed(0).padStart(7)} ${f(m("p50"))} ${f(m("p99"))} ${f(m("p999"))} ${f(m("max"))}`);
  }
  const added = (p: Phase) => median(results.map((r) => r[p].p99 - r.steady.p99));
  console.log(`\np99 added while moving: join ${added("join").toFixed(2)} ms, leave ${added("leave").toFixed(2)} ms`);
  const others = (p: Phase, k: "p99" | "max") => median(results.map((r) => r[p].others[k]));
  console.log(
    `requests on partitions that did not move: p99 ${others("join", "p99").toFixed(2)} ms during the join, ${others("leave", "p99").toFixed(2)} ms during the leave ` +
      `(max ${others("join", "max").toFixed(1)} / ${others("leave", "max").toFixed(1)} ms; steady p99 ${median(results.map((r) => r.steady.p99)).toFixed(2)} ms)`,
  );
  console.log(`time to move: join ${(median(results.map((r) => r.moveMs.join)) / 1000).toFixed(1)} s, leave ${(median(results.map((r) => r.moveMs.leave)) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
