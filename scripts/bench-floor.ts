/**
 * `npm run bench:floor`: what a durable write costs Node itself on this machine, apart from
 * shardict: the floor under a shard's log round. Three server processes (children of this
 * one) each take WebSocket messages of puts (`[u32 id][16-byte key][100-byte value]` each),
 * append everything a turn of the event loop brought to a preallocated file with one
 * `writeSync` and one inline `fdatasync`, and answer each connection with one message of the
 * ids. This process is the client: `--in-flight` loops of puts, each put to a server picked by
 * its key, one message per server per turn, as the SDK batches, timed by the bench's own
 * closed loop. It prints puts/s, the servers' CPU per put (`/proc`), the client's, syncs per
 * put and the p99 latency, for `npm run bench --
 * --vs-redis-cluster` to be read against: the same batching, the same sync, and none of a
 * shard's work on a put (checks, entries, retry answers, watch history, log records).
 *
 *   npm run bench:floor                       # 3 runs of 100,000 puts at 50 in flight
 *   npm run bench:floor -- --in-flight 150
 */
import { fork, type ChildProcess } from "node:child_process";
import { fdatasyncSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import WebSocket, { WebSocketServer, type RawData } from "ws";
import { closedLoop, median } from "./bench/measure.js";

const PUT_BYTES = 120;
const FILE_BYTES = 64 * 1024 * 1024;

interface FromServer {
  port?: number;
  rounds?: number;
}

function serve(path: string): void {
  const fd = openSync(path, "w+");
  ftruncateSync(fd, FILE_BYTES);
  // Written full of zeros first, as shardict's segments are: a sync then writes no metadata.
  const zeros = Buffer.alloc(1 << 20);
  for (let at = 0; at < FILE_BYTES; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
  fdatasyncSync(fd);
  let at = 0;
  let rounds = 0;
  let bodies: Buffer[] = [];
  let answers = new Map<WebSocket, Buffer[]>();
  let scheduled = false;
  const round = (): void => {
    scheduled = false;
    rounds++;
    const all = Buffer.concat(bodies);
    bodies = [];
    if (at + all.length > FILE_BYTES) at = 0;
    writeSync(fd, all, 0, all.length, at);
    at += all.length;
    fdatasyncSync(fd);
    const to = answers;
    answers = new Map();
    for (const [ws, ids] of to) ws.send(Buffer.concat(ids), { binary: true });
  };
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false }, () => {
    const address = wss.address();
    process.send?.({ port: address === null || typeof address === "string" ? 0 : address.port } satisfies FromServer);
  });
  wss.on("connection", (ws) => {
    ws.on("message", (raw: RawData) => {
      const data = raw as Buffer;
      const n = Math.floor(data.length / PUT_BYTES);
      const ids = Buffer.allocUnsafe(n * 4);
      for (let i = 0; i < n; i++) data.copy(ids, i * 4, i * PUT_BYTES, i * PUT_BYTES + 4);
      bodies.push(data);
      const list = answers.get(ws);
      if (list) list.push(ids);
      else answers.set(ws, [ids]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(round);
      }
    });
  });
  process.on("message", (m) => {
    if (m === "rounds") process.send?.({ rounds } satisfies FromServer);
  });
}

class Client {
  private readonly waiting = new Map<number, () => void>();
  private readonly out: Buffer[][];
  private nextId = 1;
  private flushing = false;
  private readonly value = Buffer.alloc(100, 0x61);

  constructor(private readonly sockets: WebSocket[]) {
    this.out = sockets.map(() => []);
    for (const ws of sockets) {
      ws.on("message", (raw: RawData) => {
        const d = raw as Buffer;
        for (let i = 0; i + 4 <= d.length; i += 4) {
          const id = d.readUInt32LE(i);
          const done = this.waiting.get(id);
          this.waiting.delete(id);
          done?.();
        }
      });
    }
  }

  put(i: number): Promise<void> {
    const id = this.nextId++;
    const b = Buffer.allocUnsafe(PUT_BYTES);
    b.writeUInt32LE(id, 0);
    b.write(`k${String(i).padStart(15, "0")}`, 4, 16, "latin1");
    this.value.copy(b, 20);
    const server = Math.imul(i, 2654435761) >>> 0;
    (this.out[server % this.sockets.length] as Buffer[]).push(b);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
    return new Promise<void>((resolve) => this.waiting.set(id, resolve));
  }

  private flush(): void {
    this.flushing = false;
    this.out.forEach((q, s) => {
      if (q.length === 0) return;
      (this.sockets[s] as WebSocket).send(Buffer.concat(q), { binary: true });
      this.out[s] = [];
    });
  }
}

/** The server's next message; `what` is sent first, if given. */
function ask(child: ChildProcess, what?: string): Promise<FromServer> {
  return new Promise((resolve) => {
    child.once("message", (m) => resolve(m as FromServer));
    if (what !== undefined) child.send(what);
  });
}

interface FloorRun {
  perSec: number;
  /** CPU per put, µs: the servers' (all threads) and this process's. */
  server: number;
  client: number;
  p99: number;
  syncs: number;
}

async function run(ops: number, inFlight: number, servers: number): Promise<FloorRun> {
  const dir = mkdtempSync(join(tmpdir(), "shardict-floor-"));
  const children = Array.from({ length: servers }, (_, s) => fork(fileURLToPath(import.meta.url), ["serve", join(dir, `seg-${s}`)]));
  const sockets: WebSocket[] = [];
  try {
    for (const child of children) {
      const { port } = await ask(child);
      const ws = new WebSocket(`ws://127.0.0.1:${port ?? 0}`, { perMessageDeflate: false });
      await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
      sockets.push(ws);
    }
    const client = new Client(sockets);
    // Warm: V8 compiles the hot paths first (a shardict bench run warms up for 5 s).
    await closedLoop(Math.max(50_000, ops / 2), inFlight, (i) => client.put(i), () => []);
    const rounds = async () => (await Promise.all(children.map((c) => ask(c, "rounds")))).reduce((a, r) => a + (r.rounds ?? 0), 0);
    const r0 = await rounds();
    // The shardict bench's own loop: the same per-call timing, so client CPU compares.
    const st = await closedLoop(ops, inFlight, (i) => client.put(1_000_000_000 + i), () => children.map((c) => c.pid ?? 0));
    const r1 = await rounds();
    return { perSec: st.opsPerSec, server: st.serverCpuPerOp, client: st.clientCpuPerOp, p99: st.p99, syncs: (r1 - r0) / ops };
  } finally {
    for (const ws of sockets) ws.terminate();
    for (const child of children) child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "serve") {
  serve(process.argv[3] as string);
} else {
  const { values } = parseArgs({
    options: {
      ops: { type: "string", default: "100000" },
      "in-flight": { type: "string", default: "50" },
      runs: { type: "string", default: "3" },
      servers: { type: "string", default: "3" },
    },
  });
  const ops = Number(values.ops);
  const inFlight = Number(values["in-flight"]);
  const runs = Number(values.runs);
  const servers = Number(values.servers);
  for (const [name, v] of [["ops", ops], ["in-flight", inFlight], ["runs", runs], ["servers", servers]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      console.error(`npm run bench:floor: --${name} takes a positive integer, not ${String(v)}`);
      process.exit(2);
    }
  }
  console.log(`the floor of a durable put in Node: ${servers} servers (ws in, one append and fdatasync per turn, ws out), ${ops.toLocaleString("en")} puts of 120 B at ${inFlight} in flight, ${runs} runs`);
  const all: FloorRun[] = [];
  for (let r = 1; r <= runs; r++) {
    const x = await run(ops, inFlight, servers);
    all.push(x);
    console.log(`  run ${r}: ${Math.round(x.perSec).toLocaleString("en")} puts/s, servers ${x.server.toFixed(1)} µs/put, client ${x.client.toFixed(1)} µs/put, ${x.syncs.toFixed(3)} syncs/put, p99 ${(x.p99 / 1000).toFixed(2)} ms`);
  }
  const m = (f: (x: FloorRun) => number) => median(all.map(f));
  console.log(`median: ${Math.round(m((x) => x.perSec)).toLocaleString("en")} puts/s, servers ${m((x) => x.server).toFixed(1)} µs/put, client ${m((x) => x.client).toFixed(1)} µs/put, ${m((x) => x.syncs).toFixed(3)} syncs/put`);
  process.exit(0);
}
