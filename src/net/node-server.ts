/**
 * The WebSocket listener every node runs: authenticates handshakes, wraps each socket in a
 * {@link Peer}, and drops peers that stop answering pings (the `ws` heartbeat recipe).
 */
import { createServer, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { authenticate, type AuthPolicy, type PeerRole } from "./auth.js";
import { Peer, type RequestHandler } from "./peer.js";
import { isLoopback } from "../config/cluster-config.js";

export interface NodeServerOptions {
  host: string;
  port: number;
  maxPayload: number;
  auth: AuthPolicy;
  label: string;
  onRequest: RequestHandler;
  onConnection?: (peer: Peer, role: PeerRole) => void;
  onDisconnect?: (peer: Peer, role: PeerRole) => void;
  pingIntervalMs?: number;
}

export class NodeServer {
  private readonly opts: NodeServerOptions;
  private http: Server | undefined;
  private wss: WebSocketServer | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  readonly peers = new Set<Peer>();
  private readonly alive = new WeakMap<WebSocket, boolean>();
  url = "";

  constructor(opts: NodeServerOptions) {
    this.opts = opts;
  }

  /** Listen; resolves with the address actually bound (port 0 picks a free one). */
  async start(): Promise<string> {
    const { host, auth } = this.opts;
    if (!isLoopback(host) && (auth.clientTokens.length === 0 || auth.clusterSecret === undefined)) {
      throw new Error(
        `${this.opts.label}: refusing to listen on ${host}: a non-loopback address needs "clientTokens" in the config and a cluster secret ("clusterSecret" or SHARDICT_CLUSTER_SECRET), or anyone on the network could read and write every dict`,
      );
    }
    if (auth.clientTokens.length > 0 && auth.clusterSecret === undefined) {
      throw new Error(
        `${this.opts.label}: "clientTokens" are configured but there is no cluster secret ("clusterSecret" or SHARDICT_CLUSTER_SECRET): nodes could not authenticate each other, and anyone could pose as a node`,
      );
    }
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.opts.maxPayload, perMessageDeflate: false });
    this.wss = wss;
    const http = createServer((_req, res) => {
      res.writeHead(426, { "content-type": "text/plain" }).end("shardict speaks WebSocket\n");
    });
    this.http = http;
    http.on("upgrade", (req, socket: Duplex, head) => {
      const verdict = authenticate(req, auth);
      if ("refused" in verdict) {
        socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${verdict.refused}\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, verdict.role));
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
    this.url = `ws://${host.includes(":") ? `[${host}]` : host}:${port}`;
    const every = this.opts.pingIntervalMs ?? 10_000;
    this.pingTimer = setInterval(() => this.pingAll(), every);
    this.pingTimer.unref();
    return this.url;
  }

  private accept(ws: WebSocket, role: PeerRole): void {
    this.alive.set(ws, true);
    ws.on("pong", () => this.alive.set(ws, true));
    const peer = new Peer(ws, {
      label: `${this.opts.label}←${role}`,
      onRequest: this.opts.onRequest,
      onClose: (p) => {
        this.peers.delete(p);
        this.opts.onDisconnect?.(p, role);
      },
    });
    peer.meta.role = role;
    this.peers.add(peer);
    this.opts.onConnection?.(peer, role);
  }

  private pingAll(): void {
    for (const peer of this.peers) {
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
    for (const peer of this.peers) peer.terminate(reason);
    this.wss?.close();
    this.http?.closeAllConnections();
    this.http?.close();
  }

  async stop(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const peer of this.peers) peer.close(1001, "node stopping");
    this.wss?.close();
    const http = this.http;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }
}
