/**
 * NATS JetStream KV for `npm run bench -- --vs-redis-cluster --vs-nats`: three `nats-server -js`
 * processes clustered on free loopback ports, each with its own store folder, and a KV bucket
 * with `replicas` 1 or 3, driven through @nats-io/kv over @nats-io/transport-node from this
 * process. Each server syncs every write (`sync_interval: always`) where the server knows that
 * option (nats-server 2.10 and later); older ones sync every 2 minutes, and the bench says so.
 * Loaded only with --vs-nats (the clients are devDependencies).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { freePort, onPath, serverRoom, startServer, waitFor, type KvTarget } from "./servers.js";

const SERVERS = 3;
const BUCKET = "bench";

export interface NatsBinary {
  path: string;
  version: string;
  /** Whether this nats-server knows `jetstream { sync_interval: always }` (fsync before every acknowledgement). */
  syncAlways: boolean;
}

/** nats-server on PATH, its version, and whether it can sync every write; undefined if absent. */
export function findNats(): NatsBinary | undefined {
  const path = onPath("nats-server");
  if (path === undefined) return undefined;
  const version = spawnSync(path, ["--version"], { encoding: "utf8" }).stdout?.match(/\bv(\d\S*)/)?.[1] ?? "unknown";
  const dir = mkdtempSync(join(tmpdir(), "shardict-bench-nats-check-"));
  try {
    const conf = join(dir, "check.conf");
    writeFileSync(conf, `jetstream { store_dir: "${dir}", sync_interval: always }\n`);
    const syncAlways = spawnSync(path, ["-c", conf, "-t"], { encoding: "utf8" }).status === 0;
    return { path, version, syncAlways };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startNatsKv(bin: NatsBinary, replicas: 1 | 3): Promise<KvTarget> {
  const { dir: root, servers, stop: stopServers } = serverRoom("shardict-bench-nats-");
  let nc: NatsConnection | undefined;
  const stop = async () => {
    await nc?.close().catch(() => undefined);
    await stopServers();
  };
  try {
    const ports: { client: number; route: number }[] = [];
    for (let i = 0; i < SERVERS; i++) ports.push({ client: await freePort(), route: await freePort() });
    const routes = ports.map((p) => `"nats://127.0.0.1:${p.route}"`).join(", ");
    ports.forEach((p, i) => {
      const dir = join(root, `n${i + 1}`);
      mkdirSync(dir);
      const conf = join(root, `n${i + 1}.conf`);
      writeFileSync(
        conf,
        [
          `server_name: n${i + 1}`,
          `listen: "127.0.0.1:${p.client}"`,
          `jetstream { store_dir: "${dir}"${bin.syncAlways ? ", sync_interval: always" : ""} }`,
          `cluster { name: bench, listen: "127.0.0.1:${p.route}", routes: [${routes}] }`,
        ].join("\n") + "\n",
      );
      servers.push(startServer(`nats-server n${i + 1}`, bin.path, ["-c", conf]));
    });
    const c = await (async () => {
      let conn: NatsConnection | undefined;
      await waitFor("a connection to nats-server", async () => {
        conn = await connect({ servers: ports.map((p) => `127.0.0.1:${p.client}`), timeout: 1_000 });
        return true;
      }, servers);
      return conn as NatsConnection;
    })();
    nc = c;
    const kvm = new Kvm(c);
    let kv: KV | undefined;
    // The bucket can be made once the servers have elected JetStream's meta leader.
    await waitFor(`JetStream to make a KV bucket with ${replicas} replica(s)`, async () => {
      kv = await kvm.create(BUCKET, { replicas });
      return true;
    }, servers);
    const bucket = kv as KV;
    return {
      label: `nats R${replicas}`,
      pids: () => servers.filter((s) => !s.exited()).map((s) => ({ group: "nats-servers", pid: s.pid })),
      put: (k, v) => bucket.put(k, v),
      get: async (k) => (await bucket.get(k))?.string(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
