/**
 * Bounds on what one client can cost a node, against real processes (README, "Limits"):
 * connections in all and per token, frames per message, replies a client does not read,
 * and messages left unfinished. Every case checks what the client sees, that the node's
 * memory (VmRSS of its process) stays within a stated bound, and that the node keeps serving.
 *
 * The bounds are set low here (and the timeouts short) so that they are reached quickly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { pack } from "msgpackr";
import { Dict } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { RawPeer } from "../helpers/raw-peer.js";
import { Opcode, RawSocket, frameBytes } from "../helpers/raw-socket.js";
import { keysLedBy } from "../helpers/placement.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";

const T1 = "token-one-aaaaaaaa";
const T2 = "token-two-bbbbbbbb";
const MiB = 1024 * 1024;
const LIMITS = {
  maxConnections: 6,
  maxConnectionsPerToken: 4,
  maxReplyBytesInFlight: 1 * MiB,
  slowReaderTimeoutMs: 2_000,
  unfinishedMessageTimeoutMs: 2_000,
  // At least one message of the largest entry: maxEntryBytes + 8 MiB = 9 MiB.
  maxUnfinishedBytes: 12 * MiB,
};
/** What a node's RSS may grow by under each attack here (each asks for hundreds of MB or more). */
const RSS_GROWTH_BOUND = 64 * MiB;

let tc: TestCluster;
let client: ClusterClient;
const opened: { close(): void }[] = [];
let ridCounter = 0;
const rid = () => ++ridCounter;

beforeAll(async () => {
  delete process.env.SHARDICT_TOKEN;
  // Many partitions make the table (the coordinator's reply to table.get) some 12 KB.
  tc = await startTestCluster({ shards: 2, partitions: 1024, storageEngine: "memory", maxEntryBytes: MiB, clientTokens: [T1, T2], ...LIMITS });
  client = await tc.client({ token: T1 });
});

afterAll(async () => {
  for (const o of opened) o.close();
  await tc?.stop();
});

function urlOf(node: string): string {
  const url = node === "coordinator" ? tc.url : tc.cluster.urlOf(node);
  if (!url) throw new Error(`no url for ${node}`);
  return url;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function raw(node: string, token = T1): Promise<RawPeer> {
  const p = await RawPeer.open(urlOf(node), bearer(token));
  opened.push({ close: () => p.ws.terminate() });
  return p;
}

/** A raw connection that said hello (the coordinator serves clients nothing before). */
async function rawClient(node: string, token = T1): Promise<RawPeer> {
  const p = await raw(node, token);
  const r = await p.request({ type: "hello", rid: rid(), v: 1, clientId: `limits-${rid()}` });
  if (r.type !== "ok") throw new Error(`hello refused: ${JSON.stringify(r)}`);
  p.replies.length = 0;
  return p;
}

async function rawSocket(node: string, token = T1): Promise<RawSocket> {
  const s = await RawSocket.open(urlOf(node), bearer(token));
  opened.push({ close: () => s.destroy() });
  return s;
}

/** Resident memory of a node's process, in bytes. */
function rssOf(node: string): number {
  const pid = tc.cluster.pidOf(node);
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${node}`);
  return Number(m[1]) * 1024;
}

/** The line a node prints when it drops the connection from `port`. */
function dropLine(node: string, port: number): string | undefined {
  return tc.logs.find((l) => l.startsWith(`[${node}]`) && l.includes(`dropped the client connection from 127.0.0.1:${port}:`));
}

/** Wait for `node` to drop the connection from `port`, sampling its RSS meanwhile; returns the line and the largest RSS seen. */
async function droppedWhileSampling(node: string, port: number, what: string): Promise<{ line: string; peakRss: number }> {
  let peakRss = rssOf(node);
  const line = await waitUntil(
    () => {
      peakRss = Math.max(peakRss, rssOf(node));
      return dropLine(node, port);
    },
    { what, intervalMs: 20 },
  );
  return { line, peakRss };
}

/** The node answers a new connection at once. */
async function answers(node: string): Promise<void> {
  const p = await raw(node, T2);
  const r = await p.request({ type: "hello", rid: rid(), v: 1, clientId: "limits-probe" }, 5_000);
  expect(r.type).toBe("ok");
  p.ws.close();
  await p.closed;
}

describe("connection caps", () => {
  it("the connection past maxConnectionsPerToken gets HTTP 429, past maxConnections HTTP 503; nodes still get in; a freed place is taken again", async () => {
    const node = "shard-2";
    const held: RawSocket[] = [];
    for (let i = 0; i < 4; i++) held.push(await rawSocket(node, T1));
    await expect(RawSocket.open(urlOf(node), bearer(T1))).rejects.toThrow(/^HTTP 429: too many connections with this client token: at most 4 per node \(maxConnectionsPerToken\)/);
    for (let i = 0; i < 2; i++) held.push(await rawSocket(node, T2));
    await expect(RawSocket.open(urlOf(node), bearer(T2))).rejects.toThrow(/^HTTP 503: too many connections: this node takes at most 6 clients \(maxConnections\)/);
    // The cluster's own nodes are not counted: a node full of clients still takes them.
    const asNode = await RawPeer.open(urlOf(node), { "x-shardict-secret": tc.cluster.clusterSecret });
    asNode.ws.close();
    // Closing one makes room for one.
    held.shift()?.destroy();
    const again = await waitUntil(() => RawSocket.open(urlOf(node), bearer(T1)), { what: "a place to be freed" });
    held.push(again);
    await expect(RawSocket.open(urlOf(node), bearer(T1))).rejects.toThrow(/HTTP 503/);
    for (const s of held) s.destroy();
    await Promise.all(held.map((s) => s.closed));
    await waitUntil(() => answers(node).then(() => true), { what: "the node to take clients again" });
  });
});

describe("frames per message", () => {
  it("100,000 table.get in one message: closed with 1009 before any is answered; the coordinator stays small and responsive", async () => {
    const before = rssOf("coordinator");
    const p = await raw("coordinator");
    p.sendFrame(Array.from({ length: 100_000 }, (_, i) => ({ type: "table.get", rid: 1_000_000 + i })));
    const { code, reason } = await p.closed;
    expect(code).toBe(1009);
    expect(reason).toMatch(/^100000 frames in one message: this node takes at most 4096 \(maxFramesPerMessage\)/);
    expect(p.replies).toEqual([]);
    expect(rssOf("coordinator") - before).toBeLessThan(RSS_GROWTH_BOUND);
    await answers("coordinator");
  });
});

describe("replies a client does not read", () => {
  it("100,000 table.get in 25 messages from a client that never reads: the coordinator stops reading it, drops it after slowReaderTimeoutMs, and its RSS stays bounded", async () => {
    const before = rssOf("coordinator");
    const p = await rawClient("coordinator");
    const port = (p.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    p.ws.pause();
    // Each reply is the whole table (12 KB at 1024 partitions): 1.2 GB asked for.
    for (let m = 0; m < 25; m++) p.sendFrame(Array.from({ length: 4000 }, (_, i) => ({ type: "table.get", rid: 3_000_000 + m * 4000 + i })));
    const { line, peakRss } = await droppedWhileSampling("coordinator", port, "the coordinator to drop the client that does not read");
    expect(line).toMatch(/replies not read for \d+ ms \(slowReaderTimeoutMs 2000\)/);
    expect(peakRss - before).toBeLessThan(RSS_GROWTH_BOUND);
    p.ws.resume();
    await p.closed;
    await answers("coordinator");
  });

  it("a client asking a shard for GBs of large values without reading: the shard stops reading it and drops it; its RSS stays bounded and it keeps serving", async () => {
    const d = Dict.fromName("limits-large", { createIfMissing: true, client });
    await d.hydrate();
    const [placed] = keysLedBy(client.table, d.objectId, "shard-1", 1, "big-");
    if (!placed) throw new Error("no key on shard-1");
    const value = "v".repeat(900 * 1024);
    await d.put(placed.key, value);
    const before = rssOf("shard-1");

    const p = await rawClient("shard-1");
    const port = (p.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    p.ws.pause();
    const get = { type: "get", dict: d.objectId, part: placed.part, epoch: client.table.epoch, key: Buffer.from(encodeKey(placed.key)) };
    // 4 × 1000 gets of a 900 KB value: 3.5 GB of replies asked for.
    for (let m = 0; m < 4; m++) p.sendFrame(Array.from({ length: 1000 }, (_, i) => ({ ...get, rid: 4_000_000 + m * 1000 + i })));
    const { line, peakRss } = await droppedWhileSampling("shard-1", port, "the shard to drop the client that does not read");
    expect(line).toMatch(/replies not read for \d+ ms/);
    expect(peakRss - before).toBeLessThan(RSS_GROWTH_BOUND);
    // Other clients were served all along; they still are.
    expect(await d.get(placed.key)).toBe(value);
    p.ws.resume();
    await p.closed;
  });
});

// After the tests above, which measure RSS growth: this one grows the coordinator's heap.
describe("a client that reads its replies", () => {
  it("4096 table.get in one message (the limit) are all answered", async () => {
    const p = await rawClient("coordinator");
    const first = 2_000_000;
    p.sendFrame(Array.from({ length: 4096 }, (_, i) => ({ type: "table.get", rid: first + i })));
    await waitUntil(() => p.replies.length === 4096, { what: "4096 replies", timeoutMs: 60_000 });
    const rids = new Set(p.replies.map((r) => (r as { rid: number }).rid));
    expect(rids.size).toBe(4096);
    expect((p.replies[0] as { type: string }).type).toBe("ok");
    p.ws.close();
  });
});

describe("unfinished messages", () => {
  it("fragments without FIN: dropped after unfinishedMessageTimeoutMs; past maxUnfinishedBytes the largest holder at once; the shard stays bounded and serving", async () => {
    const node = "shard-1";
    const before = rssOf(node);
    const a = await rawSocket(node, T1);
    const b = await rawSocket(node, T2);
    // A and B: 3 MiB each, in 256 KiB fragments that never end (they answer pings).
    for (const s of [a, b]) {
      await s.sendFrame(Opcode.Binary, Buffer.alloc(256 * 1024, 1), false);
      for (let i = 1; i < 12; i++) await s.sendFrame(Opcode.Continuation, Buffer.alloc(256 * 1024, 1), false);
    }
    // C: one 7 MiB frame, not final. The node passes 12 MiB while C holds over 6 MiB: C is
    // then the largest holder whatever A and B have delivered yet.
    const c = await rawSocket(node, T1);
    void c.sendBytes(frameBytes(Opcode.Binary, Buffer.alloc(7 * MiB, 2), false));
    let peakRss = rssOf(node);
    const lines = await waitUntil(
      () => {
        peakRss = Math.max(peakRss, rssOf(node));
        const found = [a, b, c].map((s) => dropLine(node, s.localPort));
        return found.every((l) => l !== undefined) ? (found as string[]) : undefined;
      },
      { what: "all three connections to be dropped", intervalMs: 20 },
    );
    expect(lines[2]).toMatch(/this node holds too much unfinished input \(over 12582912 bytes, maxUnfinishedBytes\); this connection held the most/);
    expect(lines[0]).toMatch(/a message not finished within 2000 ms \(unfinishedMessageTimeoutMs\)/);
    expect(lines[1]).toMatch(/a message not finished within 2000 ms \(unfinishedMessageTimeoutMs\)/);
    await Promise.all([a.closed, b.closed, c.closed]);
    // The close frames, where the socket took them before it was cut.
    for (const [s, code] of [[a, 1008], [b, 1008], [c, 1013]] as const) if (s.closeFrame) expect(s.closeFrame.code).toBe(code);
    expect(peakRss - before).toBeLessThan(RSS_GROWTH_BOUND);
    await answers(node);
  });

  it("a fragmented message that is finished in time is served", async () => {
    const s = await rawSocket("shard-1", T2);
    const replies: Buffer[] = [];
    s.socket.on("data", (chunk: Buffer) => replies.push(chunk));
    const hello = pack({ type: "hello", rid: rid(), v: 1, clientId: "fragments" });
    await s.sendFrame(Opcode.Binary, hello.subarray(0, 5), false);
    await s.sendFrame(Opcode.Continuation, hello.subarray(5), true);
    await waitUntil(() => Buffer.concat(replies).includes("shardId"), { what: "the reply to the fragmented hello" });
    s.destroy();
  });
});
