/**
 * Which form a connection's messages take: a peer that opens with `binary` sends the data
 * path in binary and gets binary back; a peer that speaks only msgpack is answered in msgpack
 * (older SDKs, raw tools), whatever the other side would prefer.
 */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { pack, unpack } from "msgpackr";
import { Peer } from "../../src/net/peer.js";
import { BINARY_MESSAGE } from "../../src/protocol/binary-frames.js";

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    for (const c of s.clients) c.terminate();
    await new Promise((r) => s.close(r));
  }
});

/** A server answering every `get` with the value bytes "v"; records the first byte of what it received. */
async function server(firstBytes: number[]): Promise<string> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  servers.push(wss);
  await new Promise((r) => wss.once("listening", r));
  wss.on("connection", (ws) => {
    ws.on("message", (data: Buffer) => firstBytes.push(data[0] as number));
    void new Peer(ws, { onRequest: () => Buffer.from("v") });
  });
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
}

async function open(url: string, replies: number[]): Promise<WebSocket> {
  const ws = new WebSocket(url);
  ws.on("message", (data: Buffer) => replies.push(data[0] as number));
  await new Promise((r) => ws.once("open", r));
  return ws;
}

const get = { type: "get", dict: "dict-1", part: 3, epoch: 1, key: Buffer.from([0xa1, 0x6b]) } as const;

describe("Peer message forms", () => {
  it("a binary peer sends binary and is answered in binary", async () => {
    const received: number[] = [];
    const replies: number[] = [];
    const url = await server(received);
    const peer = new Peer(await open(url, replies), { binary: true });
    const r = await peer.request(get, { timeoutMs: 5_000 });
    expect(Buffer.from(r as Uint8Array).toString()).toBe("v");
    expect(received).toEqual([BINARY_MESSAGE]);
    expect(replies).toEqual([BINARY_MESSAGE]);
    peer.close();
  });

  it("a msgpack peer is answered in msgpack", async () => {
    const received: number[] = [];
    const replies: number[] = [];
    const url = await server(received);
    const peer = new Peer(await open(url, replies));
    await expect(peer.request(get, { timeoutMs: 5_000 })).resolves.toBeInstanceOf(Uint8Array);
    expect(received[0]).not.toBe(BINARY_MESSAGE);
    expect(replies[0]).not.toBe(BINARY_MESSAGE);
    peer.close();
  });

  it("a raw msgpack client (no shardict code) gets a msgpack reply it can read", async () => {
    const url = await server([]);
    const ws = await open(url, []);
    const reply = new Promise<Record<string, unknown>>((resolve) => ws.once("message", (data: Buffer) => resolve(unpack(data) as Record<string, unknown>)));
    ws.send(pack({ ...get, rid: 7 }));
    expect(await reply).toMatchObject({ type: "ok", rid: 7 });
    ws.close();
  });
});
