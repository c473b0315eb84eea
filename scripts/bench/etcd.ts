/**
 * etcd for `npm run bench -- --vs-redis-cluster --vs-etcd`: one member on free loopback ports
 * with its own data folder (etcd fsyncs its write-ahead log before it acknowledges a write),
 * driven through the `etcd3` client from this process. Loaded only with --vs-etcd (the client
 * is a devDependency).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { freePort, onPath, serverRoom, startServer, waitFor, type KvTarget } from "./servers.js";

/** etcd on PATH and its version; undefined if absent. */
export function findEtcd(): { path: string; version: string } | undefined {
  const path = onPath("etcd");
  if (path === undefined) return undefined;
  const version = spawnSync(path, ["--version"], { encoding: "utf8" }).stdout?.match(/etcd Version: (\S+)/)?.[1] ?? "unknown";
  return { path, version };
}

export async function startEtcd(path: string): Promise<KvTarget> {
  const { dir, servers, stop: stopServers } = serverRoom("shardict-bench-etcd-");
  let client: Etcd3 | undefined;
  const stop = async () => {
    client?.close();
    await stopServers();
  };
  try {
    const clientUrl = `http://127.0.0.1:${await freePort()}`;
    const peerUrl = `http://127.0.0.1:${await freePort()}`;
    servers.push(
      startServer("etcd", path, [
        "--name", "bench",
        "--data-dir", join(dir, "data"),
        "--listen-client-urls", clientUrl,
        "--advertise-client-urls", clientUrl,
        "--listen-peer-urls", peerUrl,
        "--initial-advertise-peer-urls", peerUrl,
        "--initial-cluster", `bench=${peerUrl}`,
        "--initial-cluster-state", "new",
        "--log-level", "warn",
      ]),
    );
    const c = new Etcd3({ hosts: clientUrl });
    client = c;
    await waitFor("etcd to take a write", async () => {
      await c.put("bench-ready").value("1");
      return true;
    }, servers);
    return {
      label: "etcd",
      pids: () => servers.filter((s) => !s.exited()).map((s) => ({ group: "etcd", pid: s.pid })),
      put: (k, v) => c.put(k).value(v).exec(),
      get: (k) => c.get(k).string(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
