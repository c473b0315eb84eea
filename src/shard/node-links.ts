/**
 * Connections from this shard to other shards (for replication), one per peer, opened on
 * first use with the cluster secret and reopened after a loss.
 */
import WebSocket from "ws";
import { CLIENT_SOCKET_OPTIONS } from "../net/client-socket-options.js";
import { ConnectionError, RetryableError, WireCode } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import { nodeHeaders } from "../net/auth.js";
import { Peer } from "../net/peer.js";
import { nodeClientTls, type TlsMaterial } from "../net/tls.js";
import { PROTOCOL_VERSION, type Outgoing } from "../protocol/frames.js";

export interface NodeLinksOptions {
  selfId: string;
  clusterSecret: string | undefined;
  maxPayload: number;
  table: () => PartitionTable | undefined;
  /** The node's TLS files, as they are now (a SIGHUP may have reloaded them). */
  tls?: () => TlsMaterial | undefined;
}

export class NodeLinks {
  private readonly peers = new Map<string, Promise<Peer>>();
  private closed = false;

  constructor(private readonly opts: NodeLinksOptions) {}

  private connect(shard: string): Promise<Peer> {
    const existing = this.peers.get(shard);
    if (existing) return existing;
    const url = this.opts.table()?.urlOf(shard);
    if (url === undefined) return Promise.reject(new RetryableError(WireCode.Unavailable, `no address for ${shard}`));
    const p = new Promise<Peer>((resolve, reject) => {
      const ws = new WebSocket(url, { ...CLIENT_SOCKET_OPTIONS, ...nodeClientTls(this.opts.tls?.()), headers: nodeHeaders(this.opts.clusterSecret), maxPayload: this.opts.maxPayload });
      ws.once("open", () => {
        ws.removeAllListeners("error");
        const peer = new Peer(ws, {
          binary: true,
          label: `${this.opts.selfId}→${shard}`,
          onClose: () => {
            if (this.peers.get(shard) === p) this.peers.delete(shard);
          },
        });
        // First on the socket: tells the replica who is talking.
        peer.request({ type: "hello", v: PROTOCOL_VERSION, clientId: `node:${this.opts.selfId}` }, { timeoutMs: 5_000 }).catch(() => {});
        resolve(peer);
      });
      ws.once("error", (err) => {
        ws.removeAllListeners();
        ws.on("error", () => {});
        reject(new ConnectionError(`${this.opts.selfId} cannot reach ${shard}: ${err.message}`));
      });
    });
    p.catch(() => {
      if (this.peers.get(shard) === p) this.peers.delete(shard);
    });
    this.peers.set(shard, p);
    if (this.closed) void p.then((peer) => peer.close(), () => {});
    return p;
  }

  /** `sizeHint`: about how many bytes the frame takes; `now`: send it at once (see Peer.request). */
  async request(shard: string, frame: Outgoing, timeoutMs: number, sizeHint?: number, now?: boolean): Promise<unknown> {
    const peer = await this.connect(shard);
    return peer.request(frame, { timeoutMs, sizeHint, now });
  }

  close(): void {
    this.closed = true;
    for (const p of this.peers.values()) void p.then((peer) => peer.close(1001, "shard stopping"), () => {});
    this.peers.clear();
  }
}
