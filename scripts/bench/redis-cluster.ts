/**
 * A 3-master Redis Cluster for `npm run bench -- --vs-redis-cluster`: three redis-servers on
 * free loopback ports (port + 10000, the cluster bus, free too), each with an append-only file
 * fsynced before every reply and no replica, joined by `redis-cli --cluster create`, driven
 * through ioredis `Cluster` with auto-pipelining. Everything is stopped and the folder removed
 * afterwards, also when starting fails.
 */
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Cluster } from "ioredis";
import { freePort, onPath, serverRoom, startServer, waitFor, type KvTarget } from "./servers.js";
import { findRedis } from "./systems.js";

const run = promisify(execFile);
const MASTERS = 3;

/** redis-server's arguments for one master: fsynced before every reply, no snapshots, no replica. */
export function clusterArgs(port: number, dir: string): string[] {
  return ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", dir, "--daemonize", "no"];
}

export interface RedisBinaries {
  server: string;
  cli: string;
  version: string;
}

/** redis-server and redis-cli on PATH, or undefined. */
export function findRedisCluster(): RedisBinaries | undefined {
  const server = findRedis();
  const cli = onPath("redis-cli");
  if (server === undefined || cli === undefined) return undefined;
  return { server: server.path, cli, version: server.version };
}

export async function startRedisCluster(bin: RedisBinaries): Promise<KvTarget> {
  const { dir: root, servers, stop: stopServers } = serverRoom("shardict-bench-rcluster-");
  let client: Cluster | undefined;
  const stop = async () => {
    client?.disconnect();
    await stopServers();
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < MASTERS; i++) ports.push(await freePort([10000]));
    for (const port of ports) {
      const dir = join(root, String(port));
      mkdirSync(dir);
      servers.push(startServer(`redis-server:${port}`, bin.server, clusterArgs(port, dir)));
    }
    const ping = (port: number) => run(bin.cli, ["-h", "127.0.0.1", "-p", String(port), "ping"], { timeout: 5_000 });
    await waitFor("the redis-servers to answer PING", async () => (await Promise.all(ports.map(ping))).every((r) => r.stdout.trim() === "PONG"), servers);
    const create = await run(bin.cli, ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"], { timeout: 60_000 }).catch(
      (err: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(`redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
      },
    );
    if (!/All 16384 slots covered/.test(create.stdout)) throw new Error(`redis-cli --cluster create: ${create.stdout}`);
    const info = (port: number) => run(bin.cli, ["-h", "127.0.0.1", "-p", String(port), "cluster", "info"], { timeout: 5_000 });
    await waitFor("CLUSTER INFO to say cluster_state:ok on every master", async () => (await Promise.all(ports.map(info))).every((r) => /cluster_state:ok/.test(r.stdout)), servers);
    const c = new Cluster(
      ports.map((port) => ({ host: "127.0.0.1", port })),
      { enableAutoPipelining: true, redisOptions: { maxRetriesPerRequest: 0 } },
    );
    client = c;
    await new Promise<void>((resolve, reject) => {
      c.once("ready", () => resolve());
      c.once("error", reject);
    });
    return {
      label: "redis cluster",
      pids: () => servers.filter((s) => !s.exited()).map((s) => ({ group: "redis-servers", pid: s.pid })),
      put: (k, v) => c.set(k, v),
      get: (k) => c.get(k),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
