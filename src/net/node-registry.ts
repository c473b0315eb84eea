/**
 * A node's own Prometheus registry (never prom-client's global one: tests run several nodes
 * in one process): the process's default metrics and the node's open client connections.
 * Everything here is read when scraped, so nothing runs while nobody scrapes.
 */
import { collectDefaultMetrics, Gauge, Registry } from "prom-client";

export function nodeRegistry(clientConnections: () => number): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  scrapedGauge(registry, "shardict_client_connections", "Client connections open on this node (connections of the cluster's own nodes are not counted).", clientConnections);
  return registry;
}

/** A gauge without labels whose value is read when scraped. */
export function scrapedGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
