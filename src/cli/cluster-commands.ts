/**
 * `shardict cluster …`: ask a running cluster for its status, or remove a shard from it.
 */
import { socketTls } from "../client/socket.js";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { CLIENT_SOCKET_OPTIONS } from "../net/client-socket-options.js";
import { clientOf, connect } from "../client/client.js";
import { ConnectionError } from "../errors.js";
import type { ClusterStatus } from "../coordinator/coordinator-node.js";
import { nodeHeaders } from "../net/auth.js";
import { Peer } from "../net/peer.js";
import type { Outgoing } from "../protocol/frames.js";
import { renderStatus } from "./status-view.js";

const DEFAULT_URL = "ws://127.0.0.1:7700";

/**
 * A request with node rights (the cluster secret): operator commands change membership,
 * which a client token must not allow.
 */
async function adminRequest(url: string, secret: string | undefined, frame: Outgoing): Promise<unknown> {
  // A wss:// cluster with a private CA: SHARDICT_CA names the CA's certificate file.
  const tls = socketTls({});
  const ws = new WebSocket(url, { ...CLIENT_SOCKET_OPTIONS, ...(tls.ca !== undefined && { ca: typeof tls.ca === "string" ? tls.ca : Buffer.from(tls.ca) }), headers: nodeHeaders(secret) });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(new ConnectionError(`${url} refused the connection (HTTP ${res.statusCode}): is $SHARDICT_CLUSTER_SECRET set?`)));
    ws.once("error", (err) => reject(new ConnectionError(`cannot connect to ${url}: ${err.message}`)));
  });
  const peer = new Peer(ws, { label: "admin→coordinator" });
  try {
    return await peer.request(frame, { timeoutMs: 30_000 });
  } finally {
    peer.close(1000, "done");
  }
}

/** The coordinator's status, over a short-lived client. */
export async function fetchStatus(url: string, retryBudgetMs?: number): Promise<ClusterStatus> {
  const client = await connect({ url, ...(retryBudgetMs !== undefined && { retryBudgetMs }) });
  try {
    return await clientOf(client).coordinatorRequest({ type: "status" });
  } finally {
    client.close();
  }
}

export async function clusterCommand(args: string[], secret: string | undefined, usage: string, fail: (m: string) => never): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { url: { type: "string" }, json: { type: "boolean" }, watch: { type: "boolean" }, wait: { type: "boolean" } },
    allowPositionals: true,
    strict: true,
  });
  const url = values.url ?? process.env.SHARDICT_URL ?? DEFAULT_URL;
  if (sub === "status") {
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}"`);
    for (;;) {
      const status = await fetchStatus(url);
      if (values.json) console.log(JSON.stringify(status, null, 2));
      else console.log(`${values.watch ? "\x1b[2J\x1b[H" : ""}${renderStatus(status)}`);
      if (!values.watch || (status.rebalance.moving === 0 && status.moves.length === 0)) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (sub === "remove-shard") {
    const id = positionals[0];
    if (id === undefined || positionals.length > 1) fail(`remove-shard takes one shard id\n${usage}`);
    const r = (await adminRequest(url, secret, { type: "cluster.removeShard", shardId: id })) as { state: string };
    console.log(`shard ${id} is ${r.state}: its partitions move to the other shards, then it stops`);
    if (!values.wait) return;
    for (;;) {
      const status = await fetchStatus(url);
      const s = status.shards.find((x) => x.id === id);
      if (!s) break;
      process.stdout.write(`\r${id}: ${s.state}, ${s.partitions} primaries and ${s.replicas} replicas left   `);
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log(`\nshard ${id} has left the cluster`);
    return;
  }
  fail(`unknown cluster command "${sub ?? ""}"\n${usage}`);
}
