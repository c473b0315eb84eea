/**
 * A real cluster for integration tests: one process per node, every node on a free port,
 * config in a temporary folder. Node output is kept and printed if startup fails.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type ClusterConfig } from "../../src/config/cluster-config.js";
import { LocalCluster, type LocalClusterOptions } from "../../src/launcher/local-cluster.js";
import { layOutOnHosts, type NetnsLayout } from "../../src/launcher/netns-cluster.js";
import type { NetnsHosts } from "../../src/launcher/netns-hosts.js";
import { afterAll, beforeAll } from "vitest";
import { connect } from "../../src/index.js";
import { clientOf, type ClusterClient } from "../../src/client/client.js";

export interface TestClusterOptions extends Partial<Omit<ClusterConfig, "shards" | "coordinator">> {
  shards?: number;
  /** Launcher options: per-node data folders and environment, supervision. */
  launcher?: Pick<LocalClusterOptions, "shardOptions" | "coordinatorOptions" | "supervise">;
  /** Run the nodes on these pretend hosts (netns-cluster.ts: their addresses, TLS, a client token). */
  hosts?: NetnsHosts;
}

export interface TestCluster {
  cluster: LocalCluster;
  config: ClusterConfig;
  configPath: string;
  dir: string;
  url: string;
  logs: string[];
  /** With `hosts`: where each node runs, the CA, the client token (clients get it by default). */
  layout: NetnsLayout | undefined;
  /** A client connected to this cluster (closed by `stop`). */
  /** A client of the cluster, as its implementation (tests look at its table and make raw requests). */
  client(opts?: { token?: string }): Promise<ClusterClient>;
  stop(): Promise<void>;
}

export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const { shards = 3, launcher = {}, hosts, ...rest } = opts;
  const dir = mkdtempSync(join(tmpdir(), "shardict-test-"));
  const base = parseConfig({
    coordinator: { host: "127.0.0.1", port: 0 },
    shards: Array.from({ length: shards }, (_, i) => ({ id: `shard-${i + 1}`, host: "127.0.0.1", port: 0 })),
    partitions: 64,
    dataDir: join(dir, "data"),
    ...rest,
  });
  const layout = hosts === undefined ? undefined : layOutOnHosts(base, hosts, join(dir, "tls"));
  const config = layout?.config ?? base;
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const logs: string[] = [];
  const cluster = new LocalCluster({
    configPath,
    config,
    freePorts: true,
    ...launcher,
    ...(layout !== undefined && { netns: layout.place }),
    onLine: (node, line) => {
      logs.push(`[${node}] ${line}`);
      if (process.env.SHARDICT_TEST_LOGS) console.log(`[${node}] ${line}`);
    },
  });
  try {
    await cluster.start();
  } catch (err) {
    await cluster.stop();
    throw new Error(`test cluster failed to start: ${(err as Error).message}\n${logs.join("\n")}`);
  }
  const clients: ClusterClient[] = [];
  return {
    cluster,
    config,
    configPath,
    dir,
    url: cluster.coordinatorUrl,
    logs,
    layout,
    async client(o = {}) {
      // With TLS, the cluster's own CA is trusted.
      const ca = config.tls?.ca === undefined ? undefined : readFileSync(config.tls.ca);
      const c = clientOf(await connect({ url: cluster.coordinatorUrl, ...(ca !== undefined && { ca }), ...(layout !== undefined && { token: layout.token }), ...o }));
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One cluster (and a client of it) for every test of the file: started before all (handed to
 * `ready`), stopped after all.
 */
export function useTestCluster(opts: TestClusterOptions, ready: (tc: TestCluster, client: ClusterClient) => void, clientOpts: { token?: string } = {}): void {
  let tc: TestCluster | undefined;
  beforeAll(async () => {
    tc = await startTestCluster(opts);
    ready(tc, await tc.client(clientOpts));
  });
  afterAll(async () => {
    await tc?.stop();
  });
}
