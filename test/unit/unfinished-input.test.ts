/**
 * Unfinished input: the node-wide tracker (timeouts, the cap and who is dropped for it), and
 * the count it is fed, read from `ws`'s receiver, checked against real frames on a socket.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { UnfinishedInput } from "../../src/net/unfinished-input.js";
import { unfinishedBytesOf } from "../../src/net/ws-receiver.js";
import { frameBytes, Opcode, RawSocket } from "../helpers/raw-socket.js";
import { waitUntil } from "../helpers/wait.js";

describe("UnfinishedInput", () => {
  const limits = { maxBytes: 100, timeoutMs: 1000 };

  it("sums what connections hold and forgets a connection that holds nothing", () => {
    const u = new UnfinishedInput<string>(limits);
    expect(u.observe("a", 30, 0)).toEqual([]);
    expect(u.observe("b", 20, 0)).toEqual([]);
    expect(u.total).toBe(50);
    u.observe("a", 0, 1);
    expect(u.total).toBe(20);
    expect(u.bytesOf("a")).toBe(0);
    u.remove("b");
    expect(u.total).toBe(0);
  });

  it("past the node cap, drops the largest holders until the total is back under it", () => {
    const u = new UnfinishedInput<string>(limits);
    u.observe("a", 30, 0);
    u.observe("b", 40, 0);
    // 30 + 40 + 50 = 120 > 100: the largest (c) goes, and only it.
    expect(u.observe("c", 50, 0)).toEqual(["c"]);
    expect(u.total).toBe(70);
    expect(u.bytesOf("c")).toBe(0);
    // 30 + 95 = 125: b is now the largest; then 30 is under the cap.
    expect(u.observe("b", 95, 0)).toEqual(["b"]);
    expect(u.total).toBe(30);
    // One connection alone over the cap is dropped too.
    expect(u.observe("d", 101, 0)).toEqual(["d"]);
    expect(u.total).toBe(30);
  });

  it("drops a connection whose message stays unfinished past the timeout, counted from its first byte", () => {
    const u = new UnfinishedInput<string>(limits);
    u.observe("a", 10, 0);
    u.observe("a", 20, 900); // more of the same message: the clock keeps running
    expect(u.expired(1000)).toEqual([]);
    expect(u.expired(1001)).toEqual(["a"]);
    expect(u.total).toBe(0);
    expect(u.expired(5000)).toEqual([]);
  });

  it("a finished message restarts the clock for what is held after it", () => {
    const u = new UnfinishedInput<string>(limits);
    u.observe("a", 10, 0);
    u.completed("a");
    u.observe("a", 5, 900); // the next message began with the chunk that ended the last
    expect(u.expired(1500)).toEqual([]);
    expect(u.expired(1901)).toEqual(["a"]);
  });

  it("a connection not being read does not time out, and its clock starts again once it is", () => {
    const u = new UnfinishedInput<string>(limits);
    u.observe("a", 10, 0);
    for (let t = 500; t <= 5000; t += 500) {
      u.notReading("a");
      expect(u.expired(t)).toEqual([]);
    }
    // Read again from 5000 (the last look): expires 1000 ms later.
    expect(u.expired(6000)).toEqual([]);
    expect(u.expired(6001)).toEqual(["a"]);
  });
});

describe("unfinishedBytesOf (ws receiver internals)", () => {
  const servers: WebSocketServer[] = [];
  const sockets: RawSocket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) {
      for (const c of s.clients) c.terminate();
      await new Promise((r) => s.close(r));
    }
  });

  async function pair(): Promise<{ server: WebSocket; client: RawSocket; messages: Buffer[] }> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 10 * 1024 * 1024 });
    servers.push(wss);
    await new Promise((r) => wss.once("listening", r));
    const messages: Buffer[] = [];
    const connected = new Promise<WebSocket>((resolve) =>
      wss.once("connection", (ws) => {
        ws.on("message", (data: Buffer) => messages.push(data));
        resolve(ws);
      }),
    );
    const client = await RawSocket.open(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    sockets.push(client);
    return { server: await connected, client, messages };
  }

  it("counts fragments held and a frame still arriving; zero once the message is finished", async () => {
    const { server, client, messages } = await pair();
    expect(unfinishedBytesOf(server)).toBe(0);
    await client.sendFrame(Opcode.Binary, Buffer.alloc(100_000, 1), false);
    await waitUntil(() => unfinishedBytesOf(server) === 100_000, { what: "the first fragment to be held" });
    await client.sendFrame(Opcode.Continuation, Buffer.alloc(50_000, 2), false);
    await waitUntil(() => unfinishedBytesOf(server) === 150_000, { what: "the second fragment to be held" });
    // A ping in between is a whole control frame: it adds nothing.
    await client.sendFrame(Opcode.Ping, Buffer.from("hi"), true);
    // Half of the last frame (header and 30,000 of its 60,000 bytes): held unparsed.
    const last = frameBytes(Opcode.Continuation, Buffer.alloc(60_000, 3), true);
    const cut = last.length - 30_000;
    await client.sendBytes(last.subarray(0, cut));
    // (Its header is parsed and consumed; the 30,000 payload bytes wait for the rest.)
    await waitUntil(() => unfinishedBytesOf(server) === 180_000, { what: "the partial frame to be held" });
    expect(messages).toHaveLength(0);
    await client.sendBytes(last.subarray(cut));
    await waitUntil(() => messages.length === 1, { what: "the message" });
    expect(messages[0]?.length).toBe(210_000);
    expect(unfinishedBytesOf(server)).toBe(0);
  });
});
