/**
 * Who may connect: client tokens (`Authorization: Bearer …`) on a cluster that lists
 * `clientTokens`, the cluster secret (`X-Shardict-Secret`) between nodes, and the CLI's
 * refusal to listen on a non-loopback address without both.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import { AuthError, ConnectionError, connect, Dict } from "../../src/index.js";
import { RawPeer } from "../helpers/raw-peer.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { cleanEnv, loopbackConfig, runCli, spawnCli, writeTempConfig } from "../helpers/cli.js";

const TOKEN = "token-aaaaaaaa";

let tc: TestCluster;
const rawPeers: RawPeer[] = [];
const tempDirs: string[] = [];
let ridCounter = 0;
const rid = () => ++ridCounter;

beforeAll(async () => {
  // The SDK falls back to these; the tests decide what is presented.
  delete process.env.SHARDICT_TOKEN;
  delete process.env.SHARDICT_URL;
  tc = await startTestCluster({ clientTokens: [TOKEN] });
});

afterAll(async () => {
  for (const p of rawPeers) if (p.ws.readyState === WebSocket.OPEN) p.close();
  await tc?.stop();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function urlOf(node: string): string {
  const url = node === "coordinator" ? tc.url : tc.cluster.urlOf(node);
  if (url === undefined || url === "") throw new Error(`no url for ${node}`);
  return url;
}

async function raw(node: string, headers: Record<string, string>): Promise<RawPeer> {
  const p = await RawPeer.open(urlOf(node), headers);
  rawPeers.push(p);
  return p;
}

async function connectError(opts: Parameters<typeof connect>[0]): Promise<unknown> {
  try {
    const c = await connect(opts);
    c.close();
  } catch (err) {
    return err;
  }
  throw new Error("connect() succeeded but should have been refused");
}

const NODES = ["coordinator", "shard-1", "shard-2"] as const;

describe("client tokens", () => {
  it("connect without a token rejects with AuthError", async () => {
    const err = await connectError({ url: tc.url });
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).name).toBe("AuthError");
    expect((err as Error).message).toMatch(/token is required/);
  });

  it("connect with a wrong token rejects with AuthError", async () => {
    for (const token of ["token-bbbbbbbb", "token-aaaaaaa", `${TOKEN}x`, "wrong"]) {
      const err = await connectError({ url: tc.url, token });
      expect(err, token).toBeInstanceOf(AuthError);
      expect((err as Error).name).toBe("AuthError");
      expect((err as Error).message).toMatch(/unknown client token/);
    }
  });

  it("connect with the right token works end to end (coordinator and shards)", async () => {
    const client = await tc.client({ token: TOKEN });
    const d = Dict.fromName("auth-ok", { createIfMissing: true, client });
    // Enough keys that every shard is written to and read from.
    const entries = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]));
    await d.update(entries);
    expect(await d.put("single", { v: 1 })).toBe(true);
    expect(await d.get("single")).toEqual({ v: 1 });
    for (let i = 0; i < 30; i++) expect(await d.get(`k${i}`)).toBe(i);
    expect(await d.len()).toBe(31);
  });

  it.each(NODES)("a raw connection to %s without a token is refused with HTTP 401", async (node) => {
    await expect(RawPeer.open(urlOf(node))).rejects.toThrow(/HTTP 401/);
  });

  it.each(NODES)("a raw connection to %s with a wrong token or a malformed header is refused with HTTP 401", async (node) => {
    await expect(RawPeer.open(urlOf(node), { authorization: "Bearer token-bbbbbbbb" })).rejects.toThrow(/HTTP 401/);
    await expect(RawPeer.open(urlOf(node), { authorization: TOKEN })).rejects.toThrow(/HTTP 401/); // no "Bearer "
    await expect(RawPeer.open(urlOf(node), { authorization: `Basic ${TOKEN}` })).rejects.toThrow(/HTTP 401/);
  });

  it.each(NODES)("a raw connection to %s with the right token is accepted and answered", async (node) => {
    const p = await raw(node, { authorization: `Bearer ${TOKEN}` });
    const r = await p.request({ type: "hello", rid: rid(), v: 1, clientId: "raw-auth" });
    expect(r.type).toBe("ok");
    p.close();
  });
});

describe("the cluster secret", () => {
  it.each(NODES)("a raw connection to %s with a wrong x-shardict-secret is refused with HTTP 401", async (node) => {
    await expect(RawPeer.open(urlOf(node), { "x-shardict-secret": "not-the-secret" })).rejects.toThrow(/HTTP 401/);
    await expect(RawPeer.open(urlOf(node), { "x-shardict-secret": "" })).rejects.toThrow(/HTTP 401/);
    await expect(RawPeer.open(urlOf(node), { "x-shardict-secret": `${tc.cluster.clusterSecret}x` })).rejects.toThrow(/HTTP 401/);
  });

  it.each(NODES)("a wrong secret is refused by %s even with a valid client token", async (node) => {
    await expect(
      RawPeer.open(urlOf(node), { "x-shardict-secret": "not-the-secret", authorization: `Bearer ${TOKEN}` }),
    ).rejects.toThrow(/HTTP 401/);
  });

  it("with clientTokens but no cluster secret, a made-up x-shardict-secret does not get past the tokens", async () => {
    // Regression: without a cluster secret, any X-Shardict-Secret header once earned node
    // rights and skipped the token check. On loopback the coordinator now generates a secret
    // (next tests); a node that starts without one refuses every secret header.
    const { dir, path } = writeTempConfig(loopbackConfig({ clientTokens: [TOKEN] }));
    tempDirs.push(dir);
    const run = spawnCli(["coordinator", "--config", path, "--port", "0"]);
    try {
      await waitUntil(() => /listening on ws:\/\/\S+/.test(run.stdout) || run.exit !== undefined, { what: "the coordinator to start or exit" });
      if (run.exit !== undefined) {
        // Refusing to start is a correct answer.
        expect(run.exit.code).not.toBe(0);
        expect(run.stderr).toMatch(/secret/);
        return;
      }
      const url = /listening on (ws:\/\/\S+)/.exec(run.stdout)?.[1] ?? "";
      // Control: without the header the token is required.
      await expect(RawPeer.open(url)).rejects.toThrow(/HTTP 401/);
      // With a made-up secret header and no token, the handshake must be refused too.
      let forged: RawPeer | undefined;
      try {
        forged = await RawPeer.open(url, { "x-shardict-secret": "made-up" });
      } catch (err) {
        expect((err as Error).message).toMatch(/HTTP 401/);
      }
      if (forged) {
        const r = await forged.request({ type: "shard.register", rid: rid(), v: 1, shardId: "shard-1", url: "ws://127.0.0.1:9" });
        forged.close();
        expect.fail(`a connection with a made-up secret and no token was accepted as a node; shard.register answered ${JSON.stringify(r.type)}`);
      }
    } finally {
      if (run.exit === undefined) run.child.kill("SIGTERM");
      await run.done;
    }
  });

  it("a coordinator given no secret generates one in its data folder: no other value gets node rights, and a shard on the same machine finds it", async () => {
    const { dir, path } = writeTempConfig(loopbackConfig({ storageEngine: "memory" }));
    tempDirs.push(dir);
    const secretPath = join(dir, "data", ".cluster-secret");
    const coordinator = spawnCli(["coordinator", "--config", path, "--port", "0"]);
    let shard: ReturnType<typeof spawnCli> | undefined;
    try {
      await waitUntil(() => /listening on ws:\/\/\S+/.test(coordinator.stdout) || coordinator.exit !== undefined, { what: "the coordinator to start" });
      expect(coordinator.exit, coordinator.stderr).toBeUndefined();
      expect(coordinator.stdout).toContain(`no cluster secret given: generated one, kept in ${secretPath}`);
      const secret = readFileSync(secretPath, "utf8").trim();
      expect(secret.length).toBeGreaterThanOrEqual(16);
      expect(statSync(secretPath).mode & 0o777).toBe(0o600);
      const url = /listening on (ws:\/\/\S+)/.exec(coordinator.stdout)?.[1] ?? "";
      // Regression: without a secret, any X-Shardict-Secret value once earned node rights
      // (a fake shard registered and was given partitions; removeShard was accepted).
      for (const value of ["", "made-up", "anything-at-all", `${secret}x`]) {
        await expect(RawPeer.open(url, { "x-shardict-secret": value }), value).rejects.toThrow(/HTTP 401/);
      }
      const node = await RawPeer.open(url, { "x-shardict-secret": secret });
      expect(await node.request({ type: "table.get", rid: rid() })).toMatchObject({ type: "ok" });
      node.close();
      // A shard started by hand with the same config (no secret in its environment) reads it and joins.
      shard = spawnCli(["shard", "--config", path, "--id", "shard-1", "--port", "0", "--coordinator", url]);
      await waitUntil(() => /shard shard-1 registered/.test(coordinator.stdout) || shard?.exit !== undefined, { what: "shard-1 to register" });
      expect(shard.exit, shard.stderr).toBeUndefined();
    } finally {
      for (const run of [shard, coordinator]) {
        if (run?.exit === undefined) run?.child.kill("SIGINT");
        await run?.done;
      }
    }
  });

  it("a shard started by hand without a secret, and none kept where its config points, exits saying where to find it", async () => {
    const { dir, path } = writeTempConfig(loopbackConfig());
    tempDirs.push(dir);
    const r = await runCli(["shard", "--config", path, "--id", "shard-1", "--port", "0", "--coordinator", "ws://127.0.0.1:1"]);
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/shard shard-1: no cluster secret, so it cannot join: set SHARDICT_CLUSTER_SECRET/);
    expect(r.stderr).toContain(join(dir, "data", ".cluster-secret"));
  });

  it("the right secret is accepted as a node (the coordinator serves node requests on it)", async () => {
    const p = await raw("coordinator", { "x-shardict-secret": tc.cluster.clusterSecret });
    // table.get without hello: served to nodes, refused to clients that did not say hello.
    const r = await p.request({ type: "table.get", rid: rid() });
    expect(r.type).toBe("ok");
    expect((r.result as { partitions: number }).partitions).toBe(tc.config.partitions);
    p.close();

    const client = await raw("coordinator", { authorization: `Bearer ${TOKEN}` });
    const refused = await client.request({ type: "table.get", rid: rid() });
    expect(refused).toMatchObject({ type: "err", code: "INVALID" });
    client.close();
  });
});

describe("the CLI", () => {
  it("cluster status needs the token on a cluster that lists clientTokens", async () => {
    const without = await runCli(["cluster", "status", "--json", "--url", tc.url]);
    expect(without.timedOut).toBe(false);
    expect(without.code).not.toBe(0);
    expect(without.stderr).toMatch(/token/);

    const withToken = await runCli(["cluster", "status", "--json", "--url", tc.url], { env: cleanEnv({ SHARDICT_TOKEN: TOKEN }) });
    expect(withToken.code, withToken.stderr).toBe(0);
    const status = JSON.parse(withToken.stdout) as { shards: unknown[] };
    expect(status.shards).toHaveLength(3);
  });

  it("refuses to run a coordinator on a non-loopback address without clientTokens", async () => {
    const { dir, path } = writeTempConfig(loopbackConfig({ clientTokens: [] }));
    tempDirs.push(dir);
    // Even with a cluster secret: an open client side is the problem.
    const r = await runCli(["coordinator", "--config", path, "--host", "0.0.0.0", "--port", "0"], {
      env: cleanEnv({ SHARDICT_CLUSTER_SECRET: "a-long-cluster-secret" }),
    });
    expect(r.timedOut, `the coordinator started anyway:\n${r.stdout}`).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0/);
    expect(r.stderr).toMatch(/clientTokens/);
    expect(r.stdout).not.toMatch(/listening on/);
  });

  it("refuses a non-loopback address with clientTokens but no cluster secret", async () => {
    const { dir, path } = writeTempConfig(loopbackConfig({ clientTokens: [TOKEN] }));
    tempDirs.push(dir);
    const r = await runCli(["coordinator", "--config", path, "--host", "0.0.0.0", "--port", "0"]);
    expect(r.timedOut, `the coordinator started anyway:\n${r.stdout}`).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0/);
    expect(r.stderr).toMatch(/secret/);
  });

  it("refuses a non-loopback address with clientTokens and a secret but without TLS, unless --insecure", async () => {
    const { dir, path } = writeTempConfig(loopbackConfig({ clientTokens: [TOKEN], clusterSecret: "a-long-cluster-secret" }));
    tempDirs.push(dir);
    const r = await runCli(["coordinator", "--config", path, "--host", "0.0.0.0", "--port", "0"]);
    expect(r.timedOut, `the coordinator started anyway:\n${r.stdout}`).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without TLS/);
    expect(r.stderr).toMatch(/--insecure/);
  });

  it("does listen on a non-loopback address with clientTokens, a cluster secret and --insecure, saying so loudly (control)", async () => {
    const { dir, path } = writeTempConfig(loopbackConfig({ clientTokens: [TOKEN], clusterSecret: "a-long-cluster-secret" }));
    tempDirs.push(dir);
    const run = spawnCli(["coordinator", "--config", path, "--host", "0.0.0.0", "--port", "0", "--insecure"]);
    try {
      await waitUntil(() => /coordinator: listening on ws:\/\/0\.0\.0\.0:\d+/.test(run.stdout) || run.exit !== undefined, { what: "the coordinator to listen" });
      expect(run.exit, run.stderr).toBeUndefined();
      expect(run.stdout).toMatch(/WARNING: --insecure: listening on 0\.0\.0\.0 WITHOUT TLS/);
      const port = /listening on ws:\/\/0\.0\.0\.0:(\d+)/.exec(run.stdout)?.[1];
      // Reachable, and it enforces the token.
      const err = await connectError({ url: `ws://127.0.0.1:${port}` });
      expect(err).toBeInstanceOf(AuthError);
      const ok = await connect({ url: `ws://127.0.0.1:${port}`, token: TOKEN });
      ok.close();
    } finally {
      run.child.kill("SIGTERM");
      const { code } = await run.done;
      expect(code).toBe(0);
    }
  });
});

describe("connection errors are not auth errors", () => {
  it("a closed port is a ConnectionError, not an AuthError", async () => {
    const err = await connectError({ url: "ws://127.0.0.1:1" });
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).not.toBeInstanceOf(AuthError);
  });
});

describe("browser origins", () => {
  /** Open a raw WebSocket as a browser would (naming its page's origin); resolves with the HTTP status, or 101 once open. */
  function upgradeStatus(url: string, origin: string | undefined, token?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        ...(origin !== undefined && { origin }),
        ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }),
      });
      ws.once("open", () => {
        ws.close();
        resolve(101);
      });
      ws.once("unexpected-response", (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once("error", reject);
    });
  }

  it("a page of an origin not in allowedOrigins is refused (403) even with a valid token; a listed one, and programs naming none, are let in", async () => {
    const open = await startTestCluster({ shards: 1, allowedOrigins: ["https://app.example"] });
    try {
      const shard = open.cluster.urlOf("shard-1") as string;
      for (const url of [open.url, shard]) {
        expect(await upgradeStatus(url, "https://evil.example")).toBe(403);
        expect(await upgradeStatus(url, "null")).toBe(403);
        expect(await upgradeStatus(url, "https://app.example")).toBe(101);
        expect(await upgradeStatus(url, undefined)).toBe(101);
      }
    } finally {
      await open.stop();
    }
    // By default no origin is listed: no web page may connect, token or not.
    expect(await upgradeStatus(tc.url, "http://localhost:3000", TOKEN)).toBe(403);
    expect(await upgradeStatus(tc.url, undefined, TOKEN)).toBe(101);
  });
});
