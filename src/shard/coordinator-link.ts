/**
 * A shard's connection to the coordinator: registers, heartbeats, takes pushed updates, and
 * reconnects with backoff when the coordinator goes away (data keeps being served meanwhile).
 */
import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { DictFacts } from "../net/token-scope.js";
import { nodeClientTls, type TlsMaterial } from "../net/tls.js";
import WebSocket from "ws";
import { CLIENT_SOCKET_OPTIONS } from "../net/client-socket-options.js";
import { InvalidError, NotFoundError } from "../errors.js";
import { nodeHeaders } from "../net/auth.js";
import { Peer, type RequestHandler } from "../net/peer.js";
import { PROTOCOL_VERSION, type MoveProgressData, type Outgoing, type PartitionTableData, type ShardLoadData } from "../protocol/frames.js";

export interface RegisterResult {
  table: PartitionTableData;
  dicts: string[];
  /** The coordinator's own settings that a shard must share. */
  settings?: { entryTtlMs: number; maxEntryBytes: number };
}

export interface CoordinatorLinkOptions {
  coordinatorUrl: string;
  shardId: string;
  /** The address clients should use for this shard. */
  advertiseUrl: string;
  clusterSecret: string | undefined;
  maxPayload: number;
  /** The node's TLS files, as they are now (a SIGHUP may have reloaded them). */
  tls?: () => TlsMaterial | undefined;
  heartbeatMs?: number;
  onRegistered: (result: RegisterResult) => void;
  /** Whether this node lost its data (corrupt at start): the coordinator must forget its copies. */
  lostData?: () => boolean;
  /** The coordinator refused to forget this node's copies (InvalidError): not retried. */
  onRefused?: (err: Error) => void;
  onLost: (reason: string) => void;
  onPush: RequestHandler;
  log: (line: string) => void;
  /** A heartbeat sent at `sentAt` (performance.now()) was answered with the coordinator's table epoch. */
  onHeartbeat?: (sentAt: number, epoch: number) => void;
  /** What each heartbeat reports for `cluster status` and the web console. */
  stats?: () => { entries: number; held: number; moves: MoveProgressData[]; load?: ShardLoadData };
}

export class CoordinatorLink {
  private peer: Peer | undefined;
  private stopped = false;
  private backoffMs = 100;
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private everConnected = false;

  constructor(private readonly opts: CoordinatorLinkOptions) {}

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.opts.coordinatorUrl, {
      ...nodeClientTls(this.opts.tls?.()),
      headers: nodeHeaders(this.opts.clusterSecret),
      maxPayload: this.opts.maxPayload,
      ...CLIENT_SOCKET_OPTIONS,
    });
    const peer = new Peer(ws, {
      binary: true,
      label: `${this.opts.shardId}→coordinator`,
      onRequest: this.opts.onPush,
      onClose: (_p, reason) => this.onClose(reason),
    });
    this.peer = peer;
    ws.once("open", () => void this.register(peer));
    ws.once("unexpected-response", (_req, res) => {
      this.opts.log(`${this.opts.shardId}: coordinator refused the connection (HTTP ${res.statusCode})`);
    });
  }

  private async register(peer: Peer): Promise<void> {
    try {
      const result = (await peer.request(
        { type: "shard.register", v: PROTOCOL_VERSION, shardId: this.opts.shardId, url: this.opts.advertiseUrl, ...(this.opts.lostData?.() && { lostData: true }) },
        { timeoutMs: 10_000 },
      )) as RegisterResult;
      this.backoffMs = 100;
      this.everConnected = true;
      this.opts.onRegistered(result);
      this.startHeartbeat(peer);
    } catch (err) {
      this.opts.log(`${this.opts.shardId}: registration failed: ${(err as Error).message}`);
      if (err instanceof InvalidError && this.opts.lostData?.() && this.opts.onRefused) {
        this.stopped = true;
        this.opts.onRefused(err);
      }
      peer.close(1000, "registration failed");
    }
  }

  private startHeartbeat(peer: Peer): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    const every = this.opts.heartbeatMs ?? 1_000;
    const beat = () => {
      const sentAt = performance.now();
      peer.request({ type: "heartbeat", ...this.opts.stats?.() }, { timeoutMs: every * 3 }).then(
        (r) => {
          const epoch = (r as { epoch?: unknown } | undefined)?.epoch;
          if (typeof epoch === "number") this.opts.onHeartbeat?.(sentAt, epoch);
        },
        (err: Error) => {
          if (peer.isOpen) peer.terminate(`heartbeat failed: ${err.message}`);
        },
      );
    };
    beat();
    this.heartbeat = setInterval(beat, every);
  }

  private onClose(reason: string): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.peer = undefined;
    if (this.stopped) return;
    if (this.everConnected) this.opts.onLost(reason);
    this.reconnect = setTimeout(() => this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 2_000);
  }

  /** The coordinator's current table. */
  async fetchTable(): Promise<RegisterResult["table"]> {
    const peer = this.peer;
    if (!peer?.isOpen) throw new Error("coordinator not connected");
    return (await peer.request({ type: "table.get" }, { timeoutMs: 5_000 })) as RegisterResult["table"];
  }

  private async ask<T>(frame: Outgoing): Promise<T> {
    const peer = this.peer;
    if (!peer?.isOpen) throw new Error("coordinator not connected");
    return (await peer.request(frame, { timeoutMs: 5_000 })) as T;
  }

  /** Tell the coordinator a replica does not answer; resolves with the table after that. */
  reportReplicaFailed(part: number, pepoch: number, replica: string): Promise<PartitionTableData> {
    return this.ask({ type: "shard.replicaFailed", part, pepoch, replica });
  }

  /** Tell the coordinator a learner has its snapshot; resolves with the table after that. */
  reportCaughtUp(part: number, pepoch: number, replica: string): Promise<PartitionTableData> {
    return this.ask({ type: "shard.caughtUp", part, pepoch, replica });
  }

  /** Tell the coordinator this node stopped serving a partition it hands to `to`. */
  reportHandedOff(part: number, pepoch: number, to: string, id: number): Promise<PartitionTableData> {
    return this.ask({ type: "shard.handedOff", part, pepoch, to, id });
  }

  /** Ask to leave the cluster: the coordinator moves this node's partitions away. */
  leave(): Promise<unknown> {
    return this.ask({ type: "shard.leave" });
  }

  /** Ask the coordinator whether a dict id exists. */
  async dictExists(id: string): Promise<boolean> {
    return (await this.dictFacts(id)) !== undefined;
  }

  /** A dict's facts for scoped tokens' checks (dict-access.ts), or undefined when there is no such dict. */
  async dictFacts(id: string): Promise<DictFacts | undefined> {
    const peer = this.peer;
    if (!peer?.isOpen) throw new Error("coordinator not connected");
    let answer: unknown;
    try {
      answer = await peer.request({ type: "dict.get", id }, { timeoutMs: 5_000 });
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    if (!checkFacts.Check(answer) || answer.id !== id) throw new Error(`the coordinator's answer about dict ${id} is not a dict's facts`);
    return { id, name: answer.name, env: answer.env, owner: answer.owner ?? null, ownerKey: answer.ownerKey ?? null };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.reconnect) clearTimeout(this.reconnect);
    this.peer?.close(1001, "shard stopping");
  }
}

/** The coordinator's answer to a node's `dict.get` (older coordinators send no owner fields). */
const checkFacts = TypeCompiler.Compile(
  Type.Object({
    id: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
    env: Type.String(),
    owner: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    ownerKey: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  }),
);
