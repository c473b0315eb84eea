/**
 * A cluster wired for fault injection: every shard is reached by clients through its own TCP
 * proxy (the shard advertises the proxy's address), and reaches the coordinator through
 * another, so a test can cut, blackhole or delay one shard's links to its clients or to the
 * coordinator, besides killing, pausing and restarting processes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type ClusterConfig } from "../../src/config/cluster-config.js";
import { LocalCluster } from "../../src/launcher/local-cluster.js";
import { TcpProxy } from "./tcp-proxy.js";

export interface ChaosClusterOptions {
  shards?: number;
  partitions?: number;
  replicationFactor?: number;
  seed: number;
  log?: (line: string) => void;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

export class ChaosCluster {
  readonly cluster: LocalCluster;
  readonly config: ClusterConfig;
  readonly shardIds: string[];
  /** Clients → shard. */
  readonly clientLinks = new Map<string, TcpProxy>();
  /** Shard → coordinator. */
  readonly coordinatorLinks = new Map<string, TcpProxy>();
  private readonly dir: string;

  private constructor(cluster: LocalCluster, config: ClusterConfig, dir: string) {
    this.cluster = cluster;
    this.config = config;
    this.dir = dir;
    this.shardIds = config.shards.map((s) => s.id);
  }

  static async start(opts: ChaosClusterOptions): Promise<ChaosCluster> {
    const dir = mkdtempSync(join(tmpdir(), "shardict-chaos-"));
    const config = parseConfig({
      coordinator: { host: "127.0.0.1", port: 0 },
      shards: Array.from({ length: opts.shards ?? 3 }, (_, i) => ({ id: `shard-${i + 1}`, host: "127.0.0.1", port: 0 })),
      partitions: opts.partitions ?? 32,
      replicationFactor: opts.replicationFactor ?? 1,
      dataDir: join(dir, "data"),
      ephemeralGraceMs: 60_000,
    });
    const configPath = join(dir, "cluster.config.json");
    writeFileSync(configPath, JSON.stringify(config));
    let self: ChaosCluster | undefined;
    const cluster = new LocalCluster({
      configPath,
      config,
      freePorts: true,
      onLine: (node, line) => opts.log?.(`[${node}] ${line}`),
      shardOptions: (id) => ({
        coordinatorUrl: self?.coordinatorLinks.get(id)?.url ?? "",
        advertiseUrl: self?.clientLinks.get(id)?.url ?? "",
      }),
    });
    self = new ChaosCluster(cluster, config, dir);
    const coordinatorUrl = await cluster.startCoordinator();
    for (const [i, id] of self.shardIds.entries()) {
      self.coordinatorLinks.set(id, await TcpProxy.start({ host: "127.0.0.1", port: portOf(coordinatorUrl) }, { seed: opts.seed * 100 + i }));
      // The real target is known once the shard listens.
      self.clientLinks.set(id, await TcpProxy.start({ host: "127.0.0.1", port: 9 }, { seed: opts.seed * 100 + 50 + i }));
    }
    const ready = cluster.waitFor(/coordinator: ready: all \d+ shards joined/, "coordinator");
    await Promise.all(self.shardIds.map((id) => self.startShard(id)));
    await ready;
    return self;
  }

  get url(): string {
    return this.cluster.coordinatorUrl;
  }

  /** Start (or restart) a shard and point its client proxy at it. */
  async startShard(id: string): Promise<void> {
    const url = await this.cluster.startShard(id);
    this.clientLinks.get(id)?.setTarget({ host: "127.0.0.1", port: portOf(url) });
  }

  /** Restart the coordinator on its address (the shards' proxies point there). */
  async restartCoordinator(): Promise<void> {
    await this.cluster.restartCoordinator();
  }

  async stop(): Promise<void> {
    for (const p of [...this.clientLinks.values(), ...this.coordinatorLinks.values()]) await p.close();
    await this.cluster.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
