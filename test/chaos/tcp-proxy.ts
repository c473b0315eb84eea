/**
 * An in-test TCP proxy that sits between a client and a node so chaos tests can inject network
 * faults: cut (RST), blackhole (bytes vanish), delay (+ seeded jitter), and flaky links that reset
 * at random. Every fault is reversible with `heal()`.
 *
 * Shape: each accepted client socket gets its own upstream socket to the current target and two
 * "lanes" (client->target, target->client). A lane is a FIFO of chunks, each with a due time, so
 * delays never reorder bytes within a direction (TCP would not either).
 *
 * Everything is on 127.0.0.1 and every socket has an 'error' listener: a node crashing (or a test
 * resetting a connection) must surface as a closed connection, never as an uncaught exception.
 */
import net, { type AddressInfo, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { mulberry32 } from "../helpers/prng.js";

export interface ProxyTarget {
  host: string;
  port: number;
}

export interface TcpProxyOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  listenPort?: number;
  /** Seed for the PRNG behind delay jitter and dropConnections, so a failing chaos run replays. */
  seed?: number;
}

export interface TcpProxyStats {
  /** Client connections accepted (including those refused while cut). */
  accepted: number;
  /** Connections accepted while cut and reset straight away. */
  refused: number;
  /** Live connections destroyed by `cut()`. */
  cut: number;
  /** Connections reset by `dropConnections()`. */
  dropped: number;
  /** Connections reset by `heal()` because they had been blackholed. */
  healedBlackholed: number;
  /** Connections currently tracked (open). */
  open: number;
  /** Bytes actually written towards the target / towards the client. */
  bytesToTarget: number;
  bytesToClient: number;
  /** Bytes read and thrown away while blackholed. */
  bytesDiscarded: number;
}

type Mode = "normal" | "cut" | "blackhole";
type Counter = "bytesToTarget" | "bytesToClient";

/** One direction of one connection. */
interface Lane {
  from: Socket;
  to: Socket;
  counter: Counter;
  /** Chunks in arrival order; a chunk is written once it is at the head AND its due time passed. */
  queue: { chunk: Buffer; dueAt: number }[];
  timer: NodeJS.Timeout | undefined;
  /** What `from` told us: once the queue is drained, "end" half-closes `to`, "close" also destroys it. */
  ending: "no" | "end" | "close";
}

interface Conn {
  client: Socket;
  /** Absent for connections accepted during a blackhole: in a real partition the SYN never arrives. */
  upstream: Socket | undefined;
  lanes: Lane[];
  blackholed: boolean;
  dead: boolean;
}

/** RST rather than FIN, like a link dying. resetAndDestroy only works on a connected TCP handle. */
function reset(socket: Socket | undefined): void {
  if (!socket || socket.destroyed) return;
  if (typeof socket.resetAndDestroy === "function" && !socket.connecting) socket.resetAndDestroy();
  else socket.destroy();
}

export class TcpProxy {
  private target: ProxyTarget;
  private readonly rng: () => number;
  private readonly conns = new Set<Conn>();
  private server: Server | undefined;
  private boundPort = 0;
  private mode: Mode = "normal";
  private delayMs = 0;
  private jitterMs = 0;
  private dropProbability = 0;
  private readonly counters: Omit<TcpProxyStats, "open"> = {
    accepted: 0,
    refused: 0,
    cut: 0,
    dropped: 0,
    healedBlackholed: 0,
    bytesToTarget: 0,
    bytesToClient: 0,
    bytesDiscarded: 0,
  };

  private constructor(target: ProxyTarget, opts: TcpProxyOptions) {
    this.target = { ...target };
    // A fixed default seed keeps runs reproducible even when a test does not pick one.
    this.rng = mulberry32(opts.seed ?? 0x5eed);
  }

  static async start(target: ProxyTarget, opts: TcpProxyOptions = {}): Promise<TcpProxy> {
    const proxy = new TcpProxy(target, opts);
    // allowHalfOpen: we decide when to half-close each side, after that lane's delayed bytes are out.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => proxy.accept(socket));
    server.on("error", () => {}); // listen errors surface via the promise below; later ones are irrelevant
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.listenPort ?? 0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    proxy.server = server;
    // Remembered so `port`/`url` still answer after close() (e.g. to show the port is refused).
    proxy.boundPort = (server.address() as AddressInfo).port;
    return proxy;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** New connections go to `target` (e.g. a node restarted on another port); existing ones stay put. */
  setTarget(target: ProxyTarget): void {
    this.target = { ...target };
  }

  /** Reset every live connection (both sides) and reset new ones on accept, until `heal()`. */
  cut(): void {
    this.mode = "cut";
    for (const conn of [...this.conns]) {
      this.counters.cut++;
      this.kill(conn);
    }
  }

  /**
   * Keep connections open but silently discard every byte in both directions, and accept new
   * connections into the same void (without dialing the target), until `heal()`.
   * Discarded bytes are gone for good (no buffering/replay), which leaves a hole in the byte stream
   * and corrupts WebSocket framing, so `heal()` resets every connection that was blackholed and
   * peers must reconnect.
   */
  blackhole(): void {
    this.mode = "blackhole";
    for (const conn of this.conns) conn.blackholed = true;
  }

  /** Hold every chunk for `ms` plus up to `jitterMs` (seeded); per-direction order is preserved. */
  delay(ms: number, jitterMs = 0): void {
    this.delayMs = ms;
    this.jitterMs = jitterMs;
  }

  /**
   * Flaky link: every chunk (either direction, on any connection, old or new) resets its
   * connection with `probability`. A connection that carries no data is never dropped, nor is one
   * accepted during a blackhole (it has no upstream; heal() resets it anyway).
   */
  dropConnections(probability: number): void {
    this.dropProbability = probability;
  }

  /**
   * Back to normal: no cut, no blackhole, no delay, no drops. Connections that were blackholed are
   * reset (their streams have holes, see `blackhole()`). Chunks already queued by `delay()` are
   * still delivered at their due time, so order is kept.
   */
  heal(): void {
    for (const conn of [...this.conns]) {
      if (!conn.blackholed) continue;
      this.counters.healedBlackholed++;
      this.kill(conn);
    }
    this.mode = "normal";
    this.delayMs = 0;
    this.jitterMs = 0;
    this.dropProbability = 0;
  }

  stats(): TcpProxyStats {
    return { ...this.counters, open: this.conns.size };
  }

  /** Stop listening and destroy every connection. */
  async close(): Promise<void> {
    for (const conn of [...this.conns]) this.kill(conn);
    const server = this.server;
    if (!server?.listening) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.counters.accepted++;
    if (this.mode === "cut") {
      this.counters.refused++;
      client.on("error", () => {});
      reset(client);
      return;
    }
    client.setNoDelay(true); // don't let Nagle add latency the test did not ask for
    const conn: Conn = { client, upstream: undefined, lanes: [], blackholed: this.mode === "blackhole", dead: false };
    this.conns.add(conn);
    client.on("error", () => this.kill(conn));
    client.on("close", () => this.closed(conn));

    if (conn.blackholed) {
      // Read and discard (not pause) so the client's writes succeed and vanish, as in a partition.
      client.on("data", (chunk: Buffer) => {
        this.counters.bytesDiscarded += chunk.length;
      });
      return;
    }

    const upstream = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    conn.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on("error", () => this.kill(conn)); // e.g. target down: the client sees its connection reset
    upstream.on("close", () => this.closed(conn));
    conn.lanes.push(this.lane(conn, client, upstream, "bytesToTarget"), this.lane(conn, upstream, client, "bytesToClient"));
  }

  private lane(conn: Conn, from: Socket, to: Socket, counter: Counter): Lane {
    const lane: Lane = { from, to, counter, queue: [], timer: undefined, ending: "no" };
    from.on("data", (chunk: Buffer) => this.onChunk(conn, lane, chunk));
    from.on("end", () => {
      if (lane.ending === "no") lane.ending = "end";
      this.pump(conn, lane);
    });
    from.on("close", () => {
      lane.ending = "close";
      this.pump(conn, lane);
    });
    to.on("drain", () => from.resume()); // backpressure: see pump()
    return lane;
  }

  private onChunk(conn: Conn, lane: Lane, chunk: Buffer): void {
    if (conn.dead) return;
    if (this.dropProbability > 0 && this.rng() < this.dropProbability) {
      this.counters.dropped++;
      this.kill(conn);
      return;
    }
    if (conn.blackholed) {
      this.counters.bytesDiscarded += chunk.length;
      return;
    }
    const jitter = this.jitterMs > 0 ? this.rng() * this.jitterMs : 0;
    lane.queue.push({ chunk, dueAt: performance.now() + this.delayMs + jitter });
    this.pump(conn, lane);
  }

  /** Write every due chunk at the head of the lane, then re-arm a timer for the next one. */
  private pump(conn: Conn, lane: Lane): void {
    clearTimeout(lane.timer);
    lane.timer = undefined;
    if (conn.dead) return;
    const now = performance.now();
    for (let head = lane.queue[0]; head && head.dueAt <= now; head = lane.queue[0]) {
      lane.queue.shift();
      if (conn.blackholed) {
        // Blackholed while queued: these bytes vanish too.
        this.counters.bytesDiscarded += head.chunk.length;
        continue;
      }
      if (lane.to.destroyed || lane.to.writableEnded) continue;
      this.counters[lane.counter] += head.chunk.length;
      // Stop reading the source while the sink's buffer is full; 'drain' resumes it.
      if (!lane.to.write(head.chunk)) lane.from.pause();
    }
    const next = lane.queue[0];
    if (next) {
      // Timers may fire a hair early; we re-check dueAt on wake, so a chunk is never early.
      lane.timer = setTimeout(() => this.pump(conn, lane), Math.max(1, Math.ceil(next.dueAt - now)));
      return;
    }
    if (lane.ending === "no" || lane.to.destroyed) return;
    // Propagate the source's FIN only after its delayed bytes are out.
    if (!lane.to.writableEnded) lane.to.end();
    if (lane.ending === "close") {
      // The source is fully gone, so nobody can talk to the sink's peer any more: close once flushed.
      const to = lane.to;
      if (to.writableFinished) to.destroy();
      else to.once("finish", () => to.destroy());
    }
  }

  /** Reset both sides now (RST), dropping anything still queued. Idempotent. */
  private kill(conn: Conn): void {
    if (!conn.dead) {
      conn.dead = true;
      for (const lane of conn.lanes) {
        clearTimeout(lane.timer);
        lane.queue.length = 0;
      }
    }
    reset(conn.client);
    reset(conn.upstream);
    this.closed(conn);
  }

  /** Forget a connection once both of its sockets are gone. */
  private closed(conn: Conn): void {
    if (!conn.client.destroyed || (conn.upstream && !conn.upstream.destroyed)) return;
    for (const lane of conn.lanes) clearTimeout(lane.timer);
    this.conns.delete(conn);
  }
}
