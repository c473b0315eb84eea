/**
 * A shard node: hosts partition stores, serves the data path to clients, and follows the
 * coordinator's partition table and dict list. Its lifecycle is an xstate actor.
 */
import { createActor } from "xstate";
import type { ClusterConfig } from "../config/cluster-config.js";
import { InvalidError, NotFoundError } from "../errors.js";
import { PartitionTable } from "../hashing/partition-table.js";
import { nodeLifecycleMachine } from "../machines/node-lifecycle.machine.js";
import { frameLimit } from "../net/limits.js";
import { NodeServer } from "../net/node-server.js";
import type { RequestFrame } from "../protocol/frames.js";
import { flushAnswersSoon, type Peer } from "../net/peer.js";
import { DedupTable, DEDUP_WINDOW_MS } from "./dedup-table.js";
import { NodeLinks } from "./node-links.js";
import { commitAndReplicate } from "./commit-and-replicate.js";
import { Leadership } from "./leadership.js";
import { openShardEngine } from "./open-engine.js";
import { handlePush } from "./coordinator-pushes.js";
import { recoverShard, startOver } from "./recovery.js";
import { ReplicaApplier } from "./replica-applier.js";
import { applyReplicated, type ReplicaStores } from "./replica-apply.js";
import { entryCounts, partitionCopy, storedState, type ShardState } from "./stored-state.js";
import { Replicator } from "./replicator.js";
import { backoff } from "../util/backoff.js";
import { systemClock, type Clock } from "../util/clock.js";
import type { StorageEngine } from "../store/storage-engine.js";
import { LogEngine } from "../store/log-engine.js";
import { openDataDir, type DataDir } from "../store/data-dir.js";
import { CorruptStorageError } from "../store/storage-errors.js";
import { CoordinatorLink, type RegisterResult } from "./coordinator-link.js";
import { DataHandler } from "./data-handler.js";
import { handleShardRequest, type ShardRequestContext } from "./node-requests.js";
import { DictSet } from "./dict-set.js";
import { DictAccess } from "./dict-access.js";
import { HandoffFollower } from "./handoff-follower.js";
import { PartitionHost } from "./partition-host.js";
import { ShardMetrics } from "./shard-metrics.js";
import { readTls, type TlsMaterial } from "../net/tls.js";

export interface ShardNodeOptions {
  config: ClusterConfig;
  id: string;
  /** Listen on a non-loopback address without TLS (`--insecure`). */
  insecure?: boolean;
  host?: string;
  port?: number;
  coordinatorUrl?: string;
  /** The address clients and peers should use, when not the one listened on (a proxy, NAT). */
  advertiseUrl?: string;
  clusterSecret?: string | undefined;
  /** Root folder for this node's data (`<dataDir>/<id>/`); default the config's `dataDir`. */
  dataDir?: string;
  engine?: StorageEngine;
  clock?: Clock;
  log?: (line: string) => void;
  /** The data folder, already locked ({@link ShardNode.open} does it). */
  lockedDataDir?: DataDir;
  /**
   * Called after a storage write or sync failed and the node stopped serving (fail-stop).
   * The CLI exits, for its supervisor to restart the node from disk.
   */
  onFatal?: (err: Error) => void;
}

/** Answers kept for retries dropped per expiry step (ten steps a second): ~1 ms of work. */
const DEDUP_EXPIRY_BUDGET = 5_000;

export class ShardNode {
  readonly id: string;
  private readonly cfg: ClusterConfig;
  private readonly log: (line: string) => void;
  private readonly clock: Clock;
  private readonly lifecycle = createActor(nodeLifecycleMachine);
  private readonly server: NodeServer;
  private readonly host: PartitionHost;
  private readonly dicts: DictSet;
  private readonly access: DictAccess;
  private readonly dedup = new DedupTable();
  private readonly links: NodeLinks;
  private readonly leadership: Leadership;
  private readonly replicator: Replicator;
  private readonly replica: ReplicaApplier;
  private dedupTimer: NodeJS.Timeout | undefined;
  private readonly data: DataHandler;
  private link: CoordinatorLink | undefined;
  private table: PartitionTable | undefined;
  private readonly coordinatorUrl: string;
  private readonly advertiseUrl: string | undefined;
  private readonly clusterSecret: string | undefined;
  private readonly engine: StorageEngine;
  private dataDir: DataDir | undefined;
  /** Partitions this node stopped serving to hand them off, until the flip (or a cancel). */
  private readonly handoffs: HandoffFollower;
  private removedResolve: (() => void) | undefined;
  /** Resolves when the coordinator has forgotten this node (it left, or was removed). */
  readonly removed = new Promise<void>((resolve) => (this.removedResolve = resolve));
  private registered = false;
  private readonly onFatal: ((err: Error) => void) | undefined;
  /** What `GET /metrics` on this node's port answers. */
  readonly metrics: ShardMetrics;

  /** Lock the node's data folder (held for the process's life), then make the node. */
  static async open(opts: ShardNodeOptions): Promise<ShardNode> {
    if (opts.engine || opts.lockedDataDir || opts.config.storageEngine === "memory") return new ShardNode(opts);
    const lockedDataDir = await openDataDir(opts.dataDir ?? opts.config.dataDir, opts.id);
    try {
      return new ShardNode({ ...opts, lockedDataDir });
    } catch (err) {
      lockedDataDir.release();
      throw err;
    }
  }

  constructor(opts: ShardNodeOptions) {
    this.cfg = opts.config;
    this.id = opts.id;
    // A shard that is not in the config joins a running cluster: it needs its own address.
    const own = this.cfg.shards.find((s) => s.id === opts.id) ?? (opts.port !== undefined ? { id: opts.id, host: opts.host ?? "127.0.0.1", port: opts.port } : undefined);
    if (!own) {
      throw new Error(`shard id "${opts.id}" is not in the cluster config (known: ${this.cfg.shards.map((s) => s.id).join(", ")}); to join a running cluster give its --port (and --host)`);
    }
    this.log = opts.log ?? ((l) => console.log(l));
    this.clock = opts.clock ?? systemClock;
    this.clusterSecret = opts.clusterSecret;
    this.advertiseUrl = opts.advertiseUrl;
    this.tls = this.cfg.tls === undefined ? undefined : readTls(this.cfg.tls);
    this.coordinatorUrl = opts.coordinatorUrl ?? `${this.tls ? "wss" : "ws"}://${this.cfg.coordinator.host}:${this.cfg.coordinator.port}`;
    this.dataDir = opts.lockedDataDir;
    this.onFatal = opts.onFatal;
    this.metrics = new ShardMetrics({
      entries: () => {
        const n = entryCounts(this.host, (part) => this.table?.primaryOf(part), this.id);
        return { primary: n.entries, all: n.held, primaryBytes: n.bytes, allBytes: n.heldBytes };
      },
      dicts: () => this.dicts.ids().length,
      partitions: () => this.table?.roleCounts(this.id) ?? { primary: 0, replica: 0 },
      dedupAnswers: () => this.dedup.size,
      dedupClients: () => this.dedup.clientCount,
      dedupFloors: () => this.dedup.floorCount,
      parkedWaiters: () => this.data.waiters.size,
      parkedWatches: () => this.data.watches.size,
      watchHistory: () => this.host.historySize(),
      clientConnections: () => this.server.clientConnections,
      replication: () => this.replicator.inFlight(),
      commitLingers: () => {
        const l = this.engine instanceof LogEngine ? this.engine.linger : undefined;
        return { joined: l?.joined ?? 0, ranOut: l?.ranOut ?? 0 };
      },
      logRounds: () => (this.engine instanceof LogEngine ? this.engine.roundTimes.snapshot() : undefined),
    });
    this.engine =
      opts.engine ??
      openShardEngine({
        cfg: this.cfg,
        node: this.id,
        dir: this.dataDir,
        log: this.log,
        onFatal: (err) => this.failStop(err),
        // A round is durable: its answers leave as soon as they are settled (peer.ts).
        onBatch: (mutations, seconds) => {
          this.metrics.batch(mutations, seconds);
          flushAnswersSoon();
        },
      });
    const record = this.engine.durable || this.cfg.replicationFactor > 1;
    this.host = new PartitionHost({
      ttlMs: this.cfg.entryTtlMs,
      engine: this.engine,
      clock: this.clock,
      log: this.log,
      record,
      history: this.cfg.watchHistory,
      // Expiry is a primary's change, replicated like a delete (replicas keep the same history).
      leads: (part) => this.table?.primaryOf(part) === this.id && this.handoffs.target(part) === undefined,
      persist: (store) => commitAndReplicate(this.engine, this.replicator, store),
    });
    this.links = new NodeLinks({ selfId: this.id, clusterSecret: opts.clusterSecret, maxPayload: frameLimit(this.cfg.maxEntryBytes), table: () => this.table, tls: () => this.tls });
    this.replicator = new Replicator({
      selfId: this.id,
      table: () => this.table,
      links: this.links,
      reportFailed: async (part, pepoch, replica) => {
        if (!this.link) return;
        this.log(`${this.id}: replica ${replica} of partition ${part} does not answer; reporting it`);
        this.adoptTable(await this.link.reportReplicaFailed(part, pepoch, replica));
      },
      reportCaughtUp: async (part, pepoch, replica) => {
        if (!this.link) throw new Error("not linked to the coordinator");
        this.adoptTable(await this.link.reportCaughtUp(part, pepoch, replica));
      },
      refreshTable: () => this.refreshTable(),
      snapshot: (part) => partitionCopy(this.parts(), part),
      onAcknowledged: this.metrics.replicaAcknowledged,
    });
    this.leadership = new Leadership({
      selfId: this.id,
      table: () => this.table,
      refreshTable: () => this.refreshTable(),
      replicasFor: (t, part) => this.replicator.replicasFor(t, part),
      links: this.links,
      leaseMs: this.cfg.suspectAfterMs,
    });
    this.replica = new ReplicaApplier({
      selfId: this.id,
      table: () => this.table,
      refreshTable: () => this.refreshTable(),
      apply: (items) => applyReplicated(this.parts(), items),
    });
    this.access = new DictAccess((id) => {
      if (!this.link) return Promise.reject(new Error("not linked to the coordinator"));
      return this.link.dictFacts(id);
    });
    this.dicts = new DictSet(async (id) => {
      if (!this.link) throw new Error("not linked to the coordinator");
      const exists = await this.link.dictExists(id);
      if (exists) this.background(this.engine.commit([{ op: "addDict", dict: id }]), "recording a dict");
      return exists;
    });
    if (this.engine instanceof LogEngine) this.engine.setSnapshotSource(() => storedState(this.parts()));
    this.handoffs = new HandoffFollower({
      selfId: this.id,
      drain: (part) => this.data.drain(part),
      report: (part, pepoch, h) => {
        if (!this.link) return Promise.reject(new Error("not linked to the coordinator"));
        return this.link.reportHandedOff(part, pepoch, h.to, h.id);
      },
      adoptTable: (table) => this.adoptTable(table),
    });
    this.data = new DataHandler({
      shardId: this.id,
      reserve: (bytes) => this.engine.reserve(bytes),
      release: (bytes) => this.engine.release(bytes),
      host: this.host,
      dicts: this.dicts,
      dedup: this.dedup,
      clock: this.clock,
      maxEntryBytes: this.cfg.maxEntryBytes,
      table: () => this.table,
      serving: () => this.servingNow,
      ensureLeader: (parts) => this.leadership.ensure(parts),
      handingOff: (part) => this.handoffs.target(part),
      handoffOver: (part, ms) => this.handoffs.over(part, ms),
      persist: (store) => commitAndReplicate(this.engine, this.replicator, store),
    });
    this.server = new NodeServer({
      host: opts.host ?? own.host,
      port: opts.port ?? own.port,
      maxPayload: frameLimit(this.cfg.maxEntryBytes),
      auth: { clientTokens: this.cfg.clientTokens, clusterSecret: opts.clusterSecret },
      label: this.id,
      limits: this.cfg,
      log: this.log,
      onRequest: (frame, peer) => this.handle(frame, peer),
      onAnswer: this.metrics.answered,
      metrics: { registry: this.metrics.registry, access: { clientTokens: this.cfg.clientTokens, metricsToken: this.cfg.metricsToken } },
      tls: this.tls,
      insecure: opts.insecure,
    });
    this.lifecycle.subscribe((snap) => {
      // Read on every request: kept as a flag rather than matched against the state each time.
      this.servingNow = snap.matches("serving") || snap.matches("leaving");
      if (snap.value !== this.lastState) {
        this.lastState = String(snap.value);
        this.log(`${this.id}: ${this.lastState}`);
      }
    });
  }

  /** Its TLS files (tls.ts), reloaded by {@link reloadTls}. */
  private tls: TlsMaterial | undefined;

  /** Read the TLS files again (SIGHUP): new connections, both ways, use them. */
  reloadTls(): void {
    if (this.cfg.tls === undefined) throw new Error(`${this.id} has no "tls" in its config`);
    const tls = readTls(this.cfg.tls);
    this.server.reloadTls(tls);
    this.tls = tls;
    this.log(`${this.id}: reloaded its TLS certificate and key`);
  }

  /** What this node stores: its partitions, dicts, recent answers and engine. */
  private parts(): ShardState & ReplicaStores {
    // Made once, on first use (every field is set by then and never changes): one per replicated frame would be garbage.
    return (this.partsOnce ??= { host: this.host, dicts: this.dicts, dedup: this.dedup, clock: this.clock, engine: this.engine });
  }

  private partsOnce: (ShardState & ReplicaStores) | undefined;

  private lastState = "";
  private servingNow = false;

  /**
   * Fail-stop: a write or sync failed, so memory may hold mutations that are not durable.
   * Stop serving at once, before any reply to a request waiting on that commit can leave:
   * every connection is dropped unanswered (clients retry with the same request id, and a
   * retry finds either the first answer on disk or nothing), the coordinator sees this
   * node gone and fails its partitions over to in-sync replicas.
   */
  private failStop(err: Error): void {
    if (this.failedWith) return;
    this.failedWith = err;
    this.log(`${this.id}: FATAL: ${err.message}; stopped serving (fail-stop: what is on disk is the truth, and a restart recovers from it)`);
    this.lifecycle.send({ type: "STORAGE_FAILED" });
    this.servingNow = false;
    this.server.abort("storage failed");
    this.links.close();
    this.host.stop();
    void this.link?.stop();
    this.onFatal?.(err);
  }

  private failedWith: Error | undefined;

  /** Load what storage holds before serving (see {@link recoverShard}). */
  private recover(): void {
    const where = this.dataDir ? ` from ${this.dataDir.path}` : " (memory engine: nothing to load)";
    this.lostData = recoverShard(this.parts(), { node: this.id, replicationFactor: this.cfg.replicationFactor, where, log: this.log });
  }

  async start(): Promise<string> {
    this.lifecycle.start();
    this.recover();
    const url = await this.server.start();
    this.host.start();
    // Answers kept for retries expire in small steps, ten a second: at 20,000 writes a
    // second, one expiry every 5 s used to stall the shard for several milliseconds.
    let ticks = 0;
    this.dedupTimer = setInterval(() => {
      const now = this.clock.now();
      this.dedup.expire(now, false, DEDUP_EXPIRY_BUDGET);
      if (++ticks % 50 === 0) this.engine.expireDedup(now - DEDUP_WINDOW_MS);
    }, 100);
    this.dedupTimer.unref();
    this.lifecycle.send({ type: "BOOTED" });
    this.log(`${this.id}: listening on ${url} (pid ${process.pid})`);
    this.link = new CoordinatorLink({
      coordinatorUrl: this.coordinatorUrl,
      shardId: this.id,
      advertiseUrl: this.advertiseUrl ?? url,
      tls: () => this.tls,
      clusterSecret: this.clusterSecret,
      maxPayload: frameLimit(this.cfg.maxEntryBytes),
      onRegistered: (r) => this.onRegistered(r),
      lostData: () => this.lostData !== undefined,
      onRefused: (err) => {
        const lost = this.lostData;
        if (!lost) return;
        this.log(`${this.id}: the coordinator cannot rebuild this shard: ${err.message}`);
        this.failStop(lost);
      },
      onLost: (reason) => {
        this.log(`${this.id}: lost the coordinator (${reason}); still serving, reconnecting`);
        this.lifecycle.send({ type: "COORDINATOR_LOST" });
      },
      onPush: (frame) => handlePush(frame, this.parts(), (t) => this.adoptTable(t)),
      heartbeatMs: this.cfg.heartbeatMs,
      onHeartbeat: (sentAt, epoch) => this.leadership.onHeartbeat(sentAt, epoch),
      stats: () => {
        const n = entryCounts(this.host, (part) => this.table?.primaryOf(part), this.id);
        return { entries: n.entries, held: n.held, moves: this.replicator.moves(), load: this.metrics.load() };
      },
      log: this.log,
    });
    this.link.start();
    return url;
  }

  /** Corrupt data found at start, until the coordinator has forgotten this node's copies. */
  private lostData: CorruptStorageError | undefined;

  private onRegistered(r: RegisterResult): void {
    if (this.lostData) {
      startOver(this.parts(), this.lostData, this.id, this.log);
      this.lostData = undefined;
    }
    this.registered = true;
    const theirs = r.settings;
    if (theirs && (theirs.entryTtlMs !== this.cfg.entryTtlMs || theirs.maxEntryBytes !== this.cfg.maxEntryBytes)) {
      this.log(
        `${this.id}: WARNING: this shard's entryTtlMs / maxEntryBytes (${this.cfg.entryTtlMs} / ${this.cfg.maxEntryBytes}) differ from the coordinator's ` +
          `(${theirs.entryTtlMs} / ${theirs.maxEntryBytes}); start it with the cluster's --config`,
      );
    }
    this.adoptTable(r.table);
    const known = new Set(this.dicts.ids());
    const dropped = this.dicts.replace(r.dicts);
    const added = r.dicts.filter((id) => !known.has(id));
    for (const id of dropped) this.background(this.host.dropDict(id), `dropping dict ${id}`);
    if (added.length > 0) this.background(this.engine.commit(added.map((dict) => ({ op: "addDict" as const, dict }))), "recording dicts");
    this.lifecycle.send({ type: "REGISTERED", epoch: r.table.epoch });
  }

  private background(p: Promise<unknown> | undefined, what: string): void {
    p?.catch((err: unknown) => this.log(`${this.id}: ${what} failed: ${(err as Error).message}`));
  }

  private adoptTable(data: RegisterResult["table"]): void {
    if (this.table && data.epoch <= this.table.epoch) return;
    const t = new PartitionTable(data);
    this.table = t;
    this.replicator.onTable(t);
    this.handoffs.onTable(t);
    this.releaseUnheld(t);
    // Parked watchers answer now: those of partitions that moved ask their new owners.
    this.data.watches.wakeAll();
    if (this.registered && !t.shardAddresses().some((a) => a.id === this.id)) {
      this.log(`${this.id}: the coordinator has removed this shard from the cluster`);
      this.removedResolve?.();
    }
  }

  /** Drop the copies of partitions this node no longer holds (moved away, or trimmed). */
  private releaseUnheld(t: PartitionTable): void {
    for (const [part, store] of this.host.all()) {
      if (store.size === 0 || t.holds(part, this.id)) continue;
      store.release();
      this.background(store.commit(), `releasing partition ${part}`);
    }
  }

  /** Ask the coordinator for its table now (this node may be behind). */
  private async refreshTable(): Promise<void> {
    if (this.link) this.adoptTable(await this.link.fetchTable());
  }

  private handle(frame: RequestFrame, peer: Peer): unknown {
    return handleShardRequest(this.requestContext, frame, peer);
  }

  private get requestContext(): ShardRequestContext {
    return (this.requestsOnce ??= { id: this.id, data: this.data, access: this.access, replica: this.replica, leadership: this.leadership, table: () => this.table });
  }

  private requestsOnce: ShardRequestContext | undefined;

  /**
   * Leave the cluster: the coordinator moves every partition this node holds to the others
   * (their writes keep being served meanwhile); resolves once it has forgotten this node.
   */
  async leave(onProgress?: (line: string) => void): Promise<void> {
    this.lifecycle.send({ type: "LEAVE" });
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.link) throw new Error("not started");
        await this.link.leave();
        break;
      } catch (err) {
        if (err instanceof InvalidError || err instanceof NotFoundError) throw err;
        onProgress?.(`${this.id}: cannot ask to leave yet (${(err as Error).message}); retrying`);
        await backoff(attempt, 1_000);
      }
    }
    await this.removed;
  }

  /** Entries held (for status and tests). */
  entryCount(): number {
    return this.host.entryCount();
  }

  async stop(): Promise<void> {
    this.lifecycle.send({ type: "STOP" });
    this.data.watches.wakeAll();
    await this.link?.stop();
    this.links.close();
    this.host.stop();
    if (this.dedupTimer) clearInterval(this.dedupTimer);
    await this.server.stop();
    await this.engine.close();
    this.dataDir?.release();
    this.lifecycle.send({ type: "DRAINED" });
    this.lifecycle.stop();
  }
}
