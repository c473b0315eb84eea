import net, { type AddressInfo, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { TcpProxy } from "../chaos/tcp-proxy.js";
import { waitUntil } from "../helpers/wait.js";

// Undo everything a test started, newest first, even when it failed.
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const WAIT = { timeoutMs: 5_000, intervalMs: 5 };

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

interface EchoServer {
  port: number;
  /** Connections the server accepted (i.e. that the proxy actually dialed). */
  accepted: number;
  /** Bytes the server received: proves blackholed bytes were never replayed. */
  received: number;
  sockets: Set<Socket>;
}

async function echoServer(): Promise<EchoServer> {
  const echo: EchoServer = { port: 0, accepted: 0, received: 0, sockets: new Set() };
  const server = net.createServer((socket) => {
    echo.accepted++;
    echo.sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => echo.sockets.delete(socket));
    socket.on("data", (chunk: Buffer) => {
      echo.received += chunk.length;
      socket.write(chunk);
    });
  });
  echo.port = await listen(server);
  cleanups.push(async () => {
    for (const socket of echo.sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return echo;
}

async function startProxy(port: number, seed = 42): Promise<TcpProxy> {
  const proxy = await TcpProxy.start({ host: "127.0.0.1", port }, { seed });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A raw TCP client that records everything that happens to it. */
class Client {
  readonly socket: Socket;
  readonly chunks: Buffer[] = [];
  connected = false;
  closed = false;
  error: NodeJS.ErrnoException | undefined;

  constructor(port: number) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.setNoDelay(true);
    this.socket.on("connect", () => (this.connected = true));
    this.socket.on("data", (chunk: Buffer) => this.chunks.push(chunk));
    this.socket.on("error", (err) => (this.error = err));
    this.socket.on("close", () => (this.closed = true));
    cleanups.push(() => this.socket.destroy());
  }

  static async open(port: number): Promise<Client> {
    const client = new Client(port);
    await waitUntil(() => client.connected, { ...WAIT, what: "client connect" });
    return client;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }

  send(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  async waitText(expected: string): Promise<void> {
    const check = (): boolean => {
      const got = this.text();
      if (got !== expected) throw new Error(`got ${JSON.stringify(got)}`); // shows up in the timeout message
      return true;
    };
    await waitUntil(check, { ...WAIT, what: `echo ${JSON.stringify(expected)}` });
  }

  async waitClosed(): Promise<void> {
    await waitUntil(() => this.closed, { ...WAIT, what: "client close" });
  }
}

/** The one bounded wait: poll for `check` up to `ms`; true if it ever held. */
async function happensWithin(ms: number, check: () => boolean): Promise<boolean> {
  return waitUntil(check, { timeoutMs: ms, intervalMs: 10 }).then(
    () => true,
    () => false,
  );
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("TcpProxy", () => {
  it("forwards bytes both ways and counts them", async () => {
    const echo = await echoServer();
    const proxy = await startProxy(echo.port);
    expect(proxy.url).toBe(`ws://127.0.0.1:${proxy.port}`);

    const client = await Client.open(proxy.port);
    client.send("hello");
    await client.waitText("hello");
    client.send(" world");
    await client.waitText("hello world");

    expect(proxy.stats()).toMatchObject({ accepted: 1, open: 1, bytesToTarget: 11, bytesToClient: 11, cut: 0 });

    // A graceful client close is propagated and the connection is forgotten.
    client.socket.end();
    await client.waitClosed();
    await waitUntil(() => echo.sockets.size === 0 && proxy.stats().open === 0, { ...WAIT, what: "graceful close" });
  });

  it("cut() resets existing connections and refuses new ones; heal() restores", async () => {
    const echo = await echoServer();
    const proxy = await startProxy(echo.port);
    const client = await Client.open(proxy.port);
    client.send("a");
    await client.waitText("a");

    proxy.cut();
    await client.waitClosed();
    expect(client.error?.code).toBe("ECONNRESET"); // an RST, not a polite FIN
    await waitUntil(() => echo.sockets.size === 0, { ...WAIT, what: "upstream side cut too" });

    const refused = new Client(proxy.port);
    refused.send("b");
    await refused.waitClosed();
    expect(refused.text()).toBe("");
    expect(echo.accepted).toBe(1); // never reached the target
    expect(proxy.stats()).toMatchObject({ accepted: 2, cut: 1, refused: 1, open: 0 });

    proxy.heal();
    const again = await Client.open(proxy.port);
    again.send("back");
    await again.waitText("back");
    expect(echo.accepted).toBe(2);
  });

  it("blackhole() silently drops bytes both ways; heal() resets the blackholed connections", async () => {
    const echo = await echoServer();
    const proxy = await startProxy(echo.port);
    const before = await Client.open(proxy.port);
    before.send("a");
    await before.waitText("a");

    proxy.blackhole();
    before.send("lost");
    const during = await Client.open(proxy.port); // accepted, but goes nowhere
    during.send("void");

    const anything = await happensWithin(300, () => before.text() !== "a" || during.text() !== "" || before.closed || during.closed);
    expect(anything).toBe(false); // no data and no close: a partition, not a failure
    expect(echo.received).toBe(1);
    expect(echo.accepted).toBe(1); // the connection made during the blackhole never dialed the target
    expect(proxy.stats().bytesDiscarded).toBe(8);

    proxy.heal();
    await before.waitClosed();
    await during.waitClosed();
    await waitUntil(() => echo.sockets.size === 0, { ...WAIT, what: "upstream of blackholed conn reset" });
    expect(proxy.stats().healedBlackholed).toBe(2);

    const after = await Client.open(proxy.port);
    after.send("back");
    await after.waitText("back");
    expect(echo.received).toBe(1 + 4); // "lost" and "void" were never replayed
  });

  it("delay(100) holds every chunk, and delays with jitter keep per-direction order", async () => {
    const echo = await echoServer();
    const proxy = await startProxy(echo.port);
    const client = await Client.open(proxy.port);

    proxy.delay(100);
    const t0 = performance.now();
    client.send("ping");
    await client.waitText("ping");
    // 100 ms on the way in and 100 ms on the way back.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(200);

    // With jitter larger than the gap between chunks, only the per-lane queue keeps them in order.
    proxy.delay(100, 50);
    let expected = "ping";
    for (let i = 0; i < 100; i++) {
      const piece = `<${i}>`;
      expected += piece;
      client.send(piece);
      await new Promise((resolve) => setImmediate(resolve)); // let each write go out as its own chunk
    }
    await client.waitText(expected);
    expect(proxy.stats().bytesToClient).toBe(expected.length);

    // heal() removes the delay: a 2 s delay would make this round trip take 4 s or more.
    proxy.delay(2_000);
    proxy.heal();
    const t1 = performance.now();
    client.send("!");
    await client.waitText(`${expected}!`);
    expect(performance.now() - t1).toBeLessThan(2_000);
  });

  it("setTarget() sends new connections to the new target; existing ones stay", async () => {
    const a = await echoServer();
    const b = await echoServer();
    const proxy = await startProxy(a.port);
    const first = await Client.open(proxy.port);
    first.send("1");
    await first.waitText("1");

    proxy.setTarget({ host: "127.0.0.1", port: b.port });
    const second = await Client.open(proxy.port);
    second.send("2");
    await second.waitText("2");
    first.send("3");
    await first.waitText("13");

    expect(a).toMatchObject({ accepted: 1, received: 2 });
    expect(b).toMatchObject({ accepted: 1, received: 1 });
  });

  it("dropConnections(1) resets existing and new connections on their next chunk", async () => {
    const echo = await echoServer();
    const proxy = await startProxy(echo.port);
    const existing = await Client.open(proxy.port);
    existing.send("a");
    await existing.waitText("a");

    proxy.dropConnections(1);
    existing.send("b");
    await existing.waitClosed();
    const fresh = await Client.open(proxy.port);
    fresh.send("c");
    await fresh.waitClosed();

    expect(existing.text()).toBe("a");
    expect(fresh.text()).toBe("");
    expect(echo.received).toBe(1);
    expect(proxy.stats()).toMatchObject({ dropped: 2, open: 0 });

    proxy.heal();
    const healthy = await Client.open(proxy.port);
    healthy.send("ok");
    await healthy.waitText("ok");
  });

  it("dropConnections(p) with the same seed drops at the same moments", async () => {
    // One chunk per round trip, so chunk boundaries (and hence PRNG draws) are identical per run.
    async function survivedRoundTrips(seed: number): Promise<number> {
      const echo = await echoServer();
      const proxy = await startProxy(echo.port, seed);
      proxy.dropConnections(0.2);
      const client = await Client.open(proxy.port);
      let text = "";
      for (let i = 0; i < 50; i++) {
        text += "x";
        client.send("x");
        await waitUntil(() => client.text() === text || client.closed, WAIT);
        if (client.closed) return i;
      }
      return 50;
    }
    const first = await survivedRoundTrips(7);
    expect(first).toBeLessThan(50); // (0.8^2)^50 chance of surviving: effectively never
    expect(await survivedRoundTrips(7)).toBe(first);
  });

  it("carries a WebSocket end to end, and a cut closes it", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((resolve) => wss.once("listening", resolve));
    wss.on("connection", (ws) => {
      ws.on("error", () => {});
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    cleanups.push(() => {
      for (const ws of wss.clients) ws.terminate();
      return new Promise((resolve) => wss.close(resolve));
    });
    const proxy = await startProxy((wss.address() as AddressInfo).port);
    proxy.delay(5, 5); // a little latency must not break framing

    const roundTrip = async (): Promise<WebSocket> => {
      const ws = new WebSocket(proxy.url);
      ws.on("error", () => {});
      cleanups.push(() => ws.terminate());
      await new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("close", reject);
      });
      const reply = new Promise<string>((resolve) => ws.once("message", (data: Buffer) => resolve(data.toString())));
      ws.send("hello through the proxy");
      expect(await reply).toBe("hello through the proxy");
      return ws;
    };

    const ws = await roundTrip();
    const closed = new Promise<number>((resolve) => ws.once("close", resolve));
    proxy.cut();
    expect(await closed).toBe(1006); // abnormal closure: the link died, no close frame

    proxy.heal();
    const again = await roundTrip();
    const closedCleanly = new Promise<number>((resolve) => again.once("close", resolve));
    again.close(1000);
    expect(await closedCleanly).toBe(1000);
    await waitUntil(() => proxy.stats().open === 0, { ...WAIT, what: "proxy forgets closed ws" });
  });

  it("a dead target resets the client without crashing anything", async () => {
    const proxy = await startProxy(await freePort());
    const client = new Client(proxy.port);
    client.send("anyone?");
    await client.waitClosed();
    expect(client.text()).toBe("");
    await waitUntil(() => proxy.stats().open === 0, WAIT);
  });

  it("close() destroys connections and stops listening", async () => {
    const echo = await echoServer();
    const proxy = await TcpProxy.start({ host: "127.0.0.1", port: echo.port });
    const client = await Client.open(proxy.port);
    client.send("x");
    await client.waitText("x");

    await proxy.close();
    await client.waitClosed();
    await waitUntil(() => echo.sockets.size === 0, WAIT);
    const late = new Client(proxy.port);
    await late.waitClosed();
    expect(late.error?.code).toBe("ECONNREFUSED");
  });
});
