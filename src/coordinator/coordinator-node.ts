/**
 * The coordinator: dict registry, shard membership and the partition table. It answers
 * clients' registry requests and tells shards about the table and about dicts; it is not on
 * the data path.
 */
import { nodeClientTls, readTls, type TlsMaterial } from "../net/tls.js";
import type { ClusterConfig } from "../config/cluster-config.js";
import { InvalidError, NotFoundError, StorageFullError } from "../errors.js";
import { NodeServer } from "../net/node-server.js";
import { COORDINATOR_MAX_PAYLOAD, frameLimit } from "../net/limits.js";
import type { Peer } from "../net/peer.js";
import { PROTOCOL_VERSION, type FrameOf, type Outgoing, type RequestFrame } from "../protocol/frames.js";
import { systemClock, type Clock } from "../util/clock.js";
import { DictService } from "./dict-service.js";
import { TableKeeper } from "./table-keeper.js";
import { helloId, registeredShard } from "../net/session.js";
import { startingPoint } from "./starting-point.js";
import { EphemeralLeases } from "./ephemeral-leases.js";
import { Membership } from "./membership.js";
import { Ownership } from "./ownership.js";
import { coordinatorMetrics } from "./coordinator-metrics.js";
import { clusterStatus, ROLE_NAMES, type ClusterStatus, type HeartbeatStats } from "./cluster-status.js";
import type { Welcome } from "../protocol/replies.js";
import { LmdbRegistryStore, MemoryRegistryStore, type RegistryStore } from "./registry-store.js";
import { openDataDir, type DataDir } from "../store/data-dir.js";
import { StorageFailedError } from "../store/storage-errors.js";
import { join } from "node:path";
import { WebConsole } from "../console/web-console.js";

export interface CoordinatorOptions {
  /** Listen on a non-loopback address without TLS (`--insecure`). */
  insecure?: boolean;
  config: ClusterConfig;
  host?: string;
  port?: number;
  clusterSecret?: string | undefined;
  clock?: Clock;
  log?: (line: string) => void;
  /** How often shards must heartbeat, and when silence makes them suspect / dead. */
  suspectAfterMs?: number;
  deadAfterMs?: number;
  /** Root folder for its data (`<dataDir>/coordinator/`); default the config's `dataDir`. */
  dataDir?: string;
  /** The data folder, already locked ({@link CoordinatorNode.open} does it). */
  lockedDataDir?: DataDir;
  /**
   * Called after a registry write failed and the coordinator stopped serving (fail-stop).
   * The CLI exits, for its supervisor to restart it from disk.
   */
  onFatal?: (err: Error) => void;
}

const BROADCAST_TIMEOUT_MS = 5_000;
const REBALANCE_EVERY_MS = 1_000;

export type { ClusterStatus } from "./cluster-status.js";

export class CoordinatorNode {
  private readonly cfg: ClusterConfig;
  private readonly server: NodeServer;
  private readonly dicts: DictService;
  private readonly membership: Membership;
  private readonly leases: EphemeralLeases;
  private readonly log: (line: string) => void;
  /** The newest durable table: the one served and pushed. */
  private readonly tables: TableKeeper;
  /** The epoch of the newest table made (it may still be on its way to disk). */
  private readonly own: Ownership;
  private announcedReady = false;
  private readonly expected: number;
  private readonly store: RegistryStore;
  private dataDir: DataDir | undefined;
  /** Records created but not yet durable: whoever finds one waits for it. */
  private rebalanceTimer: NodeJS.Timeout | undefined;
  /** Per shard: what its last heartbeat said (entries, moves), for `cluster status`. */
  private readonly stats = new Map<string, HeartbeatStats>();
  private readonly onFatal: ((err: Error) => void) | undefined;
  private failedWith: Error | undefined;
  /** The web console at `GET /` (config `console`). */
  private readonly console: WebConsole | undefined;
  /** Its TLS files (tls.ts), reloaded by {@link reloadTls}. */
  private tls: TlsMaterial | undefined;

  /** Read the TLS files again (SIGHUP): new connections use them. */
  reloadTls(): void {
    if (this.cfg.tls === undefined) throw new Error('the coordinator has no "tls" in its config');
    const tls = readTls(this.cfg.tls);
    this.server.reloadTls(tls);
    this.tls = tls;
    this.log("coordinator: reloaded its TLS certificate and key");
  }

  constructor(opts: CoordinatorOptions) {
    this.cfg = opts.config;
    this.log = opts.log ?? ((l) => console.log(l));
    const clock = opts.clock ?? systemClock;
    this.dataDir = opts.lockedDataDir;
    this.onFatal = opts.onFatal;
    this.store = this.openStore();
    const t0 = performance.now();
    const saved = this.store.load();
    const { members, ownership } = startingPoint(saved, this.cfg);
    this.expected = members.length;
    this.membership = new Membership(members, {
      suspectAfterMs: opts.suspectAfterMs ?? this.cfg.suspectAfterMs,
      deadAfterMs: opts.deadAfterMs ?? this.cfg.deadAfterMs,
      onStateChange: (id, state) => {
        this.log(`coordinator: shard ${id} is ${state}`);
        if (state === "dead") void this.tables.failover(id);
        else if (state === "alive") this.tables.rebalanceSoon();
      },
      onRoleChange: (id, role) => this.log(`coordinator: shard ${id} is ${ROLE_NAMES[role]}`),
    });
    this.own = new Ownership(
      this.cfg.partitions,
      this.cfg.replicationFactor,
      this.membership.activeIds(),
      ownership,
    );
    this.tables = new TableKeeper(
      {
        partitions: this.cfg.partitions,
        suspectAfterMs: this.cfg.suspectAfterMs,
        membership: this.membership,
        own: this.own,
        saveTable: (t) => this.persisted(this.store.saveTable(t)),
        broadcast: (frame) => this.broadcast(frame),
        failedWith: () => this.failedWith,
        log: this.log,
      },
      saved.table?.epoch ?? 1,
    );
    this.log(
      `coordinator: loaded ${saved.dicts.length} dicts and table epoch ${this.tables.table.epoch} in ${(performance.now() - t0).toFixed(0)} ms${this.dataDir ? ` from ${this.dataDir.path}` : " (memory engine)"}`,
    );
    this.leases = new EphemeralLeases(this.cfg.ephemeralGraceMs, clock, (owner) => void this.dicts.expireOwner(owner));
    this.dicts = new DictService({
      store: this.store,
      leases: this.leases,
      persisted: (write) => this.persisted(write),
      broadcast: (frame) => this.broadcast(frame),
      log: this.log,
    });
    this.dicts.registry.restore(saved.dicts);
    // Owners get a full grace period from this start to heartbeat again.
    for (const rec of this.dicts.registry.all()) if (rec.owner !== null) this.leases.renew(rec.owner);
    this.tls = this.cfg.tls === undefined ? undefined : readTls(this.cfg.tls);
    this.console = this.cfg.console
      ? new WebConsole({
          status: () => this.status(),
          table: () => this.tables.table,
          registry: this.dicts.registry,
          clientTokens: this.cfg.clientTokens,
          log: this.log,
          tls: () => nodeClientTls(this.tls),
        })
      : undefined;
    this.server = new NodeServer({
      host: opts.host ?? this.cfg.coordinator.host,
      port: opts.port ?? this.cfg.coordinator.port,
      maxPayload: Math.min(frameLimit(this.cfg.maxEntryBytes), COORDINATOR_MAX_PAYLOAD),
      auth: { clientTokens: this.cfg.clientTokens, clusterSecret: opts.clusterSecret },
      label: "coordinator",
      limits: this.cfg,
      log: this.log,
      onRequest: (frame, peer) => this.handle(frame, peer),
      onDisconnect: (peer) => this.disconnected(peer),
      tls: this.tls,
      insecure: opts.insecure,
      ...(this.console !== undefined && { http: this.console.handle }),
      metrics: {
        registry: coordinatorMetrics(
          () => this.status(),
          () => this.server.clientConnections,
        ),
        access: { clientTokens: this.cfg.clientTokens, metricsToken: this.cfg.metricsToken },
      },
    });
  }

  /** Lock the coordinator's data folder (held for the process's life), then make the node. */
  static async open(opts: CoordinatorOptions): Promise<CoordinatorNode> {
    if (opts.config.storageEngine === "memory" || opts.lockedDataDir) return new CoordinatorNode(opts);
    const lockedDataDir = await openDataDir(opts.dataDir ?? opts.config.dataDir, "coordinator");
    try {
      return new CoordinatorNode({ ...opts, lockedDataDir });
    } catch (err) {
      lockedDataDir.release();
      throw err;
    }
  }

  private openStore(): RegistryStore {
    if (this.cfg.storageEngine === "memory") return new MemoryRegistryStore();
    if (!this.dataDir) throw new Error("a durable coordinator needs its locked data folder: create it with CoordinatorNode.open()");
    return new LmdbRegistryStore(join(this.dataDir.path, "lmdb"), this.log);
  }

  /**
   * A registry write failed in a way that may or may not have reached the disk: the
   * coordinator cannot tell what it has made durable, so it stops at once, before any reply
   * to a request waiting on that write can leave (as a shard does): every connection is
   * dropped unanswered, nothing more is published, and the CLI exits for its supervisor to
   * restart it from what is on disk. Shards keep serving meanwhile.
   */
  private failStop(err: Error): void {
    if (this.failedWith) return;
    this.failedWith = err;
    this.log(`coordinator: FATAL: ${err.message}; stopped serving (fail-stop: what is on disk is the truth, and a restart recovers from it)`);
    if (this.rebalanceTimer) clearInterval(this.rebalanceTimer);
    this.console?.stop();
    this.leases.stop();
    this.membership.stop();
    this.server.abort("storage failed");
    this.onFatal?.(err);
  }

  /**
   * A registry write: refused for space (`StorageFullError`, nothing changed) it is the
   * request's answer; any other failure is fail-stop.
   */
  private async persisted(write: Promise<void>): Promise<void> {
    try {
      await write;
    } catch (err) {
      if (!(err instanceof StorageFullError)) this.failStop(err instanceof StorageFailedError ? err : new StorageFailedError(`coordinator: a registry write failed: ${(err as Error).message}`, { cause: err }));
      throw err;
    }
  }

  async start(): Promise<string> {
    const url = await this.server.start();
    this.console?.start(url);
    this.leases.start();
    // Moves are started a few at a time; this picks up the next ones if no event does.
    this.rebalanceTimer = setInterval(() => this.tables.rebalanceSoon(), REBALANCE_EVERY_MS);
    this.rebalanceTimer.unref();
    this.log(`coordinator: listening on ${url} (pid ${process.pid}; ${this.expected} shards expected, ${this.cfg.partitions} partitions)${this.console ? `; web console at ${url.replace(/^ws:/, "http:")}/` : ""}`);
    return url;
  }

  async stop(): Promise<void> {
    if (this.rebalanceTimer) clearInterval(this.rebalanceTimer);
    this.console?.stop();
    this.leases.stop();
    this.membership.stop();
    await this.server.stop();
    await this.store.close();
    this.dataDir?.release();
  }

  private handle(frame: RequestFrame, peer: Peer): unknown {
    if (this.failedWith) throw new StorageFailedError("coordinator: stopped after a storage failure");
    const role = peer.session.role;
    if (role === "node") return this.handleNode(frame, peer);
    return this.handleClient(frame, peer);
  }

  /**
   * A client's request. Not an async function: what needs no I/O (hello, tables, status) is
   * answered at once, so a connection's reply bytes count before its next request starts
   * (the back-pressure of net/request-gate.ts).
   */
  private handleClient(frame: RequestFrame, peer: Peer): unknown {
    if (frame.type !== "hello") this.leases.renew(helloId(peer.session));
    switch (frame.type) {
      case "hello": {
        if (frame.v !== PROTOCOL_VERSION) throw new InvalidError(`protocol version ${frame.v} is not supported (this cluster speaks ${PROTOCOL_VERSION})`);
        peer.session.clientId = frame.clientId;
        if (frame.agent !== undefined) peer.session.agent = frame.agent;
        this.leases.renew(frame.clientId);
        const welcome: Welcome = {
          v: PROTOCOL_VERSION,
          clientId: frame.clientId,
          table: this.tables.table.toData(),
          maxEntryBytes: this.cfg.maxEntryBytes,
          heartbeatMs: Math.max(50, Math.floor(this.cfg.ephemeralGraceMs / 4)),
        };
        return welcome;
      }
      case "heartbeat":
        return undefined;
      case "table.get":
        return this.tables.table.toData();
      case "status":
        return this.status();
      case "cluster.removeShard":
        throw new InvalidError("removing a shard needs the cluster secret ($SHARDICT_CLUSTER_SECRET)");
      case "dict.lookup":
      case "dict.get":
      case "dict.create":
      case "dict.list":
      case "dict.delete":
      case "dict.deleteId":
      case "ephemeral.create":
        return this.dicts.handle(frame, { clientId: helloId(peer.session), agent: peer.session.agent ?? null, scope: peer.session.scope });
      default:
        throw new InvalidError(`${frame.type} is not served by the coordinator`);
    }
  }

  private handleNode(frame: RequestFrame, peer: Peer): unknown {
    switch (frame.type) {
      case "shard.register":
        return this.register(frame, peer);
      case "heartbeat": {
        const id = peer.session.shardId;
        if (typeof id === "string") {
          this.membership.heartbeat(id);
          if (frame.entries !== undefined) this.stats.set(id, { entries: frame.entries, held: frame.held ?? frame.entries, moves: frame.moves ?? [] });
          if (frame.load !== undefined) this.console?.observe(id, frame.load);
        }
        // The lease this grants holds only for a shard that knows this epoch.
        return { epoch: this.tables.table.epoch };
      }
      case "dict.get":
        // A shard asks about an id it has not heard of, and what scoped tokens' checks need of it.
        return this.dicts.facts(frame.id);
      case "table.get":
        return this.tables.table.toData();
      case "status":
        return this.status();
      case "shard.replicaFailed": {
        const from = registeredShard(peer.session);
        const ok = this.own.replicaFailed(frame.part, frame.pepoch, from, frame.replica);
        return this.reported(ok, () => `${frame.replica} left the replicas of partition ${frame.part} (reported by ${from})`);
      }
      case "shard.caughtUp": {
        const from = registeredShard(peer.session);
        const ok = this.own.caughtUp(frame.part, frame.pepoch, from, frame.replica);
        return this.reported(ok, () => `${frame.replica} has a copy of partition ${frame.part} (caught up by ${from})`);
      }
      case "shard.handedOff": {
        const from = registeredShard(peer.session);
        const ok = this.membership.stateOf(frame.to) === "alive" && this.own.handedOff(frame.part, frame.pepoch, from, frame.to, frame.id);
        return this.reported(ok, () => `partition ${frame.part} moved from ${from} to ${frame.to} (epoch ${this.tables.table.epoch})`);
      }
      case "shard.leave":
        return this.leave(registeredShard(peer.session));
      case "cluster.removeShard":
        return this.leave(frame.shardId);
      default:
        throw new InvalidError(`${frame.type} is not served to nodes by the coordinator`);
    }
  }

  /** A shard's report: if it changed ownership, the table that says so (published first), else the current one. */
  private reported(changed: boolean, line: () => string): unknown {
    if (!changed) return this.tables.table.toData();
    return this.tables.changed().then(() => {
      this.log(`coordinator: ${line()}`);
      return this.tables.table.toData();
    });
  }

  private async register(frame: FrameOf<"shard.register">, peer: Peer): Promise<unknown> {
    if (frame.v !== PROTOCOL_VERSION) throw new InvalidError(`protocol version ${frame.v} is not supported`);
    let member = this.membership.get(frame.shardId);
    const joining = !member;
    if (!member) member = this.membership.add(frame.shardId, frame.url, "joining");
    else if (this.membership.roleOf(frame.shardId) === "leaving") this.membership.sendRole(frame.shardId, { type: "REJOIN" });
    if (member.peer && member.peer !== peer && member.peer.isOpen) {
      // A restarted shard whose old socket has not timed out yet: the new one wins.
      member.peer.close(1008, "replaced by a newer registration");
    }
    if (frame.lostData) await this.tables.forgetCopies(frame.shardId);
    peer.session.shardId = frame.shardId;
    const urlChanged = this.tables.table.urlOf(frame.shardId) !== frame.url;
    this.membership.registered(frame.shardId, frame.url, peer);
    if (urlChanged || joining) {
      await this.tables.changed();
      this.log(`coordinator: shard ${frame.shardId} ${joining ? "joins the cluster" : "registered"} at ${frame.url} (epoch ${this.tables.table.epoch})`);
    } else {
      this.log(`coordinator: shard ${frame.shardId} registered again at ${frame.url}`);
    }
    if (!this.announcedReady && this.membership.allRegistered()) {
      this.announcedReady = true;
      this.log(`coordinator: ready: all ${this.expected} shards joined (epoch ${this.tables.table.epoch})`);
    }
    return {
      table: this.tables.table.toData(),
      dicts: this.dicts.registry.ids(),
      // A shard started without this cluster's config says so when its own settings differ.
      settings: { entryTtlMs: this.cfg.entryTtlMs, maxEntryBytes: this.cfg.maxEntryBytes },
    };
  }

  /**
   * Start moving every partition off a shard; it is forgotten once it holds none (a shard
   * that asked itself sees that in the table, and exits).
   */
  private async leave(id: string): Promise<{ state: string }> {
    const role = this.membership.roleOf(id);
    if (role === undefined) throw new NotFoundError(`shard "${id}" is not a member of this cluster`);
    if (role === "joining" || role === "serving") {
      if (this.membership.activeIds().length <= 1) throw new InvalidError(`shard "${id}" is the last serving shard: its partitions have nowhere to go`);
      this.membership.sendRole(id, { type: "LEAVE" });
      this.log(`coordinator: shard ${id} asked to leave: its partitions move to the others`);
      await this.tables.changed();
    }
    return { state: ROLE_NAMES[this.membership.roleOf(id) ?? "leaving"] };
  }

  private disconnected(peer: Peer): void {
    this.membership.disconnected(peer);
    const id = peer.session.shardId;
    if (typeof id === "string" && this.membership.roleOf(id) === "leaving" && !this.membership.get(id)?.peer) {
      this.membership.remove(id);
      this.stats.delete(id);
      this.console?.forget(id);
      this.log(`coordinator: shard ${id} has left`);
      void this.tables.changed().catch((err: unknown) => this.log(`coordinator: publishing failed: ${(err as Error).message}`));
    }
  }

  /** Tell every connected shard; resolves with the refusals of those still connected. */
  private async broadcast(frame: Outgoing, except?: Peer): Promise<Error[]> {
    const peers = this.membership.connectedPeers().filter((p) => p !== except);
    const results = await Promise.allSettled(peers.map((p) => p.request(frame, { timeoutMs: BROADCAST_TIMEOUT_MS })));
    const refused: Error[] = [];
    results.forEach((r, i) => {
      // A shard going away (it left, or stops) does not need the news.
      if (r.status === "rejected" && peers[i]?.isOpen) {
        this.log(`coordinator: a shard did not take ${frame.type}: ${(r.reason as Error).message}`);
        refused.push(r.reason as Error);
      }
    });
    return refused;
  }

  private status(): ClusterStatus {
    return clusterStatus({
      table: this.tables.table,
      replicationFactor: this.cfg.replicationFactor,
      dicts: this.dicts.registry.size,
      membership: this.membership,
      progress: this.own.progress(),
      stats: this.stats,
    });
  }
}
