/**
 * The fault table: each fault is injected, lasts a while, and heals. Names are what the
 * summary reports.
 */
import type { ChaosCluster } from "./chaos-cluster.js";

export interface Fault {
  readonly name: string;
  /** Inject; returns how to heal. */
  inject(c: ChaosCluster, target: string): Promise<() => Promise<void>>;
  /** Whether it targets a shard (else the coordinator). */
  readonly onShard: boolean;
}

export const FAULTS: readonly Fault[] = [
  {
    name: "kill -9 shard, restart",
    onShard: true,
    async inject(c, shard) {
      await c.cluster.kill(shard, "SIGKILL");
      return () => c.startShard(shard);
    },
  },
  {
    name: "SIGSTOP shard, SIGCONT",
    onShard: true,
    async inject(c, shard) {
      await c.cluster.kill(shard, "SIGSTOP");
      return () => c.cluster.kill(shard, "SIGCONT");
    },
  },
  {
    name: "partition shard | coordinator",
    onShard: true,
    async inject(c, shard) {
      c.coordinatorLinks.get(shard)?.blackhole();
      return async () => c.coordinatorLinks.get(shard)?.heal();
    },
  },
  {
    name: "partition shard | clients",
    onShard: true,
    async inject(c, shard) {
      c.clientLinks.get(shard)?.cut();
      return async () => c.clientLinks.get(shard)?.heal();
    },
  },
  {
    name: "blackhole shard | clients",
    onShard: true,
    async inject(c, shard) {
      c.clientLinks.get(shard)?.blackhole();
      return async () => c.clientLinks.get(shard)?.heal();
    },
  },
  {
    name: "slow, flaky shard links",
    onShard: true,
    async inject(c, shard) {
      const link = c.clientLinks.get(shard);
      link?.delay(30, 20);
      link?.dropConnections(0.02);
      return async () => link?.heal();
    },
  },
  {
    name: "kill -9 coordinator, restart",
    onShard: false,
    async inject(c) {
      await c.cluster.kill("coordinator", "SIGKILL");
      return () => c.restartCoordinator();
    },
  },
];
