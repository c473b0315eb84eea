/** The SDK closes a connection whose node has gone silent (socket-liveness.ts), and keeps one that answers. */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { watchLiveness } from "../../src/client/socket-liveness.js";
import { waitUntil } from "../helpers/wait.js";

const servers: WebSocketServer[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    for (const c of s.clients) c.terminate();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

/** A server on a free port; `answers: false` never answers a ping, as a vanished host would not. */
async function server(answers: boolean): Promise<string> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", autoPong: answers });
  servers.push(wss);
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const addr = wss.address();
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return `ws://127.0.0.1:${addr.port}`;
}

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return ws;
}

describe("watchLiveness", () => {
  it("closes a connection that hears nothing, pings and all", async () => {
    const ws = await open(await server(false));
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    watchLiveness(ws, 300, 100);
    // 1006: terminated here, without a closing handshake the other side would never answer.
    expect(await closed).toBe(1006);
  });

  it("keeps a connection whose node answers its pings, however long it is idle", async () => {
    const ws = await open(await server(true));
    let pongs = 0;
    ws.on("pong", () => pongs++);
    watchLiveness(ws, 300, 100);
    // Many silences of the closing length have passed, each bridged by a pong.
    await waitUntil(() => pongs >= 12, { what: "12 pongs", timeoutMs: 10_000 });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });
});
