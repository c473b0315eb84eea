/**
 * A node's bounds on one connection, on real sockets: how many frames one message may hold,
 * how many requests run at once, and back-pressure on replies a peer does not read (its
 * requests wait and its socket is not read, so what it costs stays near the limit however
 * much it asks for). Also: our own peers never send more frames in one message than any
 * node takes.
 */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { pack } from "msgpackr";
import { Peer, type PeerOptions } from "../../src/net/peer.js";
import { decodeMessage, encodeFrames, readMessage } from "../../src/protocol/codec.js";
import { DecodeLimitError } from "../../src/encoding/decode-budget.js";
import type { Frame } from "../../src/protocol/frames.js";
import { FRAMES_PER_MESSAGE_SENT } from "../../src/net/limits.js";
import { waitUntil } from "../helpers/wait.js";

const servers: WebSocketServer[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const s of servers.splice(0)) {
    for (const c of s.clients) c.terminate();
    await new Promise((r) => s.close(r));
  }
});

/** A server whose one connection is a Peer with `opts`; resolves with its url and that peer once connected. */
async function serve(opts: PeerOptions): Promise<{ url: string; peer: () => Peer | undefined }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  servers.push(wss);
  await new Promise((r) => wss.once("listening", r));
  let peer: Peer | undefined;
  wss.on("connection", (ws) => (peer = new Peer(ws, opts)));
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, peer: () => peer };
}

async function rawClient(url: string): Promise<{ ws: WebSocket; replies: number; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url);
  clients.push(ws);
  const state = {
    ws,
    replies: 0,
    closed: new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() }))),
  };
  ws.on("message", (data: Buffer) => {
    const items = decodeMessage(data);
    state.replies += items?.length ?? 0;
  });
  await new Promise((r) => ws.once("open", r));
  return state;
}

const tableGets = (n: number, from = 1) => Array.from({ length: n }, (_, i) => ({ type: "table.get", rid: from + i }));

/** The error `f` throws. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error("it did not throw");
}

describe("the frame limit, in the decoder", () => {
  it("a msgpack batch past maxFrames is refused from its header (kind batch, its size), one at the limit decodes", () => {
    const err = thrown(() => readMessage(pack(tableGets(70_000)), { maxFrames: 1024 })) as DecodeLimitError;
    expect(err).toBeInstanceOf(DecodeLimitError);
    expect([err.kind, err.size, err.limit]).toEqual(["batch", 70_000, 1024]);
    expect(readMessage(pack(tableGets(1024)), { maxFrames: 1024 })).toHaveLength(1024);
  });

  it("a binary batch past maxFrames is refused while reading it; one at the limit decodes", () => {
    const frames = (n: number) => tableGets(n) as unknown as Frame[];
    const err = thrown(() => readMessage(encodeFrames(frames(1025), true), { maxFrames: 1024 })) as DecodeLimitError;
    expect([err.kind, err.limit]).toEqual(["batch", 1024]);
    expect(readMessage(encodeFrames(frames(1024), true), { maxFrames: 1024 })).toHaveLength(1024);
  });
});

describe("frames per message", () => {
  it("a batch announcing more frames than the node takes is closed with 1009, before any is handled", async () => {
    let handled = 0;
    const { url } = await serve({ maxFramesPerMessage: 1024, onRequest: () => ++handled });
    const c = await rawClient(url);
    c.ws.send(pack(tableGets(100_000)));
    const { code, reason } = await c.closed;
    expect(code).toBe(1009);
    expect(reason).toMatch(/100000 frames in one message: this node takes at most 1024/);
    expect(handled).toBe(0);
  });

  it("a binary message with more frames than the node takes is closed with 1009 too, before any is handled", async () => {
    let handled = 0;
    const { url } = await serve({ maxFramesPerMessage: 1024, onRequest: () => ++handled });
    const c = await rawClient(url);
    c.ws.send(encodeFrames(tableGets(2000) as unknown as Frame[], true));
    const { code, reason } = await c.closed;
    expect(code).toBe(1009);
    expect(reason).toMatch(/more than 1024 frames in one message: this node takes at most 1024/);
    expect(handled).toBe(0);
  });

  it("a batch at the limit is served", async () => {
    const { url } = await serve({ maxFramesPerMessage: 1024, onRequest: () => ({ ok: 1 }) });
    const c = await rawClient(url);
    c.ws.send(pack(tableGets(1024)));
    await waitUntil(() => c.replies === 1024, { what: "1024 replies" });
  });

  it("a Peer flushes at FRAMES_PER_MESSAGE_SENT frames, so a node at its lowest setting takes what our peers send", async () => {
    const counts: number[] = [];
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    servers.push(wss);
    await new Promise((r) => wss.once("listening", r));
    wss.on("connection", (ws) => {
      ws.on("message", (data: Buffer) => counts.push(decodeMessage(data)?.length ?? -1));
      void new Peer(ws, { onRequest: () => 1 });
    });
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    clients.push(ws);
    await new Promise((r) => ws.once("open", r));
    const peer = new Peer(ws);
    // 3000 requests in one turn of the event loop: tiny frames, far below the batch bytes.
    await Promise.all(Array.from({ length: 3000 }, () => peer.request({ type: "table.get" }, { timeoutMs: 10_000 })));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(3000);
    expect(Math.max(...counts)).toBeLessThanOrEqual(FRAMES_PER_MESSAGE_SENT);
    peer.close();
  });
});

describe("back-pressure", () => {
  it("runs at most maxRequestsInFlight requests at once; the others start as those end", async () => {
    const resolvers: (() => void)[] = [];
    const { url, peer } = await serve({
      flow: { maxRequestsInFlight: 3, maxReplyBytesInFlight: 1 << 20 },
      onRequest: () => new Promise<number>((resolve) => resolvers.push(() => resolve(1))),
    });
    const c = await rawClient(url);
    c.ws.send(pack(tableGets(10)));
    await waitUntil(() => resolvers.length === 3, { what: "three requests started" });
    // The other seven wait, unread from here on: the socket is paused.
    await waitUntil(() => peer()?.ws.isPaused, { what: "the socket to be paused" });
    expect(resolvers).toHaveLength(3);
    expect(peer()?.stalledMs).toBe(0); // waiting on its own work, not on the peer
    resolvers[0]?.();
    await waitUntil(() => resolvers.length === 4, { what: "a fourth request to start" });
    for (let i = 1; i < 10; i++) {
      await waitUntil(() => resolvers.length > i, { what: `request ${i + 1} to start` });
      resolvers[i]?.();
    }
    await waitUntil(() => c.replies === 10, { what: "ten replies" });
    await waitUntil(() => peer()?.ws.isPaused === false, { what: "the socket to be read again" });
  });

  it("a peer that does not read its replies gets no more work done than its limit allows, and is served in full once it reads", async () => {
    const LIMIT = 256 * 1024;
    const REPLY = 64 * 1024;
    const ASKED = 2000; // 125 MiB of replies
    let handled = 0;
    const { url, peer } = await serve({
      flow: { maxRequestsInFlight: 1000, maxReplyBytesInFlight: LIMIT },
      onRequest: () => {
        handled++;
        return Buffer.alloc(REPLY, 7);
      },
    });
    const c = await rawClient(url);
    c.ws.pause();
    c.ws.send(pack(tableGets(1000, 1)));
    c.ws.send(pack(tableGets(1000, 1001)));
    // Stuck: the replies it asked for do not drain, the node stopped reading it.
    await waitUntil(() => (peer()?.stalledMs ?? 0) > 200, { what: "the peer to count as stalled" });
    const server = peer() as Peer;
    expect(server.ws.isPaused).toBe(true);
    // What it costs: replies up to the limit plus the one that crossed it, plus a batch
    // being filled; the kernel's socket buffers took the rest of what was handled.
    expect(server.ws.bufferedAmount).toBeLessThanOrEqual(LIMIT + REPLY + 256 * 1024);
    // (Stalled means no request started for those 200 ms either.)
    expect(handled).toBeLessThan(ASKED / 4);
    c.ws.resume();
    await waitUntil(() => c.replies === ASKED, { what: "every reply once it reads", timeoutMs: 30_000 });
    expect(handled).toBe(ASKED);
    expect(server.stalledMs).toBe(0);
  });

  it("a large reply leaves in fragments (each a sign the peer reads) and arrives whole", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const { url, peer } = await serve({ flow: { maxRequestsInFlight: 10, maxReplyBytesInFlight: 64 * 1024 }, onRequest: () => big });
    const c = await rawClient(url);
    const bodies: Buffer[] = [];
    c.ws.on("message", (data: Buffer) => {
      const items = decodeMessage(data);
      for (const item of items ?? []) if (item.ok && item.frame.type === "ok") bodies.push(Buffer.from(item.frame.result as Uint8Array));
    });
    await waitUntil(() => peer(), { what: "the server side" });
    const server = peer() as Peer;
    // Which sends were the last fragment of their message.
    const fins: boolean[] = [];
    const send = server.ws.send.bind(server.ws) as (data: Buffer, opts: { fin?: boolean }, cb: (err?: Error) => void) => void;
    (server.ws as unknown as { send: typeof send }).send = (data, opts, cb) => {
      fins.push(opts.fin !== false);
      send(data, opts, cb);
    };
    c.ws.send(pack(tableGets(3)));
    await waitUntil(() => bodies.length === 3, { what: "three large replies" });
    for (const b of bodies) expect(b.equals(big)).toBe(true);
    // 3 MiB and a bit, in 1 MiB fragments: four sends per reply, the last one final.
    expect(fins).toEqual([false, false, false, true, false, false, false, true, false, false, false, true]);
    expect(server.stalledMs).toBe(0);
  });

  it("error replies for invalid frames wait their turn like the requests around them", async () => {
    let handled = 0;
    const { url, peer } = await serve({
      flow: { maxRequestsInFlight: 1000, maxReplyBytesInFlight: 64 * 1024 },
      onRequest: () => {
        handled++;
        return Buffer.alloc(64 * 1024);
      },
    });
    const c = await rawClient(url);
    c.ws.pause();
    const bad = Array.from({ length: 500 }, (_, i) => ({ type: "nope", rid: 10_000 + i, ["p".repeat(3000)]: 1 }));
    c.ws.send(pack([...tableGets(200), ...bad]));
    await waitUntil(() => (peer()?.stalledMs ?? 0) > 100, { what: "the peer to count as stalled" });
    expect(handled).toBeLessThan(200);
    c.ws.resume();
    await waitUntil(() => c.replies === 700, { what: "every reply" });
  });
});
