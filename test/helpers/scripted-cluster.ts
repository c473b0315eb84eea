/**
 * A fake cluster for SDK tests: a coordinator that knows one dict and one shard, and a shard
 * whose data-path answers a test scripts. It speaks the real protocol (our `Peer` on real
 * sockets), so the SDK under test is the real one; only the nodes are scripted, which makes
 * orders of failures reachable that a real cluster produces only by chance.
 */
import { WebSocketServer } from "ws";
import { Peer } from "../../src/net/peer.js";
import { PROTOCOL_VERSION, type DictInfoData, type PartitionTableData, type RequestFrame } from "../../src/protocol/frames.js";

export const SCRIPTED_DICT = "di-scripted";
const PARTITIONS = 4;

export interface ScriptedCluster {
  url: string;
  /** Data-path frames the shard received, in order. */
  received: RequestFrame[];
  close(): Promise<void>;
}

/** An answer that drops the connection instead of replying (the request was received). */
export const DROP = Symbol("drop the connection");

/** An answer that never comes (the node stalls on this request). */
export const STALL = Symbol("never answer");

async function listen(onRequest: (frame: RequestFrame) => unknown): Promise<{ url: string; wss: WebSocketServer }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.once("listening", r));
  wss.on("connection", (ws) => {
    void new Peer(ws, {
      label: "scripted",
      onRequest: (frame) => {
        const answer = onRequest(frame);
        if (answer === STALL) return new Promise(() => {});
        if (answer !== DROP) return answer;
        ws.terminate();
        return new Promise(() => {});
      },
    });
  });
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, wss };
}

/**
 * Start a scripted cluster whose shard answers data frames with `answer` (return a result,
 * throw an error, or return {@link DROP}); `coordinatorAnswer` may script registry requests.
 */
export async function scriptedCluster(answer: (frame: RequestFrame, attempt: number) => unknown, coordinatorAnswer?: (frame: RequestFrame) => unknown): Promise<ScriptedCluster> {
  const received: RequestFrame[] = [];
  const shard = await listen((frame) => {
    if (frame.type === "hello") return { v: PROTOCOL_VERSION, shardId: "s1" };
    // The client's request floor (request-window.ts) is bookkeeping, not a data request.
    if (frame.type === "done") return null;
    received.push(frame);
    return answer(frame, received.length);
  });
  const table: PartitionTableData = {
    epoch: 1,
    partitions: PARTITIONS,
    owners: Array.from({ length: PARTITIONS }, () => ["s1"]),
    pepochs: Array.from({ length: PARTITIONS }, () => 1),
    learners: Array.from({ length: PARTITIONS }, () => []),
    handoffs: Array.from({ length: PARTITIONS }, () => null),
    shards: [{ id: "s1", url: shard.url }],
  };
  const info: DictInfoData = { id: SCRIPTED_DICT, name: "scripted", env: "main", createdAt: 0, createdBy: null, ephemeral: false };
  const coordinator = await listen((frame) => {
    switch (frame.type) {
      case "hello":
        return { v: PROTOCOL_VERSION, clientId: frame.clientId, table, maxEntryBytes: 1 << 20, heartbeatMs: 10_000 };
      case "table.get":
        return table;
      case "heartbeat":
        return undefined;
      case "dict.lookup":
      case "dict.get":
        return info;
      default:
        if (coordinatorAnswer) return coordinatorAnswer(frame);
        throw new Error(`the scripted coordinator does not serve ${frame.type}`);
    }
  });
  return {
    url: coordinator.url,
    received,
    async close() {
      for (const wss of [shard.wss, coordinator.wss]) {
        for (const c of wss.clients) c.terminate();
        await new Promise((r) => wss.close(r));
      }
    },
  };
}
