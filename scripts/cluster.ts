/**
 * The local cluster.
 *
 *   npm start                          run the cluster of cluster.config.json (or
 *                                      $SHARDICT_CONFIG), one process per node, until Ctrl-C
 *   npm run cluster -- --tls           the same over TLS, with a throwaway CA made (once)
 *                                      in <dataDir>/tls/ by openssl
 *   npm run cluster -- --netns         (root, Linux) each shard on a pretend host of its own:
 *                                      a network namespace with a private address, the
 *                                      coordinator beside the first shard, TLS and a client
 *                                      token (config in <dataDir>/netns/); all deleted at exit
 *   npm run cluster -- add-shard [--id ID]
 *                                      start one more shard on a free port and join it to the
 *                                      running cluster; it runs in the background (log in
 *                                      <dataDir>/<id>.log) until `shardict cluster
 *                                      remove-shard ID`, SIGTERM, or the cluster's Ctrl-C
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fetchStatus } from "../src/cli/cluster-commands.js";
import { ConfigError, loadConfig, type ClusterConfig } from "../src/config/cluster-config.js";
import type { ClusterStatus } from "../src/coordinator/coordinator-node.js";
import { cliPath, LocalCluster, type LocalClusterOptions } from "../src/launcher/local-cluster.js";
import { configuredSecret, ensureLocalSecret } from "../src/launcher/local-secret.js";
import { makeThrowawayCa } from "../src/launcher/throwaway-ca.js";
import { createNetnsHosts } from "../src/launcher/netns-hosts.js";
import { layOutOnHosts } from "../src/launcher/netns-cluster.js";

const configPath = resolve(process.env.SHARDICT_CONFIG ?? "cluster.config.json");

/** Shards added to the local cluster, so that its Ctrl-C stops them too. */
function addedFile(config: ClusterConfig): string {
  return join(resolve(config.dataDir), "added-shards.json");
}

function readAdded(config: ClusterConfig): { id: string; pid: number }[] {
  try {
    return JSON.parse(readFileSync(addedFile(config), "utf8")) as { id: string; pid: number }[];
  } catch {
    return [];
  }
}

/**
 * `--tls`: a throwaway CA and node certificate in <dataDir>/tls/ (made once, kept), and the
 * config with "tls" added beside them, which the nodes are started with.
 */
function withLocalTls(config: ClusterConfig): { config: ClusterConfig; path: string; ca: string } {
  const dir = join(resolve(config.dataDir), "tls");
  const ca = existsSync(join(dir, "ca.pem")) ? { ca: join(dir, "ca.pem"), cert: join(dir, "node.pem"), key: join(dir, "node.key") } : makeThrowawayCa("shardict-local", dir);
  const tlsConfig: ClusterConfig = { ...config, tls: { cert: ca.cert, key: ca.key, ca: ca.ca } };
  const path = join(dir, "cluster.config.json");
  writeFileSync(path, JSON.stringify(tlsConfig, null, 2));
  return { config: tlsConfig, path, ca: ca.ca };
}

/**
 * `--netns`: the multi-host path on one machine (netns-hosts.ts): one host per shard, the
 * coordinator on the first, each node on its host's private address, over TLS with a CA made
 * for those addresses, a client token, not --insecure.
 */
async function runOnHosts(config: ClusterConfig): Promise<void> {
  const hosts = await createNetnsHosts(config.shards.length);
  const dir = join(resolve(config.dataDir), "netns");
  mkdirSync(dir, { recursive: true });
  // Made again each time: the hosts' addresses (in the certificate) are new each time.
  const layout = layOutOnHosts(config, hosts, join(dir, "tls"));
  const path = join(dir, "cluster.config.json");
  writeFileSync(path, JSON.stringify(layout.config, null, 2));
  console.log(`cluster: ${hosts.hosts.length} hosts in network namespaces on ${hosts.subnet}: ${hosts.hosts.map((h) => `${h.ns} ${h.address}`).join(", ")}`);
  console.log(`cluster: cut a host off with: ip -n ${hosts.switchNs} link set dev h<i> down (up to heal)`);
  return runCluster(layout.config, path, layout.ca.ca, { netns: layout.place, token: layout.token });
}

async function runCluster(config: ClusterConfig, configPath: string, caPath?: string, hosts: { netns?: LocalClusterOptions["netns"]; token?: string } = {}): Promise<void> {
  const width = Math.max("coordinator".length, ...config.shards.map((s) => s.id.length));
  const cluster = new LocalCluster({
    configPath,
    config,
    clusterSecret: localSecret(config),
    // A node that crashes or fail-stops on a storage error is restarted, with backoff.
    supervise: true,
    ...(hosts.netns !== undefined && { netns: hosts.netns }),
    onLine: (node, line) => console.log(`[${node.padEnd(width)}] ${line}`),
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`cluster: ${signal}: stopping all nodes`);
    for (const a of readAdded(config)) {
      try {
        process.kill(a.pid, "SIGINT");
      } catch {
        // already gone
      }
    }
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
  if (config.console) console.log(`cluster: web console ${cluster.coordinatorUrl.replace(/^ws:/, "http:").replace(/^wss:/, "https:")}/`);
  const trust = `${caPath === undefined ? "" : ` SHARDICT_CA=${caPath}`}${hosts.token === undefined ? "" : ` SHARDICT_TOKEN=${hosts.token}`}${caPath === undefined ? "" : " (its throwaway CA: trust it in a browser to open the console)"}`;
  console.log(`cluster: ready: ${config.shards.length} shards, ${config.partitions} partitions. Connect with SHARDICT_URL=${cluster.coordinatorUrl}${trust}. Ctrl-C stops.`);
}

/**
 * The secret nodes of the local cluster share: the given one, or one kept in the data folder
 * so that shards added later, and `shardict cluster remove-shard`, can use it too.
 */
function localSecret(config: ClusterConfig): string {
  return configuredSecret(config) ?? ensureLocalSecret(config.dataDir).secret;
}

function status(url: string): Promise<ClusterStatus> {
  return fetchStatus(url, 2_000);
}

async function addShard(config: ClusterConfig, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { id: { type: "string" }, coordinator: { type: "string" } }, strict: true });
  const url = values.coordinator ?? process.env.SHARDICT_URL ?? `ws://${config.coordinator.host}:${config.coordinator.port}`;
  let before: ClusterStatus;
  try {
    before = await status(url);
  } catch (err) {
    throw new Error(`no cluster answers at ${url} (${(err as Error).message}); start it first with "npm start"`);
  }
  let id = values.id;
  if (id === undefined) {
    const taken = new Set([...before.shards.map((s) => s.id), ...config.shards.map((s) => s.id)]);
    for (let n = taken.size + 1; ; n++) if (!taken.has((id = `shard-${n}`))) break;
  }
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const logPath = join(dataDir, `${id}.log`);
  const log = openSync(logPath, "a");
  const child = spawn(process.execPath, [cliPath(), "shard", "--config", configPath, "--id", id, "--coordinator", url, "--port", "0", "--data-dir", dataDir], {
    detached: true,
    stdio: ["ignore", log, log],
    env: { ...process.env, SHARDICT_CLUSTER_SECRET: localSecret(config) },
  });
  child.unref();
  const pid = child.pid ?? 0;
  writeFileSync(addedFile(config), JSON.stringify([...readAdded(config).filter((a) => a.id !== id), { id, pid }], null, 2));
  console.log(`cluster: starting ${id} (pid ${pid}, log ${logPath})`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${id} exited with code ${child.exitCode}; see ${logPath}`);
    const s = (await status(url)).shards.find((x) => x.id === id);
    if (s && s.health === "alive") {
      console.log(`cluster: ${id} joined at ${s.url}; partitions are moving to it (watch with: npx shardict cluster status --watch)`);
      console.log(`cluster: remove it with: npx shardict cluster remove-shard ${id}`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`${id} did not join within 30 s; see ${logPath}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const config = loadConfig(configPath);
  if (command === "--netns" || (command === "start" && rest.includes("--netns"))) return runOnHosts(config);
  if (command === undefined || command === "start" || command === "--tls") {
    const tls = command === "--tls" || rest.includes("--tls");
    if (!tls) return runCluster(config, configPath);
    const local = withLocalTls(config);
    console.log(`cluster: TLS with a throwaway CA: ${local.ca} (config ${local.path})`);
    return runCluster(local.config, local.path, local.ca);
  }
  if (command === "add-shard") {
    await addShard(config, rest);
    process.exit(0);
  }
  throw new Error(`unknown command "${command}" (use: npm start, npm run cluster -- --tls, npm run cluster -- --netns, or npm run cluster -- add-shard [--id ID])`);
}

main().catch((err: unknown) => {
  console.error(`cluster: ${err instanceof ConfigError ? err.message : (err as Error).message}`);
  process.exit(1);
});
