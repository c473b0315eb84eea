/**
 * TLS: a cluster with `"tls"` in its config listens with TLS only (wss://), its nodes reach
 * each other over TLS (replication, rf 2), and the SDK and CLI trust a private CA when given
 * it; without it, with another CA, or over plain ws://, a connection is refused.
 */
import { afterAll, describe, expect, it } from "vitest";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connect, ConnectionError, Dict } from "../../src/index.js";
import { clientOf } from "../../src/client/client.js";
import type { ClusterStatus } from "../../src/coordinator/coordinator-node.js";
import { startTestCluster, useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { makeThrowawayCa as makeTestCa } from "../../src/launcher/throwaway-ca.js";
import { cleanEnv, runCli } from "../helpers/cli.js";

const ca = makeTestCa();
const other = makeTestCa("another");
afterAll(() => {
  for (const c of [ca, other]) rmSync(c.dir, { recursive: true, force: true });
});

let tc: TestCluster;
useTestCluster({ replicationFactor: 2, tls: { cert: ca.cert, key: ca.key, ca: ca.ca } }, (t) => {
  tc = t;
});

describe("TLS", () => {
  it("every node listens on wss://; the SDK trusting the CA reads and writes, replicated between nodes over TLS", async () => {
    expect(tc.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    for (const s of tc.config.shards) expect(tc.cluster.urlOf(s.id)).toMatch(/^wss:\/\//);
    const client = await connect({ url: tc.url, ca: ca.caPem });
    try {
      const d = Dict.fromName("over-tls", { createIfMissing: true, client });
      const entries = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, { i }]));
      await d.update(entries);
      for (let i = 0; i < 50; i += 7) expect(await d.get(`k${i}`)).toEqual({ i });
      expect(await d.len()).toBe(50);
      // rf 2: every write was acknowledged by a replica, over a node-to-node TLS connection;
      // the CA given as bytes works too.
      const again = await connect({ url: tc.url, ca: Buffer.from(ca.caPem) });
      expect(await Dict.fromName("over-tls", { client: again }).get("k49")).toEqual({ i: 49 });
      again.close();
      // Every entry is held twice: the replicas got them over node-to-node TLS (a replica that
      // could not be reached would have been dropped, and the writes acknowledged without it).
      const cc = clientOf(client);
      await waitUntil(async () => {
        const st = (await cc.coordinatorRequest({ type: "status" })) as ClusterStatus;
        const primary = st.shards.reduce((n, x) => n + (x.entries ?? 0), 0);
        const held = st.shards.reduce((n, x) => n + (x.held ?? 0), 0);
        return primary === 50 && held === 100 && st.shards.every((x) => x.health === "alive");
      }, { what: "every entry on a primary and a replica" });
    } finally {
      client.close();
    }
  });

  it("without the CA, with another CA, or over plain ws://, the connection is refused with ConnectionError", async () => {
    await expect(connect({ url: tc.url })).rejects.toBeInstanceOf(ConnectionError);
    await expect(connect({ url: tc.url, ca: other.caPem })).rejects.toBeInstanceOf(ConnectionError);
    await expect(connect({ url: tc.url.replace(/^wss:/, "ws:"), ca: ca.caPem })).rejects.toBeInstanceOf(ConnectionError);
  });

  it("the CLI trusts the CA named by SHARDICT_CA or --ca", async () => {
    const env = cleanEnv({ SHARDICT_URL: tc.url, SHARDICT_CA: ca.ca });
    expect((await runCli(["dict", "create", "cli-tls"], { env })).code).toBe(0);
    expect((await runCli(["dict", "put", "cli-tls", "k", "v"], { env })).code).toBe(0);
    const got = await runCli(["dict", "get", "cli-tls", "k"], { env });
    expect(got.stdout).toBe("v\n");
    const refused = await runCli(["dict", "get", "cli-tls", "k"], { env: cleanEnv({ SHARDICT_URL: tc.url }) });
    expect(refused.code).toBe(3);
    // Or given as --ca.
    const flag = await runCli(["dict", "get", "cli-tls", "k", "--ca", ca.ca, "--url", tc.url], { env: cleanEnv() });
    expect(flag.stdout).toBe("v\n");
  });
});

describe("TLS with client certificates, and rotation", () => {
  it("requireClientCert refuses a client without a certificate of the cluster's CA; SIGHUP swaps the certificate without a restart", async () => {
    // The node's files are copies, so the test can rotate them in place.
    const own = makeTestCa("rotating");
    const dir = own.dir;
    const cert = join(dir, "live.pem");
    const key = join(dir, "live.key");
    copyFileSync(own.cert, cert);
    copyFileSync(own.key, key);
    const t = await startTestCluster({ shards: 2, tls: { cert, key, ca: own.ca, requireClientCert: true } });
    try {
      const mine = { ca: own.caPem, cert: readFileSync(own.cert), key: readFileSync(own.key) };
      // No certificate, or one of another CA: refused (the nodes, which show theirs, work: the cluster started).
      await expect(connect({ url: t.url, ca: own.caPem })).rejects.toBeInstanceOf(ConnectionError);
      await expect(connect({ url: t.url, ca: own.caPem, cert: readFileSync(other.cert), key: readFileSync(other.key) })).rejects.toBeInstanceOf(ConnectionError);
      const c = await connect({ url: t.url, ...mine });
      await Dict.fromName("mtls", { createIfMissing: true, client: c }).put("k", 1);
      c.close();

      // Rotate the coordinator's certificate to one of another CA: once it has read the new
      // files (SIGHUP), a client trusting only the old CA is refused, and one trusting the new one served.
      const next = makeTestCa("next");
      copyFileSync(next.cert, cert);
      copyFileSync(next.key, key);
      process.kill(t.cluster.pidOf("coordinator") as number, "SIGHUP");
      await waitUntil(() => t.logs.some((l) => /coordinator: reloaded its TLS certificate and key/.test(l)), { what: "the coordinator to reload" });
      await expect(connect({ url: t.url, ...mine })).rejects.toBeInstanceOf(ConnectionError);
      // (The CA that checks client certificates stays the one in the config: clients keep theirs.)
      const rotated = await connect({ url: t.url, ca: next.caPem, cert: mine.cert, key: mine.key });
      rotated.close();
      rmSync(next.dir, { recursive: true, force: true });
    } finally {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
