/** A request whose reply never comes fails after its timeout; the others are not affected. */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { Peer } from "../../src/net/peer.js";
import { ConnectionError } from "../../src/errors.js";

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    for (const c of s.clients) c.terminate();
    await new Promise((r) => s.close(r));
  }
});

/** A server that answers only `table.get`, and never anything else. */
async function quietServer(): Promise<string> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  servers.push(wss);
  await new Promise((r) => wss.once("listening", r));
  wss.on("connection", (ws) => {
    const peer = new Peer(ws, { onRequest: (frame) => (frame.type === "table.get" ? { answered: true } : new Promise(() => {})) });
    void peer;
  });
  const addr = wss.address() as { port: number };
  return `ws://127.0.0.1:${addr.port}`;
}

describe("Peer request timeouts", () => {
  it("rejects a request without a reply after its timeout, and still delivers the others", async () => {
    const url = await quietServer();
    const ws = new WebSocket(url);
    await new Promise((r) => ws.once("open", r));
    const peer = new Peer(ws, { label: "test" });
    const t0 = performance.now();
    const silent = peer.request({ type: "heartbeat" }, { timeoutMs: 200 });
    const answered = peer.request({ type: "table.get" }, { timeoutMs: 5_000 });
    const forever = peer.request({ type: "status" });
    await expect(answered).resolves.toEqual({ answered: true });
    await expect(silent).rejects.toThrow(ConnectionError);
    await expect(silent).rejects.toThrow(/no reply to heartbeat within 200 ms/);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(195);
    // A request without a timeout waits until the connection closes.
    expect(peer.inFlight).toBe(1);
    peer.close();
    await expect(forever).rejects.toThrow(ConnectionError);
  });

  it("onError turns a timeout, a close or a closed peer into the value resolved with", async () => {
    const url = await quietServer();
    const ws = new WebSocket(url);
    await new Promise((r) => ws.once("open", r));
    const peer = new Peer(ws, { label: "test" });
    const seen: string[] = [];
    const onError = (err: Error) => {
      seen.push(err.constructor.name);
      return "fallback";
    };
    const frame = { type: "table.get" as const };
    await expect(peer.request(frame, { owned: true, timeoutMs: 5_000, onError })).resolves.toEqual({ answered: true });
    // An owned frame carries the rid itself (no copy was made).
    expect(typeof (frame as { rid?: unknown }).rid).toBe("number");
    await expect(peer.request({ type: "heartbeat" }, { timeoutMs: 100, onError })).resolves.toBe("fallback");
    const open = peer.request({ type: "status" }, { onError });
    peer.close();
    await expect(open).resolves.toBe("fallback");
    await expect(peer.request({ type: "status" }, { onError })).resolves.toBe("fallback");
    expect(seen).toEqual(["ConnectionError", "ConnectionError", "ConnectionError"]);
  });

  it("tells onReplied of each ok reply someone waits for, not of one that comes after its timeout", async () => {
    let release!: () => void;
    const late = new Promise<void>((r) => (release = r));
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    servers.push(wss);
    await new Promise((r) => wss.once("listening", r));
    wss.on("connection", (ws) => {
      void new Peer(ws, { onRequest: (frame) => (frame.type === "heartbeat" ? late.then(() => "late") : "now") });
    });
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    await new Promise((r) => ws.once("open", r));
    const replied: number[] = [];
    let next = 100;
    const peer = new Peer(ws, { label: "test", nextRid: () => ++next, onReplied: (rid) => replied.push(rid) });
    await expect(peer.request({ type: "heartbeat" }, { timeoutMs: 50 })).rejects.toThrow(ConnectionError);
    release();
    // The late reply is queued on the server before this request arrives, so it has come in by the time this one is answered.
    await expect(peer.request({ type: "status" })).resolves.toBe("now");
    expect(replied).toEqual([102]);
    peer.close();
  });
});
