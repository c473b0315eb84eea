/**
 * `npm run bench:floor`: what a durable write costs Node itself on this machine, apart from
 * shardict: the floor under a shard's log round. Three server processes
 * (scripts/bench/floor-server.ts, children of this one) each take WebSocket messages of puts,
 * append everything a turn of the event loop brought to a preallocated file with one
 * `writeSync` and one inline `fdatasync`, and answer each connection with one message of the
 * ids; with `--rf 2` each put is also copied to another server, which appends and syncs it in
 * its own round and acknowledges it, before the put is answered (shardict's rf 2). This
 * process is the client: `--in-flight` loops of puts, each put to a server picked by its key,
 * one message per server per turn, as the SDK batches, timed by the bench's own closed loop.
 * It prints puts/s, the servers' CPU per put (`/proc`), the client's, syncs and messages per
 * put and the p99 latency, for `npm run bench -- --vs-redis-cluster` to be read against: the
 * same batching, the same syncs, and none of a shard's work on a put (checks, entries, retry
 * answers, watch history, log records).
 *
 *   npm run bench:floor                       # 3 runs of 100,000 puts at 50 in flight
 *   npm run bench:floor -- --in-flight 150
 *   npm run bench:floor -- --rf 1,2           # rf 1 and rf 2 alternating, and their ratio
 */
import { parseArgs } from "node:util";
import { closedLoop, median } from "./bench/measure.js";
import { startFloor } from "./bench/floor-cluster.js";
import type { Replicas } from "./bench/floor-wire.js";

interface FloorRun {
  rf: 1 | 2;
  perSec: number;
  /** CPU per put, µs: the servers' (all threads) and this process's. */
  server: number;
  client: number;
  p99: number;
  syncs: number;
  /** WebSocket messages the servers sent per put (answers, and at rf 2 copies and their acknowledgements). */
  messages: number;
}

const VALUE = Buffer.alloc(100, 0x61);
const key = (i: number): string => `k${String(i).padStart(15, "0")}`;

async function run(ops: number, inFlight: number, servers: number, rf: 1 | 2, replicas: Replicas): Promise<FloorRun> {
  const f = await startFloor({ servers, rf, replicas });
  try {
    // Warm: V8 compiles the hot paths first (a shardict bench run warms up for 5 s).
    await closedLoop(Math.max(50_000, ops / 2), inFlight, (i) => f.put(key(i), VALUE), () => []);
    const c0 = await f.counts();
    // The shardict bench's own loop: the same per-call timing, so client CPU compares.
    const st = await closedLoop(ops, inFlight, (i) => f.put(key(1_000_000_000 + i), VALUE), () => f.pids());
    const c1 = await f.counts();
    return { rf, perSec: st.opsPerSec, server: st.serverCpuPerOp, client: st.clientCpuPerOp, p99: st.p99, syncs: (c1.rounds - c0.rounds) / ops, messages: (c1.messages - c0.messages) / ops };
  } finally {
    await f.stop();
  }
}

function fail(message: string): never {
  console.error(`npm run bench:floor: ${message}`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        ops: { type: "string", default: "100000" },
        "in-flight": { type: "string", default: "50" },
        runs: { type: "string", default: "3" },
        servers: { type: "string", default: "3" },
        rf: { type: "string", default: "1" },
        replicas: { type: "string", default: "spread" },
      },
    });
  } catch (err) {
    return fail((err as Error).message);
  }
})();
const ops = Number(values.ops);
const inFlight = Number(values["in-flight"]);
const runs = Number(values.runs);
const servers = Number(values.servers);
for (const [name, v] of [["ops", ops], ["in-flight", inFlight], ["runs", runs], ["servers", servers]] as const) {
  if (!Number.isInteger(v) || v < 1) fail(`--${name} takes a positive integer, not ${String(v)}`);
}
const rfs = values.rf.split(",").map((x) => Number(x.trim()));
if (rfs.length === 0 || rfs.length > 2 || rfs.some((x) => x !== 1 && x !== 2) || new Set(rfs).size !== rfs.length) fail(`--rf takes 1, 2 or 1,2, not ${values.rf}`);
if (rfs.includes(2) && servers < 2) fail("--rf 2 needs at least 2 servers");
const replicas = values.replicas;
if (replicas !== "spread" && replicas !== "chain") fail(`--replicas takes spread or chain, not ${replicas}`);

const shape = rfs.includes(2) ? `; at rf 2 each put also appended and synced on one other server (${replicas === "chain" ? "the next one" : "spread over all the others"}) before its answer` : "";
console.log(
  `the floor of a durable put in Node: ${servers} servers (ws in, one append and fdatasync per turn, ws out${shape}), ${ops.toLocaleString("en")} puts of 120 B at ${inFlight} in flight, ${runs} runs${rfs.length > 1 ? ", alternating" : ""}`,
);
const all: FloorRun[] = [];
for (let r = 1; r <= runs; r++) {
  for (const rf of rfs as (1 | 2)[]) {
    const x = await run(ops, inFlight, servers, rf, replicas);
    all.push(x);
    console.log(
      `  rf ${rf} run ${r}: ${Math.round(x.perSec).toLocaleString("en")} puts/s, servers ${x.server.toFixed(1)} µs/put, client ${x.client.toFixed(1)} µs/put, ${x.syncs.toFixed(3)} syncs/put, ${x.messages.toFixed(3)} messages/put, p99 ${(x.p99 / 1000).toFixed(2)} ms`,
    );
  }
}
for (const rf of rfs) {
  const of = all.filter((x) => x.rf === rf);
  const m = (f: (x: FloorRun) => number) => median(of.map(f));
  console.log(
    `median rf ${rf}: ${Math.round(m((x) => x.perSec)).toLocaleString("en")} puts/s, servers ${m((x) => x.server).toFixed(1)} µs/put, client ${m((x) => x.client).toFixed(1)} µs/put, ${m((x) => x.syncs).toFixed(3)} syncs/put, ${m((x) => x.messages).toFixed(3)} messages/put`,
  );
}
if (rfs.length === 2) {
  // Each run's rf 2 against the rf 1 run beside it, then the median: the machine's drift cancels.
  const ratios = all.filter((x) => x.rf === 2).map((x, i) => x.perSec / (all.filter((y) => y.rf === 1)[i] as FloorRun).perSec);
  console.log(`rf 2 ÷ rf 1 puts/s (same run, median): ×${median(ratios).toFixed(2)} (runs: ${ratios.map((x) => `×${x.toFixed(2)}`).join(", ")})`);
}
process.exit(0);
