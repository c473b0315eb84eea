/**
 * A node's own Prometheus registry (never prom-client's global one: tests run several nodes
 * in one process): the process's default metrics and the node's open client connections.
 * Everything here is read when scraped, so nothing runs while nobody scrapes.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import { wsSent } from "./peer.js";

export function nodeRegistry(clientConnections: () => number): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  scrapedGauge(registry, "shardict_client_connections", "Client connections open on this node (connections of the cluster's own nodes are not counted).", clientConnections);
  scrapedCounter(registry, "shardict_ws_messages_sent_total", "WebSocket messages this process has sent, to clients and to other nodes (one per batch of frames).", () => wsSent.messages);
  scrapedCounter(registry, "shardict_ws_frames_sent_total", "Frames (requests and replies) this process has sent in those WebSocket messages.", () => wsSent.frames);
  return registry;
}

/** A counter without labels whose value is read when scraped (from a total kept elsewhere). */
export function scrapedCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
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
