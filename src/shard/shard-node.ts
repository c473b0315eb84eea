/**
 * A shard node: hosts partition stores, serves the data path to clients, and follows the
 * coordinator's partition table and dict list. Its lifecycle is an xstate actor.
 */
import { createActor } from "xstate";
import type { ClusterConfig } from "../config/cluster-config.js";
import { InvalidError } from "../errors.js";
import { PartitionTable } from "../hashing/partition-table.js";
import { nodeLifecycleMachine } from "../machines/node-lifecycle.machine.js";
import { frameLimit } from "../net/limits.js";
import { NodeServer } from "../net/node-server.js";
import type { RequestFrame } from "../protocol/frames.js";
import { systemClock, type Clock } from "../store/clock.js";
import { MemoryEngine, type StorageEngine } from "../store/storage-engine.js";
import { CoordinatorLink, type RegisterResult } from "./coordinator-link.js";
import { DataHandler, isDataFrame } from "./data-handler.js";
import { DictSet } from "./dict-set.js";
import { PartitionHost } from "./partition-host.js";

export interface ShardNodeOptions {
  config: ClusterConfig;
  id: string;
  host?: string;
  port?: number;
  coordinatorUrl?: string;
  clusterSecret?: string | undefined;
  engine?: StorageEngine;
  clock?: Clock;
  log?: (line: string) => void;
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
  private readonly data: DataHandler;
  private link: CoordinatorLink | undefined;
  private table: PartitionTable | undefined;
  private readonly coordinatorUrl: string;
  private readonly clusterSecret: string | undefined;

  constructor(opts: ShardNodeOptions) {
    this.cfg = opts.config;
    this.id = opts.id;
    const own = this.cfg.shards.find((s) => s.id === opts.id);
    if (!own) throw new Error(`shard id "${opts.id}" is not in the cluster config (known: ${this.cfg.shards.map((s) => s.id).join(", ")})`);
    this.log = opts.log ?? ((l) => console.log(l));
    this.clock = opts.clock ?? systemClock;
    this.clusterSecret = opts.clusterSecret;
    this.coordinatorUrl = opts.coordinatorUrl ?? `ws://${this.cfg.coordinator.host}:${this.cfg.coordinator.port}`;
    this.host = new PartitionHost(this.cfg.entryTtlMs, opts.engine ?? new MemoryEngine(), this.clock);
    this.dicts = new DictSet((id) => {
      if (!this.link) return Promise.reject(new Error("not linked to the coordinator"));
      return this.link.dictExists(id);
    });
    this.data = new DataHandler({
      shardId: this.id,
      host: this.host,
      dicts: this.dicts,
      clock: this.clock,
      maxEntryBytes: this.cfg.maxEntryBytes,
      table: () => this.table,
      serving: () => this.lifecycle.getSnapshot().matches("serving"),
    });
    this.server = new NodeServer({
      host: opts.host ?? own.host,
      port: opts.port ?? own.port,
      maxPayload: frameLimit(this.cfg.maxEntryBytes),
      auth: { clientTokens: this.cfg.clientTokens, clusterSecret: opts.clusterSecret },
      label: this.id,
      onRequest: (frame) => this.handle(frame),
    });
    this.lifecycle.subscribe((snap) => {
      if (snap.value !== this.lastState) {
        this.lastState = String(snap.value);
        this.log(`${this.id}: ${this.lastState}`);
      }
    });
  }

  private lastState = "";

  async start(): Promise<string> {
    this.lifecycle.start();
    const url = await this.server.start();
    this.host.start();
    this.lifecycle.send({ type: "BOOTED" });
    this.log(`${this.id}: listening on ${url} (pid ${process.pid})`);
    this.link = new CoordinatorLink({
      coordinatorUrl: this.coordinatorUrl,
      shardId: this.id,
      advertiseUrl: url,
      clusterSecret: this.clusterSecret,
      maxPayload: frameLimit(this.cfg.maxEntryBytes),
      onRegistered: (r) => this.onRegistered(r),
      onLost: (reason) => {
        this.log(`${this.id}: lost the coordinator (${reason}); still serving, reconnecting`);
        this.lifecycle.send({ type: "COORDINATOR_LOST" });
      },
      onPush: (frame) => this.handlePush(frame),
      log: this.log,
    });
    this.link.start();
    return url;
  }

  private onRegistered(r: RegisterResult): void {
    this.adoptTable(r.table);
    for (const id of this.dicts.replace(r.dicts)) this.host.dropDict(id);
    this.lifecycle.send({ type: "REGISTERED", epoch: r.table.epoch });
  }

  private adoptTable(data: RegisterResult["table"]): void {
    if (this.table && data.epoch < this.table.epoch) return;
    this.table = new PartitionTable(data);
  }

  /** Requests the coordinator pushes to this shard. */
  private handlePush(frame: RequestFrame): unknown {
    switch (frame.type) {
      case "shard.table":
        this.adoptTable(frame.table);
        return undefined;
      case "shard.dictAdded":
        this.dicts.add(frame.id);
        return undefined;
      case "shard.dictRemoved":
        this.dicts.remove(frame.id);
        this.host.dropDict(frame.id);
        return undefined;
      default:
        throw new InvalidError(`${frame.type} is not a coordinator push`);
    }
  }

  private handle(frame: RequestFrame): unknown {
    if (isDataFrame(frame)) return this.data.handle(frame);
    if (frame.type === "table.get" && this.table) return this.table.toData();
    if (frame.type === "hello") return { v: 1, shardId: this.id };
    throw new InvalidError(`${frame.type} is not served by a shard`);
  }

  /** Entries held (for status and tests). */
  entryCount(): number {
    return this.host.entryCount();
  }

  async stop(): Promise<void> {
    this.lifecycle.send({ type: "STOP" });
    await this.link?.stop();
    this.host.stop();
    await this.server.stop();
    this.lifecycle.send({ type: "DRAINED" });
    this.lifecycle.stop();
  }
}
