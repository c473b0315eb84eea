/**
 * The coordinator's metrics (served at `GET /metrics`): the cluster as `cluster status` sees
 * it — shards by role and health, partitions, rebalancing, dicts — computed when scraped.
 */
import { Gauge, type Registry } from "prom-client";
import { nodeRegistry, scrapedGauge } from "../net/node-registry.js";
import { ROLE_NAMES, type ClusterStatus } from "./cluster-status.js";

const STATES = Object.values(ROLE_NAMES);
const HEALTHS = ["alive", "suspect", "dead", "unregistered"];
/** A role as a label value ("handing off" → "handing_off"). */
const label = (s: string): string => s.replace(/ /g, "_");

export function coordinatorMetrics(status: () => ClusterStatus, clientConnections: () => number): Registry {
  const registry = nodeRegistry(clientConnections);
  // One status per scrape, however many gauges read it (prom-client collects them in turn).
  let cached: { at: number; value: ClusterStatus } | undefined;
  const now = (): ClusterStatus => {
    const t = performance.now();
    if (cached === undefined || t - cached.at > 100) cached = { at: t, value: status() };
    return cached.value;
  };
  new Gauge({
    name: "shardict_cluster_shards",
    help: "Member shards by role (joining, serving, handing_off, leaving).",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const counts = new Map(STATES.map((s) => [s, 0]));
      for (const s of now().shards) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
      for (const [s, n] of counts) this.set({ state: label(s) }, n);
    },
  });
  new Gauge({
    name: "shardict_cluster_shards_health",
    help: "Member shards by health as the coordinator sees their heartbeats (alive, suspect, dead, unregistered).",
    labelNames: ["health"] as const,
    registers: [registry],
    collect() {
      const counts = new Map(HEALTHS.map((h) => [h, 0]));
      for (const s of now().shards) counts.set(s.health, (counts.get(s.health) ?? 0) + 1);
      for (const [h, n] of counts) this.set({ health: h }, n);
    },
  });
  scrapedGauge(registry, "shardict_cluster_partitions", "Partitions of the cluster.", () => now().partitions);
  scrapedGauge(registry, "shardict_cluster_epoch", "The partition table's epoch.", () => now().epoch);
  scrapedGauge(registry, "shardict_cluster_dicts", "Named dicts in the registry.", () => now().dicts);
  scrapedGauge(registry, "shardict_cluster_rebalance_pending_partitions", "Partitions not yet where the rebalancer wants them.", () => now().rebalance.pending);
  scrapedGauge(registry, "shardict_cluster_rebalance_moving_partitions", "Partitions being moved now.", () => now().rebalance.moving);
  scrapedGauge(registry, "shardict_cluster_moves", "Moves running: replicas being copied and primaries being handed off.", () => now().moves.length);
  scrapedGauge(registry, "shardict_cluster_entries", "Entries in the cluster (primaries' copies), from the shards' last heartbeats.", () =>
    now().shards.reduce((n, s) => n + (s.entries ?? 0), 0),
  );
  return registry;
}
