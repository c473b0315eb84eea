/**
 * A connection to a shardict cluster: one WebSocket to the coordinator (registry, table,
 * heartbeats) and one to each shard the program talks to, opened on first use. Requests
 * go straight to the shard that owns their partition; when a shard says it is not the owner
 * (or is not ready), the client refreshes its table and retries with the same request id.
 *
 * Nothing here is Node's or a browser's own: client.ts makes clients for Node (ws sockets,
 * environment variables, TLS options), src/browser/ for a browser.
 */
import { nanoid } from "nanoid";
import { ConnectionError, InvalidError, RetryableError, WireCode } from "../errors.js";
import { PartitionTable } from "../hashing/partition-table.js";
import { frameLimit } from "../net/limits.js";
import { Peer } from "../net/peer.js";
import type { PeerSocket } from "../net/peer-socket.js";
import { PROTOCOL_VERSION, type Outgoing, type PartitionTableData } from "../protocol/frames.js";
import { policyOf, type RequestPolicy } from "../protocol/request-policy.js";
import { checkReply, checkWelcome, type ReplyOf, type ReplyType, type Welcome } from "../protocol/replies.js";
import { unrefTimer } from "../util/unref-timer.js";
import { Retry } from "./retry.js";
import { RequestWindow } from "./request-window.js";
import { CONNECT_TIMEOUT_MS, type ClientPlatform } from "./platform.js";

/** What a client is made from, whatever its platform (each platform fills in its defaults). */
export interface ClusterOptions {
  /** The coordinator's address. */
  url: string;
  /** Client token, when the cluster requires one. */
  token?: string | undefined;
  /** How long a request may keep retrying (moved partitions, restarting nodes). Default 15 s. */
  retryBudgetMs?: number | undefined;
  /** How long one attempt waits for its reply. Default 60 s. */
  requestTimeoutMs?: number | undefined;
}

/** A connection of the SDK's, over whatever socket its platform opened. */
type SdkPeer = Peer<PeerSocket>;

const REQUEST_TIMEOUT_MS = 60_000;
/** How often shards hear the client's request floor (when it moved). */
const WINDOW_EVERY_MS = 100;

/** Where a data request goes, built from the current table (again on each retry). */
export interface DataRoute {
  shard: string;
  frame: Outgoing;
  sizeHint?: number;
}

/**
 * A client of one cluster. Get one with {@link connect}; close it with {@link Client.close}.
 * Idle connections never keep the process alive.
 *
 * @example
 * ```ts
 * const client = await connect({ url: "ws://127.0.0.1:7700" });
 * const d = Dict.fromName("scores", { createIfMissing: true, client });
 * await d.put("alice", 10);
 * client.close();
 * ```
 */
export interface Client {
  /** The coordinator's address. */
  readonly url: string;
  /** This client's id: ephemeral dicts it creates live as long as it heartbeats. */
  readonly clientId: string;
  /** How long a request may keep retrying (moved partitions, restarting nodes). */
  readonly retryBudgetMs: number;
  /** Whether {@link Client.close} was called. */
  readonly isClosed: boolean;
  /**
   * Close every connection and stop heartbeats. Ephemeral dicts of this client are
   * collected by the cluster after the grace period (or dispose of them first).
   */
  close(): void;
}

/**
 * The implementation behind {@link Client}: connections, routing and the request layer
 * (internal). The same in Node and in a browser: what differs, opening a socket and naming
 * this client, is its {@link ClientPlatform}.
 */
export class ClusterClient implements Client {
  readonly url: string;
  private readonly token: string | undefined;
  /** How this runtime opens sockets and names the client. */
  readonly platform: ClientPlatform;
  readonly retryBudgetMs: number;
  /** How long one attempt waits for its reply (what a request parked on a node must stay under). */
  readonly requestTimeoutMs: number;
  /** This client's id: ephemeral dicts it creates live as long as it heartbeats. */
  readonly clientId = nanoid(16);
  private rid = 0;
  private coordinator: SdkPeer | undefined;
  private connecting: Promise<SdkPeer> | undefined;
  private readonly shards = new Map<string, Promise<SdkPeer>>();
  /** The same connections once open, so a request on one needs no await to find it. */
  private readonly openShards = new Map<string, SdkPeer>();
  private refreshing: Promise<void> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  /** Known after the first connection. */
  private welcome: Welcome | undefined;
  private tableRef: PartitionTable | undefined;

  constructor(opts: ClusterOptions, platform: ClientPlatform) {
    this.url = opts.url;
    this.token = opts.token;
    this.platform = platform;
    this.retryBudgetMs = opts.retryBudgetMs ?? 15_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  private nextRid = () => ++this.rid;
  /** Data requests' ids still in play, whose floor the shards learn (request-window.ts). */
  private readonly window = new RequestWindow();
  private windowTimer: ReturnType<typeof setInterval> | undefined;
  private readonly replied = (rid: number) => this.window.closed(rid);

  private openRid(): number {
    const rid = this.nextRid();
    this.window.opened(rid);
    return rid;
  }

  /** A fresh request id, for callers that must reuse one across retries. */
  newRid(): number {
    return this.nextRid();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The partition table this client routes by. */
  get table(): PartitionTable {
    if (!this.tableRef) throw new ConnectionError("not connected");
    return this.tableRef;
  }

  /** The table if the client has one yet (it has once connected). */
  get knownTable(): PartitionTable | undefined {
    return this.tableRef;
  }

  get maxEntryBytes(): number {
    return this.welcome?.maxEntryBytes ?? 100 * 1024 * 1024;
  }

  private get payloadLimit(): number {
    return frameLimit(Math.max(this.maxEntryBytes, 100 * 1024 * 1024));
  }

  /** Connect to the coordinator (once; again after a lost connection). */
  ready(): Promise<SdkPeer> {
    if (this.closed) return Promise.reject(new ConnectionError("client is closed"));
    if (this.coordinator?.isOpen) return Promise.resolve(this.coordinator);
    if (!this.connecting) {
      this.connecting = this.openCoordinator().finally(() => (this.connecting = undefined));
    }
    return this.connecting;
  }

  private async openCoordinator(): Promise<SdkPeer> {
    const ws = await this.platform.openSocket(this.url, this.token, this.payloadLimit);
    const peer = new Peer(ws, {
      binary: true,
      label: `client→${this.url}`,
      nextRid: this.nextRid,
      unrefWhenIdle: true,
      onClose: () => {
        if (this.coordinator === peer) this.coordinator = undefined;
      },
    });
    if (this.closed) {
      peer.close();
      throw new ConnectionError("client is closed");
    }
    const welcome = checkWelcome(await peer.request({ type: "hello", v: PROTOCOL_VERSION, clientId: this.clientId, agent: this.platform.agent() }, { timeoutMs: CONNECT_TIMEOUT_MS }));
    this.welcome = welcome;
    this.adoptTable(welcome.table);
    this.coordinator = peer;
    this.startHeartbeat(welcome.heartbeatMs);
    return peer;
  }

  private adoptTable(data: PartitionTableData): void {
    if (this.tableRef && data.epoch < this.tableRef.epoch) return;
    this.tableRef = new PartitionTable(data);
  }

  private startHeartbeat(everyMs: number): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      this.coordinatorRequest({ type: "heartbeat" }).catch(() => {
        // The next heartbeat reconnects; ephemeral dicts survive a gap shorter than the grace.
      });
    }, everyMs);
    unrefTimer(this.heartbeat);
  }

  /**
   * A request to the coordinator, reconnecting first if needed, retried as its policy allows
   * (request-policy.ts): reads again after a lost connection, registry writes only if they
   * were never sent.
   */
  async coordinatorRequest<F extends Outgoing<ReplyType>>(frame: F): Promise<ReplyOf<F["type"]>> {
    // No table refresh between attempts: that is a coordinator request itself.
    const retry = new Retry(this, policyOf(frame), frame.type);
    const rid = this.nextRid();
    for (;;) {
      retry.begin();
      let sent = false;
      try {
        const peer = await this.ready();
        sent = true;
        const reply = await peer.request(frame, { rid, timeoutMs: this.requestTimeoutMs });
        return checkReply(frame.type, reply);
      } catch (err) {
        retry.failed(err, sent);
      }
      await retry.again();
    }
  }

  /**
   * Tell each shard this client talks to, when it moved, the floor of its request window,
   * a few times a second: the shard refuses stray copies of requests under it.
   */
  private startWindowTimer(): void {
    if (this.windowTimer !== undefined || this.closed) return;
    this.windowTimer = setInterval(() => {
      for (const peer of this.openShards.values()) {
        if (!peer.isOpen) continue;
        const below = this.window.news(peer);
        // A shard that does not know `done` (an older one) refuses it: it keeps its 30 s window.
        if (below !== undefined) peer.request({ type: "done", below }, { timeoutMs: this.requestTimeoutMs }).catch(() => {});
      }
    }, WINDOW_EVERY_MS);
    unrefTimer(this.windowTimer);
  }

  /** Fetch the table again (concurrent callers share one fetch). */
  refreshTable(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.coordinatorRequest({ type: "table.get" })
        .then((t) => this.adoptTable(t))
        .finally(() => (this.refreshing = undefined));
    }
    return this.refreshing;
  }

  /** The connection to a shard, opened on first use. */
  private shardPeer(shardId: string): Promise<SdkPeer> {
    let p = this.shards.get(shardId);
    if (p) return p;
    const url = this.table.urlOf(shardId);
    if (url === undefined) return Promise.reject(new RetryableError(WireCode.Unavailable, `shard ${shardId} has not joined yet`));
    p = this.platform.openSocket(url, this.token, this.payloadLimit).then((ws) => {
      const peer = new Peer(ws, {
        binary: true,
        label: `client→${shardId}`,
        nextRid: this.nextRid,
        onReplied: this.replied,
        unrefWhenIdle: true,
        onClose: () => {
          if (this.shards.get(shardId) === p) this.shards.delete(shardId);
          if (this.openShards.get(shardId) === peer) this.openShards.delete(shardId);
        },
      });
      this.openShards.set(shardId, peer);
      // First on the socket, so the shard knows whose request ids it sees (deduplication).
      peer.request({ type: "hello", v: PROTOCOL_VERSION, clientId: this.clientId }, { timeoutMs: CONNECT_TIMEOUT_MS }).catch(() => {});
      this.startWindowTimer();
      return peer;
    });
    p.catch(() => {
      if (this.shards.get(shardId) === p) this.shards.delete(shardId);
    });
    this.shards.set(shardId, p);
    if (this.closed) void p.then((peer) => peer.close(), () => {});
    return p;
  }

  /**
   * Send a data request to the shard that owns `route(table)`, retrying with the same
   * request id on moved or unavailable owners and on lost connections. A retry of a request
   * that may have run is safe: reads and plain writes are idempotent, and the shard answers a
   * repeated put-if-absent / pop / delete with its first answer. When the budget runs out
   * after the request was sent, the outcome is unknown: {@link IndeterminateError}.
   */
  dataRequest(build: (table: PartitionTable) => DataRoute): Promise<unknown> {
    // The common case without an async frame in between: connected, the shard's socket open.
    const table = this.tableRef;
    if (table === undefined || this.closed) return this.dataRequestLoop(build, Date.now(), this.openRid());
    const started = Date.now();
    const rid = this.openRid();
    let route: DataRoute;
    try {
      route = build(table);
    } catch (err) {
      this.window.closed(rid);
      return Promise.reject(err);
    }
    const open = this.openShards.get(route.shard);
    if (!open?.isOpen) return this.dataRequestLoop(build, started, rid);
    // The frame is this call's own (built just now): no copy, and a failure goes straight
    // to the retry loop without a promise of its own.
    return open.request(route.frame, {
      rid,
      timeoutMs: this.requestTimeoutMs,
      sizeHint: route.sizeHint,
      owned: true,
      onError: (err) => this.dataRequestLoop(build, started, rid, err),
    });
  }

  /** {@link dataRequest} with its retries; `firstError` is how a first attempt (sent) failed. */
  private async dataRequestLoop(build: (table: PartitionTable) => DataRoute, started: number, rid: number, firstError?: Error): Promise<unknown> {
    try {
      return await this.attempts(build, started, rid, firstError);
    } finally {
      // Answered or given up on: either way it is never sent again.
      this.window.closed(rid);
    }
  }

  private async attempts(build: (table: PartitionTable) => DataRoute, started: number, rid: number, firstError: Error | undefined): Promise<unknown> {
    if (this.closed) throw new ConnectionError("client is closed");
    if (!this.tableRef) await this.ready();
    let route = build(this.table);
    const retry = this.dataRetry(policyOf(route.frame), "request", started);
    if (firstError !== undefined) {
      retry.begin();
      retry.failed(firstError, true);
      await retry.again();
      route = build(this.table);
    }
    for (;;) {
      retry.begin();
      let sent = false;
      try {
        const open = this.openShards.get(route.shard);
        const peer = open?.isOpen ? open : await this.shardPeer(route.shard);
        sent = true;
        return await peer.request(route.frame, { rid, timeoutMs: this.requestTimeoutMs, sizeHint: route.sizeHint });
      } catch (err) {
        retry.failed(err, sent);
      }
      await retry.again();
      route = build(this.table);
    }
  }

  /** A retry of a data request: the table is refreshed before each attempt after the first. */
  dataRetry(policy: RequestPolicy, what: string, started = Date.now()): Retry {
    return new Retry(this, policy, what, { started, refresh: this.refresher });
  }

  private readonly refresher = () => this.refreshTable();

  /**
   * One attempt at a request to a shard, for callers that retry themselves: rejects with
   * {@link RetryableError} when it could not be sent, {@link ConnectionError} when it was sent
   * and its outcome is unknown, or with the request's own error.
   */
  sendToShard(shard: string, frame: Outgoing, sizeHint?: number, rid?: number): Promise<unknown> {
    // With the socket open, the frame is queued before this returns: it goes out ahead of
    // any request made after the call (a watch's start before the caller's next write).
    const open = this.openShards.get(shard);
    if (open?.isOpen && !this.closed) return open.request(frame, { timeoutMs: this.requestTimeoutMs, sizeHint, ...(rid !== undefined && { rid }) });
    return this.sendToShardSlowly(shard, frame, sizeHint, rid);
  }

  /** Stop waiting for request `rid` sent to `shard` (see Peer.abandon). */
  abandonRequest(shard: string, rid: number): void {
    this.openShards.get(shard)?.abandon(rid, new ConnectionError("request abandoned"));
  }

  private async sendToShardSlowly(shard: string, frame: Outgoing, sizeHint?: number, rid?: number): Promise<unknown> {
    let peer: SdkPeer;
    try {
      peer = await this.shardPeer(shard);
    } catch (err) {
      if (err instanceof ConnectionError) throw new RetryableError(WireCode.Unavailable, err.message);
      throw err;
    }
    return peer.request(frame, { timeoutMs: this.requestTimeoutMs, sizeHint, ...(rid !== undefined && { rid }) });
  }

  /**
   * Close every connection and stop heartbeats. Ephemeral dicts of this client are
   * collected by the cluster after the grace period (or dispose of them first).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.windowTimer) clearInterval(this.windowTimer);
    this.coordinator?.close(1000, "client closed");
    for (const p of this.shards.values()) void p.then((peer) => peer.close(1000, "client closed"), () => {});
    this.shards.clear();
    this.openShards.clear();
  }
}

/**
 * Resolve once `client` has reached the coordinator, so a wrong address or token fails here;
 * a client that cannot connect is closed. What each platform's `connect` does.
 */
export async function openClient(client: ClusterClient): Promise<ClusterClient> {
  try {
    await client.ready();
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

let makeDefaultClient: (() => ClusterClient) | undefined;
let defaultClient: ClusterClient | undefined;

/**
 * How this runtime makes the client used when none is passed (Node's: from `SHARDICT_URL`
 * and `SHARDICT_TOKEN`). A browser sets none: there, every dict names its client.
 */
export function setDefaultClientFactory(make: () => ClusterClient): void {
  makeDefaultClient = make;
}

/** The client used when none is passed. */
export function getDefaultClient(): ClusterClient {
  if (!defaultClient || defaultClient.isClosed) {
    if (makeDefaultClient === undefined) throw new InvalidError("no default client here: pass { client } (made with connect()) to Dict.fromName, Dict.ephemeral or Dict.fromId");
    defaultClient = makeDefaultClient();
  }
  return defaultClient;
}

/** The implementation of a client a user passed (the default one when none). */
export function clientOf(client: Client | undefined): ClusterClient {
  if (client === undefined) return getDefaultClient();
  if (client instanceof ClusterClient) return client;
  throw new InvalidError("not a shardict client: make one with connect()");
}
