/**
 * The coordinator: dict registry, shard membership and the partition table. It answers
 * clients' registry requests and tells shards about the table and about dicts; it is not on
 * the data path.
 */
import type { ClusterConfig } from "../config/cluster-config.js";
import { InvalidError, NotFoundError, StorageFullError } from "../errors.js";
import { PartitionTable } from "../hashing/partition-table.js";
import { NodeServer } from "../net/node-server.js";
import { frameLimit } from "../net/limits.js";
import type { Peer } from "../net/peer.js";
import { PROTOCOL_VERSION, type FrameOf, type Outgoing, type RequestFrame } from "../protocol/frames.js";
import { systemClock, type Clock } from "../util/clock.js";
import { DictService } from "./dict-service.js";
import { EphemeralLeases } from "./ephemeral-leases.js";
import { Membership, type StoredMember } from "./membership.js";
import { Ownership } from "./ownership.js";
import { clusterStatus, ROLE_NAMES, type ClusterStatus, type HeartbeatStats } from "./cluster-status.js";
import { isActiveRole } from "../machines/member-role.machine.js";
import type { Welcome } from "../protocol/replies.js";
import { LmdbRegistryStore, MemoryRegistryStore, type RegistryStore } from "./registry-store.js";
import { openDataDir, type DataDir } from "../store/data-dir.js";
import { StorageFailedError } from "../store/storage-errors.js";
import { join } from "node:path";

export interface CoordinatorOptions {
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
/** Extra wait past a dead primary's lease before promoting another. */
const LEASE_MARGIN_MS = 100;

export type { ClusterStatus } from "./cluster-status.js";

export class CoordinatorNode {
  private readonly cfg: ClusterConfig;
  private readonly server: NodeServer;
  private readonly dicts: DictService;
  private readonly membership: Membership;
  private readonly leases: EphemeralLeases;
  private readonly log: (line: string) => void;
  /** The newest durable table: the one served and pushed. */
  private table: PartitionTable;
  /** The epoch of the newest table made (it may still be on its way to disk). */
  private lastEpoch: number;
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

  constructor(opts: CoordinatorOptions) {
    this.cfg = opts.config;
    this.log = opts.log ?? ((l) => console.log(l));
    const clock = opts.clock ?? systemClock;
    this.dataDir = opts.lockedDataDir;
    this.onFatal = opts.onFatal;
    this.store = this.openStore();
    const t0 = performance.now();
    const saved = this.store.load();
    // Members as last stored (shards join and leave); the config seeds a first start.
    const savedUrls = new Map((saved.table?.shards ?? []).map((s) => [s.id, s.url]));
    const members: StoredMember[] =
      saved.table?.members?.filter((m) => m.role !== "leaving") ??
      this.cfg.shards.map((s) => ({ id: s.id, url: savedUrls.get(s.id) ?? "", role: "serving" as const }));
    this.expected = members.length;
    const known = new Set(members.map((m) => m.id));
    const savedOwners = saved.table?.owners;
    // Ownership as last published (failovers and moves change it), if it fits.
    const usable =
      savedOwners !== undefined &&
      savedOwners.length === this.cfg.partitions &&
      savedOwners.every((o) => o.length > 0 && o.every((id) => known.has(id))) &&
      saved.table?.pepochs?.length === this.cfg.partitions;
    this.membership = new Membership(members, {
      suspectAfterMs: opts.suspectAfterMs ?? this.cfg.suspectAfterMs,
      deadAfterMs: opts.deadAfterMs ?? this.cfg.deadAfterMs,
      onStateChange: (id, state) => {
        this.log(`coordinator: shard ${id} is ${state}`);
        if (state === "dead") void this.failover(id);
        else if (state === "alive") this.rebalanceSoon();
      },
      onRoleChange: (id, role) => this.log(`coordinator: shard ${id} is ${ROLE_NAMES[role]}`),
    });
    this.own = new Ownership(
      this.cfg.partitions,
      this.cfg.replicationFactor,
      this.membership.activeIds(),
      usable && saved.table?.pepochs ? { owners: savedOwners, pepochs: saved.table.pepochs, handoffs: saved.table.handoffs } : undefined,
    );
    this.table = this.makeTable(saved.table?.epoch ?? 1);
    this.lastEpoch = this.table.epoch;
    this.log(
      `coordinator: loaded ${saved.dicts.length} dicts and table epoch ${this.table.epoch} in ${(performance.now() - t0).toFixed(0)} ms${this.dataDir ? ` from ${this.dataDir.path}` : " (memory engine)"}`,
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
    this.server = new NodeServer({
      host: opts.host ?? this.cfg.coordinator.host,
      port: opts.port ?? this.cfg.coordinator.port,
      maxPayload: frameLimit(this.cfg.maxEntryBytes),
      auth: { clientTokens: this.cfg.clientTokens, clusterSecret: opts.clusterSecret },
      label: "coordinator",
      limits: this.cfg,
      log: this.log,
      onRequest: (frame, peer) => this.handle(frame, peer),
      onDisconnect: (peer) => this.disconnected(peer),
    });
  }

  private makeTable(epoch: number): PartitionTable {
    return new PartitionTable({
      epoch,
      partitions: this.cfg.partitions,
      owners: this.own.owners.map((o) => [...o]),
      pepochs: [...this.own.pepochs],
      learners: this.own.learners.map((l) => [...l]),
      handoffs: this.own.handoffs.map((h) => (h ? { ...h } : null)),
      // A shard that has left is not in the table: that is how it learns it may exit.
      shards: this.membership.toStored().filter((m) => m.role !== "leaving").map((m) => ({ id: m.id, url: m.url })),
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
    this.leases.start();
    // Moves are started a few at a time; this picks up the next ones if no event does.
    this.rebalanceTimer = setInterval(() => this.rebalanceSoon(), REBALANCE_EVERY_MS);
    this.rebalanceTimer.unref();
    this.log(`coordinator: listening on ${url} (pid ${process.pid}; ${this.expected} shards expected, ${this.cfg.partitions} partitions)`);
    return url;
  }

  async stop(): Promise<void> {
    if (this.rebalanceTimer) clearInterval(this.rebalanceTimer);
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

  private clientId(peer: Peer): string {
    const id = peer.session.clientId;
    if (typeof id !== "string") throw new InvalidError("say hello first");
    return id;
  }

  private createdBy(peer: Peer): string | null {
    return peer.session.agent ?? null;
  }

  /**
   * A client's request. Not an async function: what needs no I/O (hello, tables, status) is
   * answered at once, so a connection's reply bytes count before its next request starts
   * (the back-pressure of net/request-gate.ts).
   */
  private handleClient(frame: RequestFrame, peer: Peer): unknown {
    if (frame.type !== "hello") this.leases.renew(this.clientId(peer));
    switch (frame.type) {
      case "hello": {
        if (frame.v !== PROTOCOL_VERSION) throw new InvalidError(`protocol version ${frame.v} is not supported (this cluster speaks ${PROTOCOL_VERSION})`);
        peer.session.clientId = frame.clientId;
        if (frame.agent !== undefined) peer.session.agent = frame.agent;
        this.leases.renew(frame.clientId);
        const welcome: Welcome = {
          v: PROTOCOL_VERSION,
          clientId: frame.clientId,
          table: this.table.toData(),
          maxEntryBytes: this.cfg.maxEntryBytes,
          heartbeatMs: Math.max(50, Math.floor(this.cfg.ephemeralGraceMs / 4)),
        };
        return welcome;
      }
      case "heartbeat":
        return undefined;
      case "table.get":
        return this.table.toData();
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
        return this.dicts.handle(frame, { clientId: this.clientId(peer), agent: this.createdBy(peer) });
      default:
        throw new InvalidError(`${frame.type} is not served by the coordinator`);
    }
  }

  private shardOf(peer: Peer): string {
    const from = peer.session.shardId;
    if (typeof from !== "string") throw new InvalidError("register first");
    return from;
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
        }
        // The lease this grants holds only for a shard that knows this epoch.
        return { epoch: this.table.epoch };
      }
      case "dict.get":
        return this.dicts.get(frame.id);
      case "table.get":
        return this.table.toData();
      case "status":
        return this.status();
      case "shard.replicaFailed": {
        const from = this.shardOf(peer);
        if (!this.own.replicaFailed(frame.part, frame.pepoch, from, frame.replica)) return this.table.toData();
        this.log(`coordinator: ${frame.replica} left the replicas of partition ${frame.part} (reported by ${from})`);
        return this.changed().then(() => this.table.toData());
      }
      case "shard.caughtUp": {
        const from = this.shardOf(peer);
        if (!this.own.caughtUp(frame.part, frame.pepoch, from, frame.replica)) return this.table.toData();
        this.log(`coordinator: ${frame.replica} has a copy of partition ${frame.part} (caught up by ${from})`);
        return this.changed().then(() => this.table.toData());
      }
      case "shard.handedOff": {
        const from = this.shardOf(peer);
        if (this.membership.stateOf(frame.to) !== "alive" || !this.own.handedOff(frame.part, frame.pepoch, from, frame.to, frame.id)) return this.table.toData();
        return this.changed().then(() => {
          this.log(`coordinator: partition ${frame.part} moved from ${from} to ${frame.to} (epoch ${this.table.epoch})`);
          return this.table.toData();
        });
      }
      case "shard.leave":
        return this.leave(this.shardOf(peer));
      case "cluster.removeShard":
        return this.leave(frame.shardId);
      default:
        throw new InvalidError(`${frame.type} is not served to nodes by the coordinator`);
    }
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
    if (frame.lostData) await this.forgetCopies(frame.shardId);
    peer.session.shardId = frame.shardId;
    const urlChanged = this.table.urlOf(frame.shardId) !== frame.url;
    this.membership.registered(frame.shardId, frame.url, peer);
    if (urlChanged || joining) {
      await this.changed();
      this.log(`coordinator: shard ${frame.shardId} ${joining ? "joins the cluster" : "registered"} at ${frame.url} (epoch ${this.table.epoch})`);
    } else {
      this.log(`coordinator: shard ${frame.shardId} registered again at ${frame.url}`);
    }
    if (!this.announcedReady && this.membership.allRegistered()) {
      this.announcedReady = true;
      this.log(`coordinator: ready: all ${this.expected} shards joined (epoch ${this.table.epoch})`);
    }
    return {
      table: this.table.toData(),
      dicts: this.dicts.registry.ids(),
      // A shard started without this cluster's config says so when its own settings differ.
      settings: { entryTtlMs: this.cfg.entryTtlMs, maxEntryBytes: this.cfg.maxEntryBytes },
    };
  }

  /**
   * A shard found its data corrupt and holds nothing now: forget its copies as if it had
   * died (its partitions fail over to their replicas), so that it is rebuilt as a learner.
   * Refused, changing nothing, if it held the only copy of a partition: that data exists
   * nowhere else, and the operator must decide (repair, or give it up).
   */
  private async forgetCopies(id: string): Promise<void> {
    // Whatever the old process still believed, its lease must have run out first.
    const member = this.membership.get(id);
    const wait = (member?.lastHeard ?? 0) + this.cfg.suspectAfterMs + LEASE_MARGIN_MS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Checked after the wait, and acted on in the same turn: no failover comes in between.
    const only: number[] = [];
    this.own.owners.forEach((o, p) => {
      if (o.length === 1 && o[0] === id) only.push(p);
    });
    if (only.length > 0) {
      throw new InvalidError(
        `shard ${id} lost its data and held the only copy of partitions ${only.join(", ")}: they cannot be rebuilt from a replica (repair its folder with shardict repair, or restore it)`,
      );
    }
    const { promoted, dropped } = this.own.failover(id);
    await this.changed();
    this.log(`coordinator: shard ${id} lost its data: ${promoted} partitions have a new primary, ${dropped} lost a replica; it is rebuilt from the others (epoch ${this.table.epoch})`);
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
      await this.changed();
    }
    return { state: ROLE_NAMES[this.membership.roleOf(id) ?? "leaving"] };
  }

  private disconnected(peer: Peer): void {
    this.membership.disconnected(peer);
    const id = peer.session.shardId;
    if (typeof id === "string" && this.membership.roleOf(id) === "leaving" && !this.membership.get(id)?.peer) {
      this.membership.remove(id);
      this.stats.delete(id);
      this.log(`coordinator: shard ${id} has left`);
      void this.changed().catch((err: unknown) => this.log(`coordinator: publishing failed: ${(err as Error).message}`));
    }
  }

  /**
   * Membership or ownership changed: take the next rebalancing steps, settle roles, and
   * publish the result as a new table (durable first, so a restarted coordinator never
   * reuses an epoch or forgets a failover or a hand-off, then pushed to the shards).
   */
  private changed(): Promise<void> {
    // Changes made in the same turn (several hand-offs reported together) share one table.
    if (!this.pendingChange) {
      this.pendingChange = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.pendingChange = undefined;
        return this.applyChanges();
      });
    }
    return this.pendingChange;
  }

  private pendingChange: Promise<void> | undefined;

  private async applyChanges(): Promise<void> {
    this.step();
    await this.publish();
  }

  /**
   * The next rebalancing step and the role changes it allows (joined, drained); returns
   * whether anything changed.
   */
  private step(): boolean {
    this.own.setActive(this.membership.activeIds());
    const alive = (id: string) => this.membership.stateOf(id) === "alive";
    let changed = this.own.rebalance(alive, (id) => isActiveRole(this.membership.roleOf(id) ?? "leaving"), this.lastEpoch + 1);
    for (const m of this.membership.all()) {
      const role = this.membership.roleOf(m.id);
      if (role === "joining" && this.own.hasItsShare(m.id)) {
        this.membership.sendRole(m.id, { type: "PLACED" });
        changed = true;
      }
      if (role === "handingOff" && !this.own.holdsAny(m.id)) {
        this.membership.sendRole(m.id, { type: "DRAINED" });
        if (!m.peer) this.membership.remove(m.id); // gone already (a dead shard removed by an operator)
        changed = true;
      }
    }
    return changed;
  }

  /** Take the next step if there is one, and publish it. */
  private rebalanceSoon(): void {
    if (this.step()) this.changed().catch((err: unknown) => this.log(`coordinator: rebalancing failed: ${(err as Error).message}`));
  }

  /**
   * The next table from the current ownership. It is served (to clients, and to shards that
   * ask) and pushed only once it is durable, and tables become durable in epoch order: a
   * table anyone has seen is never forgotten by a restart, so an epoch never names two tables.
   */
  private publish(): Promise<PartitionTable> {
    const table = this.makeTable(++this.lastEpoch);
    const done = this.publishing.then(async () => {
      // After a failed save nothing is published: the restarted coordinator starts from the
      // newest table on disk, and no table anyone saw was lost.
      if (this.failedWith) throw this.failedWith;
      const data = table.toData();
      const stored = { epoch: data.epoch, shards: data.shards, owners: data.owners, pepochs: data.pepochs, handoffs: data.handoffs ?? [], members: this.membership.toStored() };
      await this.persisted(this.store.saveTable(stored));
      this.table = table;
      void this.broadcast({ type: "shard.table", table: data });
      return table;
    });
    this.publishing = done.then(
      () => undefined,
      () => undefined,
    );
    return done;
  }

  private publishing: Promise<void> = Promise.resolve();

  /**
   * A shard is dead. Its lease (granted by its last answered heartbeat) must have run out
   * first, so it has stopped serving reads on its own before anyone else may lead its
   * partitions.
   */
  private async failover(dead: string): Promise<void> {
    const member = this.membership.get(dead);
    const wait = (member?.lastHeard ?? 0) + this.cfg.suspectAfterMs + LEASE_MARGIN_MS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (this.membership.stateOf(dead) !== "dead") return;
    const { promoted, dropped } = this.own.failover(dead);
    await this.changed();
    if (promoted + dropped > 0) {
      this.log(`coordinator: failover of ${dead}: ${promoted} partitions have a new primary, ${dropped} lost a replica (epoch ${this.table.epoch})`);
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
      table: this.table,
      replicationFactor: this.cfg.replicationFactor,
      dicts: this.dicts.registry.size,
      membership: this.membership,
      progress: this.own.progress(),
      stats: this.stats,
    });
  }
}
