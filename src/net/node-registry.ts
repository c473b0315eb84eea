/**
 * A node's own Prometheus registry (never prom-client's global one: tests run several nodes
 * in one process): the process's default metrics and the node's open client connections.
 * Everything here is read when scraped, so nothing runs while nobody scrapes.
 */
import { collectDefaultMetrics, Gauge, Registry } from "prom-client";

export function nodeRegistry(clientConnections: () => number): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "shardict_client_connections",
    help: "Client connections open on this node (connections of the cluster's own nodes are not counted).",
    registers: [registry],
    collect() {
      this.set(clientConnections());
    },
  });
  return registry;
}
