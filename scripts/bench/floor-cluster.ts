/**
 * The floor's servers (floor-server.ts, one child process each) and its client in this
 * process: `npm run bench:floor` times it alone, and `npm run bench -- --vs-redis-cluster
 * --vs-floor` beside shardict, whose shape it has without any of a shard's work on a put.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket, { type RawData } from "ws";
import { PUT_HEAD, type FloorSetup, type FromServer, type Replicas } from "./floor-wire.js";

const SERVER = fileURLToPath(new URL("./floor-server.js", import.meta.url));

/** Puts over one WebSocket per server, one message per server per turn, as the SDK batches. */
class Client {
  private readonly waiting = new Map<number, () => void>();
  private readonly out: Buffer[][];
  private nextId = 1;
  private flushing = false;

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

  put(key: string, value: string | Buffer): Promise<void> {
    const id = this.nextId++;
    const keyBytes = Buffer.byteLength(key);
    const n = keyBytes + (typeof value === "string" ? Buffer.byteLength(value) : value.length);
    const b = Buffer.allocUnsafe(PUT_HEAD + n);
    b.writeUInt32LE(id, 0);
    b.writeUInt32LE(n, 4);
    b.write(key, PUT_HEAD);
    if (typeof value === "string") b.write(value, PUT_HEAD + keyBytes);
    else value.copy(b, PUT_HEAD + keyBytes);
    (this.out[serverOf(key, this.sockets.length)] as Buffer[]).push(b);
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

/** A key's server: FNV-1a over its UTF-16 code units, so keys spread evenly. */
function serverOf(key: string, servers: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % servers;
}

/** The server's next message; `what` is sent first, if given. Rejects if the server exits first. */
function ask(child: ChildProcess, what?: FloorSetup | "counts"): Promise<FromServer> {
  return new Promise((resolve, reject) => {
    const exited = (code: number | null): void => reject(new Error(`a floor server exited (code ${String(code)}) before answering`));
    child.once("exit", exited);
    child.once("message", (m) => {
      child.off("exit", exited);
      resolve(m as FromServer);
    });
    if (what !== undefined) child.send(what);
  });
}

export interface FloorCounts {
  rounds: number;
  messages: number;
  appended: number;
}

export interface FloorCluster {
  put(key: string, value: string | Buffer): Promise<void>;
  /** The server processes. */
  pids(): number[];
  /** Log rounds (one sync each), WebSocket messages sent and bytes appended, over the servers, so far. */
  counts(): Promise<FloorCounts>;
  /** The same for one server (by its index in pids()). */
  countsOf(server: number): Promise<FloorCounts>;
  stop(): Promise<void>;
}

export interface FloorOptions {
  servers: number;
  rf: 1 | 2;
  /** Where rf 2's copies go (floor-wire.ts); default "spread", shardict's layout. */
  replicas?: Replicas;
}

/** Start the servers in a temporary folder (removed by stop) and connect the client. */
export async function startFloor(o: FloorOptions): Promise<FloorCluster> {
  const dir = mkdtempSync(join(tmpdir(), "shardict-floor-"));
  const children = Array.from({ length: o.servers }, (_, s) => fork(SERVER, [join(dir, `seg-${s}`)]));
  const sockets: WebSocket[] = [];
  const stop = async (): Promise<void> => {
    for (const ws of sockets) ws.terminate();
    await Promise.all(
      children.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? undefined
          : new Promise<void>((resolve) => {
              c.once("exit", () => resolve());
              c.kill();
            }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports = (await Promise.all(children.map((c) => ask(c)))).map((m) => m.port ?? 0);
    await Promise.all(children.map((c, self) => ask(c, { rf: o.rf, ports, self, replicas: o.replicas ?? "spread" })));
    for (const port of ports) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
      sockets.push(ws);
      await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const client = new Client(sockets);
  const countsOf = async (server: number): Promise<FloorCounts> => {
    const child = children[server];
    if (child === undefined) throw new RangeError(`no floor server ${server}`);
    const r = await ask(child, "counts");
    return { rounds: r.rounds ?? 0, messages: r.messages ?? 0, appended: r.appended ?? 0 };
  };
  return {
    put: (key, value) => client.put(key, value),
    pids: () => children.map((c) => c.pid ?? 0),
    counts: async () => {
      const all = await Promise.all(children.map((_, i) => countsOf(i)));
      return all.reduce((a, c) => ({ rounds: a.rounds + c.rounds, messages: a.messages + c.messages, appended: a.appended + c.appended }));
    },
    countsOf,
    stop,
  };
}
