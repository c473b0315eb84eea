/**
 * The WebSocket listener every node runs: authenticates handshakes, wraps each socket in a
 * {@link Peer}, and drops peers that stop answering pings (the `ws` heartbeat recipe).
 *
 * It also bounds what client connections may cost (README, "Limits"): how many there are,
 * in all and per token; how much unfinished input they hold, each and together; and, through
 * each peer's back-pressure, replies they leave unread. Connections with the cluster secret
 * are the cluster's own nodes and are not bounded here.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer, type Server as TlsServer } from "node:https";
import { serverTlsOptions, type TlsMaterial } from "./tls.js";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { authenticate, type AuthPolicy, type PeerRole } from "./auth.js";
import { CloseCode, Peer, type AnswerObserver, type RequestHandler } from "./peer.js";
import { isMetricsRequest, serveMetrics, type MetricsEndpoint } from "./metrics-endpoint.js";
import { isLoopback, type ClusterConfig } from "../config/cluster-config.js";
import { ConnectionCounter } from "./connection-counter.js";
import { UnfinishedInput } from "./unfinished-input.js";
import { TokenRates } from "./token-rates.js";
import type { TokenScope } from "./token-scope.js";
import { RetryableError, WireCode } from "../errors.js";
import { unfinishedBytesOf } from "./ws-receiver.js";
import { SUBPROTOCOL } from "./subprotocol-token.js";

/**
 * A browser that offers subprotocols (its token among them) fails the connection unless
 * the answer selects one of them: `shardict`, never the token's.
 */
function selectProtocol(offered: Set<string>): string | false {
  return offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
}

/** The config fields that bound connections. */
export type ConnectionLimits = Pick<
  ClusterConfig,
  | "maxConnections"
  | "maxConnectionsPerToken"
  | "maxRequestsPerSecondPerToken"
  | "allowedOrigins"
  | "maxFramesPerMessage"
  | "maxRequestsInFlight"
  | "maxReplyBytesInFlight"
  | "slowReaderTimeoutMs"
  | "unfinishedMessageTimeoutMs"
  | "maxUnfinishedBytes"
>;

export interface NodeServerOptions {
  host: string;
  port: number;
  maxPayload: number;
  auth: AuthPolicy;
  label: string;
  onRequest: RequestHandler;
  /** Told of each answer to a client's request (metrics). */
  onAnswer?: AnswerObserver;
  /** Serve `GET /metrics` from this registry (plain HTTP on the same port). */
  metrics?: MetricsEndpoint;
  /**
   * Other plain HTTP requests (the coordinator's web console): answers the request and
   * returns true, or returns false to leave it to the node (426: WebSocket only).
   */
  http?: (req: IncomingMessage, res: ServerResponse) => boolean;
  onConnection?: (peer: Peer, role: PeerRole) => void;
  onDisconnect?: (peer: Peer, role: PeerRole) => void;
  pingIntervalMs?: number;
  limits: ConnectionLimits;
  /** Where dropped connections are reported; default stdout. */
  log?: (line: string) => void;
  /** Listen with TLS only (`wss://`), with this certificate (tls.ts). */
  tls?: TlsMaterial | undefined;
  /** Allow a non-loopback address without TLS (`--insecure`): tokens and data then travel in clear text. */
  insecure?: boolean | undefined;
}

export class NodeServer {
  private readonly opts: NodeServerOptions;
  private readonly rates: TokenRates;
  private http: Server | TlsServer | undefined;
  private wss: WebSocketServer | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  readonly peers = new Set<Peer>();
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly clients: ConnectionCounter;
  private readonly unfinished: UnfinishedInput<Peer>;
  private readonly log: (line: string) => void;
  url = "";

  constructor(opts: NodeServerOptions) {
    this.opts = opts;
    this.clients = new ConnectionCounter(opts.limits);
    this.rates = new TokenRates(opts.limits.maxRequestsPerSecondPerToken);
    this.unfinished = new UnfinishedInput({ maxBytes: opts.limits.maxUnfinishedBytes, timeoutMs: opts.limits.unfinishedMessageTimeoutMs });
    this.log = opts.log ?? ((line) => console.log(line));
  }

  /**
   * New certificate files (SIGHUP): connections made from now on use them; open ones keep
   * theirs. Refused (the old ones stay) for a node started without TLS.
   */
  reloadTls(tls: TlsMaterial): void {
    const server = this.http;
    if (this.opts.tls === undefined || server === undefined || !("setSecureContext" in server)) throw new Error(`${this.opts.label} was started without TLS: restart it to turn TLS on`);
    server.setSecureContext(serverTlsOptions(tls));
  }

  /** Client connections open now (the cluster's own nodes are not counted). */
  get clientConnections(): number {
    return this.clients.count;
  }

  /** Listen; resolves with the address actually bound (port 0 picks a free one). */
  async start(): Promise<string> {
    const { host, auth } = this.opts;
    if (!isLoopback(host) && (auth.clientTokens.length === 0 || auth.clusterSecret === undefined)) {
      throw new Error(
        `${this.opts.label}: refusing to listen on ${host}: a non-loopback address needs "clientTokens" in the config and a cluster secret ("clusterSecret" or SHARDICT_CLUSTER_SECRET), or anyone on the network could read and write every dict`,
      );
    }
    if (!isLoopback(host) && this.opts.tls === undefined) {
      if (this.opts.insecure !== true) {
        throw new Error(
          `${this.opts.label}: refusing to listen on ${host} without TLS: tokens, the cluster secret and every value would cross the network in clear text; give "tls" in the config (npm run cluster -- --tls shows how), or start with --insecure to accept that`,
        );
      }
      this.log(`${this.opts.label}: WARNING: --insecure: listening on ${host} WITHOUT TLS: client tokens, the cluster secret and all data cross the network in clear text`);
    }
    if (auth.clientTokens.length > 0 && auth.clusterSecret === undefined) {
      throw new Error(
        `${this.opts.label}: "clientTokens" are configured but there is no cluster secret ("clusterSecret" or SHARDICT_CLUSTER_SECRET): nodes could not authenticate each other, and anyone could pose as a node`,
      );
    }
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.opts.maxPayload, perMessageDeflate: false, handleProtocols: selectProtocol });
    this.wss = wss;
    const metrics = this.opts.metrics;
    const serve: RequestListener = (req, res) => {
      if (metrics !== undefined && isMetricsRequest(req)) {
        serveMetrics(req, res, metrics);
        return;
      }
      if (this.opts.http?.(req, res) === true) return;
      res.writeHead(426, { "content-type": "text/plain" }).end("shardict speaks WebSocket\n");
    };
    const tls = this.opts.tls;
    const http = tls === undefined ? createServer(serve) : createTlsServer(serverTlsOptions(tls), serve);
    this.http = http;
    const origins = new Set(this.opts.limits.allowedOrigins);
    http.on("upgrade", (req, socket: Duplex, head) => {
      // A browser's page: only from a listed origin (a page of any site could otherwise reach
      // a cluster on its user's loopback, which needs no token).
      const origin = req.headers.origin;
      if (origin !== undefined && !origins.has(origin)) {
        socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\norigin ${JSON.stringify(origin.slice(0, 200))} is not in this cluster's allowedOrigins\n`);
        return;
      }
      const verdict = authenticate(req, auth);
      if ("refused" in verdict) {
        socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${verdict.refused}\n`);
        return;
      }
      if (verdict.role === "node") {
        wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, "node"));
        return;
      }
      const admission = this.clients.check(verdict.token);
      if (!admission.ok) {
        const status = admission.status === 429 ? "429 Too Many Requests" : "503 Service Unavailable";
        socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${admission.reason}\n`);
        return;
      }
      // (handleUpgrade calls back synchronously here: nothing is admitted in between.)
      wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, "client", verdict.token, verdict.grant?.scope));
    });
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(this.opts.port, host, () => {
        http.off("error", reject);
        resolve();
      });
    });
    const addr = http.address();
    const port = typeof addr === "object" && addr ? addr.port : this.opts.port;
    this.url = `${tls === undefined ? "ws" : "wss"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
    const every = this.opts.pingIntervalMs ?? 10_000;
    this.pingTimer = setInterval(() => this.pingAll(), every);
    this.pingTimer.unref();
    const { slowReaderTimeoutMs, unfinishedMessageTimeoutMs } = this.opts.limits;
    const sweepEvery = Math.min(1_000, Math.max(25, Math.floor(Math.min(slowReaderTimeoutMs, unfinishedMessageTimeoutMs) / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), sweepEvery);
    this.sweepTimer.unref();
    return this.url;
  }

  private accept(ws: WebSocket, role: PeerRole, token?: string, scope?: TokenScope): void {
    this.alive.set(ws, true);
    ws.on("pong", () => this.alive.set(ws, true));
    const limits = this.opts.limits;
    const client = role === "client";
    const rates = this.rates;
    const limit = this.opts.limits.maxRequestsPerSecondPerToken;
    // A client's requests count against its token's rate (refused before any work, retryable).
    const onRequest: RequestHandler =
      client && token !== undefined && rates.limited
        ? (frame, p) => {
            if (!rates.take(token, performance.now())) {
              throw new RetryableError(WireCode.RateLimited, `this client token made more than ${limit} requests a second of ${this.opts.label} (maxRequestsPerSecondPerToken)`);
            }
            return this.opts.onRequest(frame, p);
          }
        : this.opts.onRequest;
    const peer = new Peer(ws, {
      label: `${this.opts.label}←${role}`,
      onRequest,
      maxFramesPerMessage: limits.maxFramesPerMessage,
      ...(client && { flow: limits }),
      ...(client && this.opts.onAnswer !== undefined && { onAnswer: this.opts.onAnswer }),
      onClose: (p) => {
        this.peers.delete(p);
        if (client) {
          this.clients.remove(token);
          this.unfinished.remove(p);
        }
        this.opts.onDisconnect?.(p, role);
      },
    });
    peer.session.role = role;
    peer.session.scope = scope;
    const socket = (ws as unknown as { _socket?: { remoteAddress?: string; remotePort?: number } })._socket;
    // Kept for the log line of a dropped connection (the socket forgets it once closed).
    peer.session.remote = `${socket?.remoteAddress ?? "?"}:${socket?.remotePort ?? "?"}`;
    this.peers.add(peer);
    if (client) {
      this.clients.add(token);
      this.watchInput(peer);
    }
    this.opts.onConnection?.(peer, role);
  }

  /**
   * Follow what a client's socket holds unfinished after each chunk it delivers (`ws` parses
   * a chunk before this listener runs, and a finished message has been emitted by then).
   */
  private watchInput(peer: Peer): void {
    const socket = (peer.ws as unknown as { _socket?: Duplex })._socket;
    peer.ws.on("message", () => this.unfinished.completed(peer));
    socket?.on("data", () => {
      if (!this.peers.has(peer)) return;
      for (const p of this.unfinished.observe(peer, unfinishedBytesOf(peer.ws), performance.now())) {
        this.dropClient(p, CloseCode.TryAgainLater, `this node holds too much unfinished input (over ${this.opts.limits.maxUnfinishedBytes} bytes, maxUnfinishedBytes); this connection held the most`);
      }
    });
  }

  /** Time-based bounds: messages left unfinished, replies left unread. */
  private sweep(): void {
    const now = performance.now();
    const { slowReaderTimeoutMs, unfinishedMessageTimeoutMs } = this.opts.limits;
    for (const peer of this.peers) {
      if (peer.session.role !== "client") continue;
      // Not read (back-pressure): its message cannot progress, so its clock waits.
      if (peer.ws.isPaused) this.unfinished.notReading(peer);
      const stalled = peer.stalledMs;
      if (stalled > slowReaderTimeoutMs) {
        this.dropClient(peer, CloseCode.Policy, `replies not read for ${Math.round(stalled)} ms (slowReaderTimeoutMs ${slowReaderTimeoutMs})`);
      }
    }
    for (const peer of this.unfinished.expired(now)) {
      this.dropClient(peer, CloseCode.Policy, `a message not finished within ${unfinishedMessageTimeoutMs} ms (unfinishedMessageTimeoutMs)`);
    }
  }

  private dropClient(peer: Peer, code: number, reason: string): void {
    if (!this.peers.has(peer)) return;
    this.log(`${this.opts.label}: dropped the client connection from ${String(peer.session.remote)}: ${reason}`);
    peer.drop(code, reason);
  }

  private pingAll(): void {
    for (const peer of this.peers) {
      // Not read for back-pressure, so its pongs wait unread: the slow-reader bound covers it.
      if (peer.ws.isPaused) {
        this.alive.set(peer.ws, true);
        continue;
      }
      if (this.alive.get(peer.ws) === false) {
        peer.terminate("missed a ping");
        continue;
      }
      this.alive.set(peer.ws, false);
      peer.ws.ping();
    }
  }

  /**
   * Drop every connection at once, sending nothing more (fail-stop: no reply may leave after
   * the node found its storage failed), and accept no new ones.
   */
  abort(reason: string): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const peer of this.peers) peer.terminate(reason);
    this.wss?.close();
    this.http?.closeAllConnections();
    this.http?.close();
  }

  async stop(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const peer of this.peers) peer.close(1001, "node stopping");
    this.wss?.close();
    const http = this.http;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }
}
