/**
 * The coordinator: dict registry, shard membership and the partition table. It answers
 * clients' registry requests and tells shards about the table and about dicts; it is not on
 * the data path.
 */
import type { ClusterConfig } from "../config/cluster-config.js";
import { InvalidError, NotFoundError } from "../errors.js";
import { PartitionTable } from "../hashing/partition-table.js";
import { placePartitions } from "../hashing/ring.js";
import { NodeServer } from "../net/node-server.js";
import { frameLimit } from "../net/limits.js";
import type { Peer } from "../net/peer.js";
import { PROTOCOL_VERSION, type FrameOf, type Outgoing, type RequestFrame } from "../protocol/frames.js";
import { systemClock, type Clock } from "../store/clock.js";
import { DictRegistry, publicInfo, type DictRecord } from "./dict-registry.js";
import { EphemeralLeases } from "./ephemeral-leases.js";
import { Membership } from "./membership.js";
import { LmdbRegistryStore, MemoryRegistryStore, type RegistryStore } from "./registry-store.js";
import { openDataDir, type DataDir } from "../store/data-dir.js";
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
}

/** The reply to a client's `hello`. */
export interface Welcome {
  v: number;
  clientId: string;
  table: ReturnType<PartitionTable["toData"]>;
  maxEntryBytes: number;
  heartbeatMs: number;
}

const BROADCAST_TIMEOUT_MS = 5_000;
/** Extra wait past a dead primary's lease before promoting another. */
const LEASE_MARGIN_MS = 100;

export class CoordinatorNode {
  private readonly cfg: ClusterConfig;
  private readonly server: NodeServer;
  private readonly registry = new DictRegistry();
  private readonly membership: Membership;
  private readonly leases: EphemeralLeases;
  private readonly log: (line: string) => void;
  private table: PartitionTable;
  /** Per partition: primary, then in-sync replicas. Changed by failover. */
  private owners: string[][];
  private pepochs: number[];
  /** Per partition: shards being caught up to become replicas. */
  private learners: string[][];
  /** Per partition: every shard in placement order, to pick new replicas from. */
  private readonly preference: string[][];
  private announcedReady = false;
  private readonly store: RegistryStore;
  private dataDir: DataDir | undefined;
  /** Records created but not yet durable: whoever finds one waits for it. */
  private readonly unsaved = new Map<string, Promise<void>>();

  constructor(opts: CoordinatorOptions) {
    this.cfg = opts.config;
    this.log = opts.log ?? ((l) => console.log(l));
    const clock = opts.clock ?? systemClock;
    const shardIds = this.cfg.shards.map((s) => s.id);
    this.store = this.openStore();
    const t0 = performance.now();
    const saved = this.store.load();
    this.registry.restore(saved.dicts);
    const savedUrls = new Map((saved.table?.shards ?? []).map((s) => [s.id, s.url]));
    // Ownership as last published (failovers change it), if it fits this config.
    const known = new Set(shardIds);
    const savedOwners = saved.table?.owners;
    const usable =
      savedOwners !== undefined &&
      savedOwners.length === this.cfg.partitions &&
      savedOwners.every((o) => o.length > 0 && o.every((id) => known.has(id))) &&
      saved.table?.pepochs?.length === this.cfg.partitions;
    this.owners = usable ? savedOwners.map((o) => [...o]) : placePartitions(shardIds, this.cfg.partitions, this.cfg.replicationFactor);
    this.pepochs = usable && saved.table?.pepochs ? [...saved.table.pepochs] : Array.from({ length: this.cfg.partitions }, () => 1);
    this.learners = Array.from({ length: this.cfg.partitions }, () => []);
    this.preference = placePartitions(shardIds, this.cfg.partitions, shardIds.length);
    this.table = new PartitionTable({
      epoch: saved.table?.epoch ?? 1,
      partitions: this.cfg.partitions,
      owners: this.owners,
      pepochs: this.pepochs,
      learners: this.learners,
      shards: shardIds.map((id) => ({ id, url: savedUrls.get(id) ?? "" })),
    });
    this.log(
      `coordinator: loaded ${saved.dicts.length} dicts and table epoch ${this.table.epoch} in ${(performance.now() - t0).toFixed(0)} ms${this.dataDir ? ` from ${this.dataDir.path}` : " (memory engine)"}`,
    );
    this.membership = new Membership(shardIds, {
      suspectAfterMs: opts.suspectAfterMs ?? this.cfg.suspectAfterMs,
      deadAfterMs: opts.deadAfterMs ?? this.cfg.deadAfterMs,
      onStateChange: (id, state) => {
        this.log(`coordinator: shard ${id} is ${state}`);
        if (state === "dead") void this.failover(id);
        else if (state === "alive") void this.assignLearners();
      },
    });
    this.leases = new EphemeralLeases(this.cfg.ephemeralGraceMs, clock, (owner) => void this.expireOwner(owner));
    // Owners get a full grace period from this start to heartbeat again.
    for (const rec of this.registry.all()) if (rec.owner !== null) this.leases.renew(rec.owner);
    this.server = new NodeServer({
      host: opts.host ?? this.cfg.coordinator.host,
      port: opts.port ?? this.cfg.coordinator.port,
      maxPayload: frameLimit(this.cfg.maxEntryBytes),
      auth: { clientTokens: this.cfg.clientTokens, clusterSecret: opts.clusterSecret },
      label: "coordinator",
      onRequest: (frame, peer) => this.handle(frame, peer),
      onDisconnect: (peer) => this.membership.disconnected(peer),
    });
  }

  private openStore(): RegistryStore {
    if (this.cfg.storageEngine === "memory") return new MemoryRegistryStore();
    this.dataDir = openDataDir(this.cfg.dataDir, "coordinator");
    try {
      return new LmdbRegistryStore(join(this.dataDir.path, "lmdb"));
    } catch (err) {
      this.dataDir.release();
      throw err;
    }
  }

  /** Make a new record durable, then tell the shards; concurrent finders wait for it. */
  private async created(rec: DictRecord): Promise<void> {
    const saving = this.store.saveDict(rec).then(
      () => this.announceAdded(rec),
      (err: unknown) => {
        // Never durable, so it never existed: whoever was waiting for it fails too.
        this.registry.remove(rec);
        throw err;
      },
    );
    this.unsaved.set(rec.id, saving);
    try {
      await saving;
    } finally {
      this.unsaved.delete(rec.id);
    }
  }

  /** A found record may still be on its way to disk. */
  private async found(rec: DictRecord): Promise<void> {
    await this.unsaved.get(rec.id);
  }

  async start(): Promise<string> {
    const url = await this.server.start();
    this.leases.start();
    this.log(`coordinator: listening on ${url} (pid ${process.pid}; ${this.cfg.shards.length} shards expected, ${this.cfg.partitions} partitions)`);
    return url;
  }

  async stop(): Promise<void> {
    this.leases.stop();
    this.membership.stop();
    await this.server.stop();
    await this.store.close();
    this.dataDir?.release();
  }

  private handle(frame: RequestFrame, peer: Peer): unknown {
    const role = peer.meta.role;
    if (role === "node") return this.handleNode(frame, peer);
    return this.handleClient(frame, peer);
  }

  private clientId(peer: Peer): string {
    const id = peer.meta.clientId;
    if (typeof id !== "string") throw new InvalidError("say hello first");
    return id;
  }

  private createdBy(peer: Peer): string | null {
    return typeof peer.meta.agent === "string" ? peer.meta.agent : null;
  }

  private async handleClient(frame: RequestFrame, peer: Peer): Promise<unknown> {
    if (frame.type !== "hello") this.leases.renew(this.clientId(peer));
    switch (frame.type) {
      case "hello": {
        if (frame.v !== PROTOCOL_VERSION) throw new InvalidError(`protocol version ${frame.v} is not supported (this cluster speaks ${PROTOCOL_VERSION})`);
        peer.meta.clientId = frame.clientId;
        if (frame.agent !== undefined) peer.meta.agent = frame.agent;
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
      case "dict.lookup": {
        const { rec, created } = this.registry.lookup(frame.name, frame.env, frame.createIfMissing, this.createdBy(peer));
        await (created ? this.created(rec) : this.found(rec));
        return publicInfo(rec);
      }
      case "dict.get": {
        const rec = this.registry.getById(frame.id);
        if (!rec) throw new NotFoundError(`Dict with id ${frame.id} not found`);
        await this.found(rec);
        return publicInfo(rec);
      }
      case "dict.create": {
        const { rec, created } = this.registry.create(frame.name, frame.env, frame.allowExisting, this.createdBy(peer));
        await (created ? this.created(rec) : this.found(rec));
        return publicInfo(rec);
      }
      case "dict.list":
        return this.registry.list(frame.env, frame.max, frame.createdBefore).map(publicInfo);
      case "dict.delete": {
        const rec = this.registry.deleteByName(frame.name, frame.env);
        if (!rec) {
          if (frame.allowMissing) return false;
          throw new NotFoundError(`Dict "${frame.name}" not found in environment "${frame.env}"`);
        }
        await this.removed(rec);
        return true;
      }
      case "dict.deleteId": {
        const rec = this.registry.getById(frame.id);
        if (!rec) return false;
        this.registry.remove(rec);
        await this.removed(rec);
        return true;
      }
      case "ephemeral.create": {
        const rec = this.registry.createEphemeral(frame.env, this.clientId(peer), this.createdBy(peer));
        await this.created(rec);
        return publicInfo(rec);
      }
      default:
        throw new InvalidError(`${frame.type} is not served by the coordinator`);
    }
  }

  private handleNode(frame: RequestFrame, peer: Peer): unknown {
    switch (frame.type) {
      case "shard.register":
        return this.register(frame, peer);
      case "heartbeat": {
        const id = peer.meta.shardId;
        if (typeof id === "string") this.membership.heartbeat(id);
        // The lease this grants holds only for a shard that knows this epoch.
        return { epoch: this.table.epoch };
      }
      case "dict.get": {
        const rec = this.registry.getById(frame.id);
        if (!rec) throw new NotFoundError(`Dict with id ${frame.id} not found`);
        return this.found(rec).then(() => publicInfo(rec));
      }
      case "table.get":
        return this.table.toData();
      case "shard.replicaFailed": {
        const from = peer.meta.shardId;
        if (typeof from !== "string") throw new InvalidError("register first");
        return this.replicaFailed(frame, from).then(() => this.table.toData());
      }
      case "shard.caughtUp": {
        const from = peer.meta.shardId;
        if (typeof from !== "string") throw new InvalidError("register first");
        return this.caughtUp(frame, from).then(() => this.table.toData());
      }
      default:
        throw new InvalidError(`${frame.type} is not served to nodes by the coordinator`);
    }
  }

  private async register(frame: FrameOf<"shard.register">, peer: Peer): Promise<unknown> {
    if (frame.v !== PROTOCOL_VERSION) throw new InvalidError(`protocol version ${frame.v} is not supported`);
    const member = this.membership.get(frame.shardId);
    if (!member) throw new InvalidError(`shard "${frame.shardId}" is not in the cluster config`);
    if (member.peer && member.peer !== peer && member.peer.isOpen) {
      // A restarted shard whose old socket has not timed out yet: the new one wins.
      member.peer.close(1008, "replaced by a newer registration");
    }
    peer.meta.shardId = frame.shardId;
    const urlChanged = this.table.urlOf(frame.shardId) !== frame.url;
    this.membership.registered(frame.shardId, frame.url, peer);
    if (urlChanged) {
      const table = await this.publish(this.table.shardAddresses().map((a) => (a.id === frame.shardId ? { id: a.id, url: frame.url } : a)), peer);
      this.log(`coordinator: shard ${frame.shardId} joined at ${frame.url} (epoch ${table.epoch})`);
    } else {
      this.log(`coordinator: shard ${frame.shardId} registered again at ${frame.url}`);
    }
    if (!this.announcedReady && this.membership.allRegistered()) {
      this.announcedReady = true;
      this.log(`coordinator: ready: all ${this.cfg.shards.length} shards joined (epoch ${this.table.epoch})`);
    }
    return { table: this.table.toData(), dicts: this.registry.ids() };
  }

  /**
   * Make the current owners (and the given addresses) the next table: durable first, so a
   * restarted coordinator never reuses an epoch or forgets a failover, then pushed to shards.
   */
  private async publish(shards = this.table.shardAddresses(), except?: Peer): Promise<PartitionTable> {
    const table = new PartitionTable({
      epoch: this.table.epoch + 1,
      partitions: this.cfg.partitions,
      owners: this.owners.map((o) => [...o]),
      pepochs: [...this.pepochs],
      learners: this.learners.map((l) => [...l]),
      shards,
    });
    this.table = table;
    await this.store.saveTable({ epoch: table.epoch, shards: table.shardAddresses(), owners: table.toData().owners, pepochs: [...table.pepochs] });
    void this.broadcast({ type: "shard.table", table: table.toData() }, except);
    return table;
  }

  /**
   * A shard is dead: each partition it led is taken over by its first in-sync replica under
   * a new partition epoch (replicas refuse the old primary from then on); it leaves the
   * replica set of the others. Partitions without a replica wait for it to come back.
   */
  private async failover(dead: string): Promise<void> {
    // Its lease (granted by its last answered heartbeat) must have run out first, so it has
    // stopped serving reads on its own before anyone else may lead its partitions.
    const member = this.membership.get(dead);
    const wait = (member?.lastHeard ?? 0) + this.cfg.suspectAfterMs + LEASE_MARGIN_MS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (this.membership.stateOf(dead) !== "dead") return;
    let promoted = 0;
    let dropped = 0;
    for (let p = 0; p < this.owners.length; p++) {
      const o = this.owners[p] as string[];
      const i = o.indexOf(dead);
      if (i < 0 || o.length === 1) continue;
      if (i === 0) {
        this.pepochs[p] = (this.pepochs[p] ?? 0) + 1;
        promoted++;
      } else dropped++;
      this.owners[p] = o.filter((id) => id !== dead);
    }
    for (let p = 0; p < this.learners.length; p++) this.learners[p] = (this.learners[p] ?? []).filter((id) => id !== dead);
    this.pickLearners();
    if (promoted + dropped === 0) return;
    const table = await this.publish();
    this.log(`coordinator: failover of ${dead}: ${promoted} partitions have a new primary, ${dropped} lost a replica (epoch ${table.epoch})`);
  }

  /** A primary cannot reach a replica: it leaves that partition's in-sync set. */
  private async replicaFailed(frame: FrameOf<"shard.replicaFailed">, from: string): Promise<void> {
    const o = this.owners[frame.part];
    if (!o || o[0] !== from || (this.pepochs[frame.part] ?? 0) !== frame.pepoch || !o.includes(frame.replica) || frame.replica === from) return;
    this.owners[frame.part] = o.filter((id) => id !== frame.replica);
    this.pickLearners();
    const table = await this.publish();
    this.log(`coordinator: ${frame.replica} left the replicas of partition ${frame.part} (reported by ${from}; epoch ${table.epoch})`);
  }

  /**
   * Give every partition short of replicas a learner (an alive shard, in placement order)
   * for its primary to catch up; returns whether anything changed.
   */
  private pickLearners(): boolean {
    let changed = false;
    for (let p = 0; p < this.owners.length; p++) {
      const o = this.owners[p] as string[];
      const l = (this.learners[p] ?? []).filter((id) => this.membership.stateOf(id) === "alive");
      if (l.length !== (this.learners[p] ?? []).length) changed = true;
      for (const id of this.preference[p] ?? []) {
        if (o.length + l.length >= this.cfg.replicationFactor) break;
        if (o.includes(id) || l.includes(id) || this.membership.stateOf(id) !== "alive") continue;
        l.push(id);
        changed = true;
      }
      this.learners[p] = l;
    }
    return changed;
  }

  private async assignLearners(): Promise<void> {
    if (this.pickLearners()) {
      const table = await this.publish();
      this.log(`coordinator: replicas being rebuilt (epoch ${table.epoch})`);
    }
  }

  /** A primary has caught a learner up: it joins the in-sync replicas. */
  private async caughtUp(frame: FrameOf<"shard.caughtUp">, from: string): Promise<void> {
    const o = this.owners[frame.part];
    const l = this.learners[frame.part];
    if (!o || !l || o[0] !== from || (this.pepochs[frame.part] ?? 0) !== frame.pepoch || !l.includes(frame.replica)) return;
    o.push(frame.replica);
    this.learners[frame.part] = l.filter((id) => id !== frame.replica);
    const table = await this.publish();
    this.log(`coordinator: ${frame.replica} is an in-sync replica of partition ${frame.part} again (epoch ${table.epoch})`);
  }

  private async broadcast(frame: Outgoing, except?: Peer): Promise<void> {
    const peers = this.membership.connectedPeers().filter((p) => p !== except);
    const results = await Promise.allSettled(peers.map((p) => p.request(frame, { timeoutMs: BROADCAST_TIMEOUT_MS })));
    for (const r of results) {
      if (r.status === "rejected") this.log(`coordinator: a shard did not take ${frame.type}: ${(r.reason as Error).message}`);
    }
  }

  private announceAdded(rec: DictRecord): Promise<void> {
    return this.broadcast({ type: "shard.dictAdded", id: rec.id });
  }

  /** A record already taken out of the registry: make that durable, then tell the shards. */
  private async removed(rec: DictRecord): Promise<void> {
    if (rec.owner !== null && this.registry.ownedBy(rec.owner).length === 0) this.leases.forget(rec.owner);
    await this.store.deleteDict(rec.id);
    await this.broadcast({ type: "shard.dictRemoved", id: rec.id });
  }

  private async expireOwner(owner: string): Promise<void> {
    for (const rec of this.registry.ownedBy(owner)) {
      this.registry.remove(rec);
      this.log(`coordinator: ephemeral dict ${rec.id} expired (its client stopped heartbeating)`);
      await this.removed(rec).catch((err: unknown) => this.log(`coordinator: removing ${rec.id} failed: ${(err as Error).message}`));
    }
  }

  private status(): unknown {
    const byPrimary = this.table.partitionsByPrimary();
    return {
      epoch: this.table.epoch,
      partitions: this.table.partitions,
      replicationFactor: this.cfg.replicationFactor,
      dicts: this.registry.size,
      shards: this.membership.all().map((m) => ({
        id: m.id,
        url: m.url,
        state: this.membership.stateOf(m.id),
        partitions: byPrimary.get(m.id)?.length ?? 0,
      })),
    };
  }
}
