/**
 * `npm start`: run the local cluster described by cluster.config.json (or $SHARDICT_CONFIG),
 * one process per node, until Ctrl-C or SIGTERM.
 */
import { resolve } from "node:path";
import { ConfigError, loadConfig } from "../src/config/cluster-config.js";
import { LocalCluster } from "../src/launcher/local-cluster.js";

async function main(): Promise<void> {
  const configPath = resolve(process.env.SHARDICT_CONFIG ?? "cluster.config.json");
  const config = loadConfig(configPath);
  const width = Math.max("coordinator".length, ...config.shards.map((s) => s.id.length));
  const cluster = new LocalCluster({
    configPath,
    config,
    onLine: (node, line) => console.log(`[${node.padEnd(width)}] ${line}`),
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`cluster: ${signal}: stopping all nodes`);
    await cluster.stop();
    console.log("cluster: stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  console.log(`cluster: starting from ${configPath}`);
  try {
    await cluster.start();
  } catch (err) {
    console.error(`cluster: failed to start: ${(err as Error).message}`);
    await cluster.stop();
    process.exit(1);
  }
  console.log(`cluster: coordinator ${cluster.coordinatorUrl}`);
  for (const s of config.shards) console.log(`cluster: ${s.id} ${cluster.urlOf(s.id) ?? "?"}`);
  console.log(`cluster: ready: ${config.shards.length} shards, ${config.partitions} partitions. Connect with SHARDICT_URL=${cluster.coordinatorUrl}. Ctrl-C stops.`);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? `cluster: ${err.message}` : err);
  process.exit(1);
});
