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
import { PROTOCOL_VERSION, type RequestFrame } from "../protocol/frames.js";
import type { Peer } from "../net/peer.js";
import { DedupTable, DEDUP_WINDOW_MS } from "./dedup-table.js";
import { NodeLinks } from "./node-links.js";
import { ReplicaApplier } from "./replica-applier.js";
import { Replicator } from "./replicator.js";
import { afterApply, RetryableError, WireCode } from "../errors.js";
import type { FrameOf, MoveProgressData } from "../protocol/frames.js";
import type { Mutation, RecoveredState, ReplMutation } from "../store/storage-engine.js";
import { backoff } from "../util/backoff.js";
import { systemClock, type Clock } from "../util/clock.js";
import { MemoryEngine, type StorageEngine } from "../store/storage-engine.js";
import { LmdbEngine } from "../store/lmdb-engine.js";
import { LogEngine } from "../store/log-engine.js";
import { openDataDir, type DataDir } from "../store/data-dir.js";
import { CorruptStorageError } from "../store/storage-errors.js";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { CoordinatorLink, type RegisterResult } from "./coordinator-link.js";
import { DataHandler, isDataFrame } from "./data-handler.js";
import { DictSet } from "./dict-set.js";
import { HandoffFollower } from "./handoff-follower.js";
import { PartitionHost } from "./partition-host.js";

export interface ShardNodeOptions {
  config: ClusterConfig;
  id: string;
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

/** A snapshot chunk: at most this many entries or bytes of values, read in one turn. */
const SNAPSHOT_CHUNK_ENTRIES = 1000;
const SNAPSHOT_CHUNK_BYTES = 1 << 20;
/** Answers kept for retries dropped per expiry step (ten steps a second): ~1 ms of work. */
const DEDUP_EXPIRY_BUDGET = 5_000;

/** An upper bound of the log bytes a replicated mutation takes. */
function replBytes(m: ReplMutation): number {
  switch (m.op) {
    case "set":
      return m.key.byteLength + m.value.byteLength + m.dict.length + 64;
    case "delete":
      return m.key.byteLength + m.dict.length + 64;
    case "dedup": {
      // A pop's answer holds the value it removed.
      const r = (m.answer as { r?: unknown } | undefined)?.r;
      return m.id.length + 128 + (r instanceof Uint8Array ? r.byteLength : 0);
    }
    default:
      return 128;
  }
}

export class ShardNode {
  readonly id: string;
  private readonly cfg: ClusterConfig;
  private readonly log: (line: string) => void;
  private readonly clock: Clock;
  private readonly lifecycle = createActor(nodeLifecycleMachine);
  private readonly server: NodeServer;
  private readonly host: PartitionHost;
  private readonly dicts: DictSet;
  private readonly dedup = new DedupTable();
  private readonly links: NodeLinks;
  /** performance.now() until which this node may lead without asking (its coordinator lease). */
  private leaseUntil = 0;
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
  private readonly dataRoot: string;
  /** Partitions this node stopped serving to hand them off, until the flip (or a cancel). */
  private readonly handoffs: HandoffFollower;
  private removedResolve: (() => void) | undefined;
  /** Resolves when the coordinator has forgotten this node (it left, or was removed). */
  readonly removed = new Promise<void>((resolve) => (this.removedResolve = resolve));
  private registered = false;
  private readonly onFatal: ((err: Error) => void) | undefined;

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
    this.dataRoot = opts.dataDir ?? this.cfg.dataDir;
    this.log = opts.log ?? ((l) => console.log(l));
    this.clock = opts.clock ?? systemClock;
    this.clusterSecret = opts.clusterSecret;
    this.advertiseUrl = opts.advertiseUrl;
    this.coordinatorUrl = opts.coordinatorUrl ?? `ws://${this.cfg.coordinator.host}:${this.cfg.coordinator.port}`;
    this.dataDir = opts.lockedDataDir;
    this.onFatal = opts.onFatal;
    this.engine = opts.engine ?? this.openEngine();
    this.host = new PartitionHost(this.cfg.entryTtlMs, this.engine, this.clock, 250, this.log, this.engine.durable || this.cfg.replicationFactor > 1);
    this.links = new NodeLinks({ selfId: this.id, clusterSecret: opts.clusterSecret, maxPayload: frameLimit(this.cfg.maxEntryBytes), table: () => this.table });
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
      snapshot: (part) => this.snapshotOf(part),
    });
    this.replica = new ReplicaApplier({
      selfId: this.id,
      table: () => this.table,
      refreshTable: () => this.refreshTable(),
      apply: (frame) => this.applyReplication(frame),
    });
    this.dicts = new DictSet(async (id) => {
      if (!this.link) throw new Error("not linked to the coordinator");
      const exists = await this.link.dictExists(id);
      if (exists) this.background(this.engine.commit([{ op: "addDict", dict: id }]), "recording a dict");
      return exists;
    });
    if (this.engine instanceof LogEngine) this.engine.setSnapshotSource(() => this.storedState());
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
      ensureLeader: (parts) => this.ensureLeader(parts),
      handingOff: (part) => this.handoffs.target(part),
      handoffOver: (part, ms) => this.handoffs.over(part, ms),
      persist: (store) => {
        const muts = store.takePending();
        if (muts.length === 0) return undefined;
        const local = this.engine.commit(muts);
        // Applied here already: if the replicas cannot all confirm it (this node stopped
        // leading meanwhile), the client must treat it as "may have happened".
        const remote = this.replicator.replicate(store.part, muts)?.catch((err: unknown) => {
          throw afterApply(err);
        });
        if (!remote) return local;
        return local ? Promise.all([local, remote]).then(() => undefined) : remote;
      },
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

  private lastState = "";
  private servingNow = false;

  /** The configured engine, in `<dataDir>/<id>/`, locked against a second node. */
  private openEngine(): StorageEngine {
    if (this.cfg.storageEngine === "memory") return new MemoryEngine();
    const dir = this.dataDir;
    if (!dir) throw new Error("a durable shard needs its locked data folder: create it with ShardNode.open()");
    if (this.cfg.storageEngine === "log") {
      // A folder written by LMDB (the default before the log) stays on LMDB: its data is there.
      if (existsSync(join(dir.path, "lmdb")) && !existsSync(join(dir.path, "log"))) {
        this.log(`${this.id}: ${dir.path} holds LMDB data from an earlier version: keeping storageEngine "lmdb" for it`);
        return this.lmdbEngine(dir);
      }
      return new LogEngine(join(dir.path, "log"), {
        node: this.id,
        log: this.log,
        segmentBytes: this.cfg.logSegmentBytes,
        onFatal: (err) => this.failStop(err),
      });
    }
    return this.lmdbEngine(dir);
  }

  private lmdbEngine(dir: DataDir): LmdbEngine {
    return new LmdbEngine(join(dir.path, "lmdb"), { node: this.id, log: this.log, onFatal: (err) => this.failStop(err) });
  }

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

  /**
   * Rebuild partitions, counters and expiry heaps from storage, before serving. Corrupt data
   * at rf >= 2 is not fatal yet: the node registers saying it lost its data, and the
   * coordinator either forgets its copies (they are rebuilt from the replicas) or, if it held
   * the only copy of some partition, refuses, and the node stops (see onRegistered).
   */
  private recover(): void {
    const t0 = performance.now();
    let state: RecoveredState;
    try {
      state = this.engine.recover();
    } catch (err) {
      if (!(err instanceof CorruptStorageError) || this.cfg.replicationFactor < 2 || !this.engine.quarantine) throw err;
      this.lostData = err;
      this.log(`${this.id}: ${err.message}`);
      this.log(`${this.id}: replicationFactor ${this.cfg.replicationFactor}: serving nothing from this folder; asking the coordinator to rebuild this shard from its replicas`);
      return;
    }
    const n = this.host.recover(state);
    for (const id of state.dicts) this.dicts.add(id);
    for (const d of state.dedup) this.dedup.restore(d.id, d.at, d.answer as { r?: unknown }, d.part);
    const ms = performance.now() - t0;
    const where = this.dataDir ? ` from ${this.dataDir.path}` : " (memory engine: nothing to load)";
    this.log(`${this.id}: recovered ${n} entries of ${state.dicts.length} dicts in ${ms.toFixed(0)} ms${where}`);
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
      onPush: (frame) => this.handlePush(frame),
      heartbeatMs: this.cfg.heartbeatMs,
      onHeartbeat: (sentAt, epoch) => {
        // The coordinator promotes no one until this long after it last heard from us. The
        // lease is only good with its table: a node that is behind catches up first.
        if (!this.table || this.table.epoch < epoch) {
          this.refreshTable().catch(() => {});
          return;
        }
        this.leaseUntil = Math.max(this.leaseUntil, sentAt + this.cfg.suspectAfterMs);
      },
      stats: () => this.stats(),
      log: this.log,
    });
    this.link.start();
    return url;
  }

  /** Entries in the partitions this node leads and in all it holds, and its copies running. */
  private stats(): { entries: number; held: number; moves: MoveProgressData[] } {
    let entries = 0;
    let held = 0;
    for (const [part, store] of this.host.all()) {
      const n = store.size;
      held += n;
      if (this.table?.primaryOf(part) === this.id) entries += n;
    }
    return { entries, held, moves: this.replicator.moves() };
  }

  /** Everything this node stores, as mutation batches read lazily (a log snapshot). */
  private *storedState(): Generator<Mutation[], void, undefined> {
    yield this.dicts.ids().map((dict) => ({ op: "addDict" as const, dict }));
    const since = this.clock.now() - DEDUP_WINDOW_MS;
    for (const [part, store] of this.host.all()) {
      yield this.dedup.forPart(part, since).map((d) => ({ op: "dedup" as const, id: d.id, at: d.at, answer: d.answer, part }));
      yield* store.storedChunks(SNAPSHOT_CHUNK_ENTRIES, () => this.clock.now(), SNAPSHOT_CHUNK_BYTES);
    }
  }

  /** A partition as chunks for a learner: its entries, and the answers of its recent writes. */
  private snapshotOf(part: number): { chunks: Iterator<ReplMutation[]>; total: number } {
    const store = this.host.store(part);
    const dedup: ReplMutation[] = this.dedup
      .forPart(part, this.clock.now() - DEDUP_WINDOW_MS)
      .map((d) => ({ op: "dedup" as const, id: d.id, at: d.at, answer: d.answer, memoryOnly: true, part }));
    const chunks = store.snapshotChunks(SNAPSHOT_CHUNK_ENTRIES, () => this.clock.now(), SNAPSHOT_CHUNK_BYTES);
    // The answers go right after the first chunk's reset, so the learner keeps them.
    const withAnswers = function* (): Generator<ReplMutation[], void, undefined> {
      let first = true;
      for (const c of chunks) {
        if (first) c.splice(1, 0, ...dedup);
        first = false;
        yield c;
      }
    };
    return { total: store.size, chunks: withAnswers() };
  }

  /**
   * The coordinator has forgotten this node's copies (it said it lost its data): set the
   * corrupt files aside and start empty, before adopting the table that makes it a learner.
   */
  private startOver(err: CorruptStorageError): void {
    const quarantine = this.engine.quarantine;
    if (!quarantine) throw err;
    const aside = quarantine.call(this.engine);
    this.host.recover(this.engine.recover());
    this.lostData = undefined;
    this.log(`${this.id}: the corrupt files are kept in ${aside}; this shard starts empty and is rebuilt from its replicas`);
  }

  /** Corrupt data found at start, until the coordinator has forgotten this node's copies. */
  private lostData: CorruptStorageError | undefined;

  private onRegistered(r: RegisterResult): void {
    if (this.lostData) this.startOver(this.lostData);
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

  /**
   * May this node answer for `parts` as their primary? Yes at once while it holds its lease
   * (or for partitions without replicas: only a replica this node itself reported caught up
   * could ever be promoted, and those count as replicas here). Otherwise, for
   * example while the coordinator is unreachable, its in-sync replicas must confirm it still
   * leads at the partition epoch it knows: a replica that was promoted knows it was.
   */
  private ensureLeader(parts: readonly number[]): Promise<void> | undefined {
    const t = this.table;
    if (!t || performance.now() < this.leaseUntil) return undefined;
    const ask = new Map<string, { part: number; pepoch: number }[]>();
    for (const part of parts) {
      for (const r of this.replicator.replicasFor(t, part)) {
        let list = ask.get(r);
        if (!list) ask.set(r, (list = []));
        list.push({ part, pepoch: t.pepochOf(part) });
      }
    }
    if (ask.size === 0) return undefined;
    return Promise.all([...ask].map(([replica, list]) => this.links.request(replica, { type: "confirm", parts: list }, 1_000))).then(
      () => undefined,
      (err: unknown) => {
        // A replica that knows a newer primary says so: this node was deposed ("moved"), and
        // its table is behind. Only a replica that cannot be reached leaves it unknown.
        if (err instanceof RetryableError && err.code === WireCode.WrongOwner) {
          this.refreshTable().catch(() => {});
          throw new RetryableError(WireCode.WrongOwner, `${this.id} no longer leads: ${err.message}`);
        }
        throw new RetryableError(WireCode.Unavailable, `${this.id} cannot confirm it still leads: ${(err as Error).message}`);
      },
    );
  }

  /** A primary asks whether it still leads: yes only if this node's table agrees. */
  private async confirmLeader(frame: FrameOf<"confirm">, sender: string): Promise<void> {
    if (frame.parts.some((p) => (this.table?.pepochOf(p.part) ?? 0) < p.pepoch)) await this.refreshTable().catch(() => {});
    const t = this.table;
    for (const { part, pepoch } of frame.parts) {
      if (!t || t.primaryOf(part) !== sender || t.pepochOf(part) !== pepoch) {
        throw new RetryableError(WireCode.WrongOwner, `${sender} no longer leads partition ${part} (${this.id} knows ${t?.primaryOf(part)} at ${t?.pepochOf(part)})`);
      }
    }
  }

  /** A replica applies an accepted frame (see {@link ReplicaApplier}): room first, then durably. */
  private async applyReplication(frame: FrameOf<"repl">): Promise<void> {
    // Room first: a replica whose disk is full refuses (the primary reports it, and goes on without it).
    let bytes = 0;
    for (const m of frame.muts) bytes += replBytes(m);
    await this.engine.reserve(bytes);
    try {
      const store = this.host.store(frame.part);
      store.applyReplicated(frame.muts);
      // A replica records a dict the first time it applies a write of it, with that write.
      const added: Mutation[] = [];
      for (const m of frame.muts) {
        if (m.op === "dedup") this.dedup.restore(m.id, m.at, m.answer as { r?: unknown }, m.part ?? frame.part);
        else if ("dict" in m && !this.dicts.has(m.dict)) {
          this.dicts.add(m.dict);
          added.push({ op: "addDict", dict: m.dict });
        }
      }
      await Promise.all([store.commit(), added.length > 0 ? this.engine.commit(added) : undefined]);
    } finally {
      this.engine.release(bytes);
    }
  }

  /** Requests the coordinator pushes to this shard; acknowledged once durable here. */
  private async handlePush(frame: RequestFrame): Promise<unknown> {
    switch (frame.type) {
      case "shard.table":
        this.adoptTable(frame.table);
        return undefined;
      case "shard.dictAdded": {
        // Durable here before the create succeeds; a full disk fails the create instead (a
        // shard without room for a few writes to the new dict should not take it).
        const bytes = 4096;
        await this.engine.reserve(bytes);
        try {
          this.dicts.add(frame.id);
          await this.engine.commit([{ op: "addDict", dict: frame.id }]);
        } finally {
          this.engine.release(bytes);
        }
        return undefined;
      }
      case "shard.dictRemoved":
        this.dicts.remove(frame.id);
        await this.host.dropDict(frame.id);
        return undefined;
      default:
        throw new InvalidError(`${frame.type} is not a coordinator push`);
    }
  }

  private handle(frame: RequestFrame, peer: Peer): unknown {
    if (isDataFrame(frame)) return this.data.handle(frame, peer.meta.clientId as string | undefined);
    if (frame.type === "repl" || frame.type === "confirm") {
      const who = peer.meta.clientId;
      if (peer.meta.role !== "node" || typeof who !== "string" || !who.startsWith("node:")) throw new InvalidError(`${frame.type} is for nodes`);
      return frame.type === "repl" ? this.replica.receive(frame, who.slice(5)) : this.confirmLeader(frame, who.slice(5));
    }
    if (frame.type === "table.get" && this.table) return this.table.toData();
    if (frame.type === "hello") {
      if (frame.v !== PROTOCOL_VERSION) throw new InvalidError(`protocol version ${frame.v} is not supported (this cluster speaks ${PROTOCOL_VERSION})`);
      peer.meta.clientId = frame.clientId;
      return { v: PROTOCOL_VERSION, shardId: this.id };
    }
    throw new InvalidError(`${frame.type} is not served by a shard`);
  }

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
