/**
 * `GET /metrics` on every node's port: request counts per operation and outcome on the
 * shards, storage and holding gauges, the coordinator's cluster view, and the token a
 * cluster with `clientTokens` requires.
 */
import { encodeValue } from "../../src/client/value-codec.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, KeyError } from "../../src/index.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { RawPeer } from "../helpers/raw-peer.js";
import { parseSamples, sumOf, type Sample } from "../helpers/prom-text.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";

const TOKEN = "token-metrics-aaaa";
const SCRAPER = "scraper-only-token";

function httpUrl(tc: TestCluster, node: string): string {
  const ws = node === "coordinator" ? tc.url : tc.cluster.urlOf(node);
  if (ws === undefined || ws === "") throw new Error(`no url for ${node}`);
  return `${ws.replace(/^ws:/, "http:")}/metrics`;
}

async function scrape(tc: TestCluster, node: string, token?: string): Promise<Sample[]> {
  const res = await fetch(httpUrl(tc, node), token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseSamples(await res.text());
}

const SHARDS = ["shard-1", "shard-2", "shard-3"];

async function scrapeShards(tc: TestCluster): Promise<Sample[]> {
  return (await Promise.all(SHARDS.map((s) => scrape(tc, s)))).flat();
}

describe("metrics of an open cluster", () => {
  let tc: TestCluster;
  beforeAll(async () => {
    delete process.env.SHARDICT_TOKEN;
    tc = await startTestCluster({ shards: 3, replicationFactor: 2 });
  });
  afterAll(async () => {
    await tc?.stop();
  });

  it("counts a known workload per operation and outcome, and shows what the shards hold", async () => {
    const client = await tc.client();
    const d = Dict.fromName("metrics-workload", { createIfMissing: true, client });
    await d.put("warm-up", 0); // the dict is known everywhere before the counting starts
    await d.delete("warm-up");
    const before = await scrapeShards(tc);

    for (let i = 0; i < 100; i++) await d.put(`k${i}`, i);
    for (let i = 0; i < 50; i++) expect(await d.get(`k${i}`)).toBe(i);
    await expect(d.delete("missing")).rejects.toBeInstanceOf(KeyError);

    const after = await scrapeShards(tc);
    const grew = (name: string, labels: Record<string, string>) => sumOf(after, name, labels) - sumOf(before, name, labels);
    expect(grew("shardict_requests_total", { op: "put", outcome: "ok" })).toBe(100);
    expect(grew("shardict_requests_total", { op: "get", outcome: "ok" })).toBe(50);
    expect(grew("shardict_requests_total", { op: "del", outcome: "KEY_ERROR" })).toBe(1);
    expect(grew("shardict_requests_total", { op: "del", outcome: "ok" })).toBe(0);
    expect(grew("shardict_request_duration_seconds_count", { op: "put" })).toBe(100);
    expect(grew("shardict_request_duration_seconds_count", { op: "get" })).toBe(50);
    expect(grew("shardict_fsync_duration_seconds_count", {})).toBeGreaterThan(0);
    expect(grew("shardict_commit_batch_mutations_sum", {})).toBeGreaterThanOrEqual(100);
    // One writer, one put at a time: a round that waited for more writes found none (and
    // then stopped waiting for a while), on some shard at least.
    expect(after.some((s) => s.name === "shardict_commit_lingers_total" && s.labels.outcome === "joined")).toBe(true);
    expect(sumOf(after, "shardict_commit_lingers_total", { outcome: "ran_out" })).toBeGreaterThanOrEqual(1);
    // The log's wall time by phase: the rounds that synced, and their syncs' time.
    const rounds = grew("shardict_log_rounds_total", {});
    expect(rounds).toBe(grew("shardict_fsync_duration_seconds_count", {}));
    for (const phase of ["idle", "turn", "write", "sync"]) expect(grew("shardict_log_round_seconds_total", { phase }), phase).toBeGreaterThan(0);
    expect(grew("shardict_log_round_seconds_total", { phase: "sync" })).toBeCloseTo(grew("shardict_fsync_duration_seconds_sum", {}), 1);
    expect(sumOf(after, "shardict_entries", { role: "primary" })).toBe(100);
    expect(sumOf(after, "shardict_entries", { role: "all" })).toBe(200); // rf 2: every entry twice
    let bytes = 0;
    for (let i = 0; i < 100; i++) bytes += encodeKey(`k${i}`).byteLength + (await encodeValue(i)).byteLength;
    expect(sumOf(after, "shardict_entry_bytes", { role: "primary" })).toBe(bytes);
    expect(sumOf(after, "shardict_entry_bytes", { role: "all" })).toBe(2 * bytes);
    // Every write waited for its replica: one acknowledged frame at least per put.
    expect(grew("shardict_replication_ack_seconds_count", {})).toBeGreaterThanOrEqual(1);
    expect(sumOf(after, "shardict_replication_frames_in_flight", {})).toBe(0);
    expect(sumOf(after, "shardict_replication_lag_seconds", {})).toBe(0);
    expect(sumOf(after, "shardict_partitions", { role: "primary" })).toBe(64);
    expect(sumOf(after, "shardict_partitions", { role: "replica" })).toBe(64);
    expect(sumOf(after, "shardict_dicts", {})).toBeGreaterThanOrEqual(3);
    // Answers kept for retries: at most the 100 puts' on two copies (and the warm-up's few),
    // fewer once the client's request floor reached the shards (request-window.test.ts shows
    // them dropped).
    expect(after.filter((s) => s.name === "shardict_dedup_answers")).toHaveLength(3);
    expect(sumOf(after, "shardict_dedup_answers", {})).toBeLessThanOrEqual(210);
    expect(sumOf(after, "shardict_parked_waiters", {})).toBe(0);
    expect(sumOf(after, "shardict_client_connections", {})).toBeGreaterThanOrEqual(3);
    // 151 replies at least left the shards, batched into WebSocket messages.
    expect(grew("shardict_ws_frames_sent_total", {})).toBeGreaterThanOrEqual(151);
    expect(grew("shardict_ws_messages_sent_total", {})).toBeGreaterThanOrEqual(1);
    expect(grew("shardict_ws_messages_sent_total", {})).toBeLessThanOrEqual(grew("shardict_ws_frames_sent_total", {}));
    // prom-client's default metrics, per node.
    expect(after.some((s) => s.name === "process_cpu_user_seconds_total")).toBe(true);
    expect(after.some((s) => s.name === "nodejs_eventloop_lag_seconds")).toBe(true);
  });

  it("counts requests refused before they run: a frame that is not valid, a partition the shard does not own", async () => {
    const client = await tc.client();
    const d = Dict.fromName("metrics-refusals", { createIfMissing: true, client });
    await d.put("x", 1);
    const part = Array.from({ length: client.table.partitions }, (_, p) => p).find((p) => client.table.primaryOf(p) !== "shard-1");
    expect(part).toBeDefined();
    const before = await scrape(tc, "shard-1");
    const peer = await RawPeer.open(tc.cluster.urlOf("shard-1") ?? "");
    try {
      expect((await peer.request({ type: "frobnicate", rid: 1 })).code).toBe("INVALID");
      const get = { type: "get", rid: 2, dict: d.objectId, part, epoch: client.table.epoch, key: Buffer.from(encodeKey("x")) };
      expect((await peer.request(get)).code).toBe("WRONG_OWNER");
    } finally {
      peer.close();
    }
    const after = await scrape(tc, "shard-1");
    const grew = (labels: Record<string, string>) => sumOf(after, "shardict_requests_total", labels) - sumOf(before, "shardict_requests_total", labels);
    expect(grew({ op: "other", outcome: "INVALID" })).toBe(1);
    expect(grew({ op: "get", outcome: "WRONG_OWNER" })).toBe(1);
  });

  it("answers the cluster's view on the coordinator", async () => {
    const m = await scrape(tc, "coordinator");
    expect(sumOf(m, "shardict_cluster_shards", { state: "serving" })).toBe(3);
    expect(sumOf(m, "shardict_cluster_shards_health", { health: "alive" })).toBe(3);
    expect(sumOf(m, "shardict_cluster_partitions")).toBe(64);
    expect(sumOf(m, "shardict_cluster_rebalance_pending_partitions")).toBe(0);
    expect(sumOf(m, "shardict_cluster_dicts")).toBeGreaterThanOrEqual(1);
    expect(m.some((s) => s.name === "process_resident_memory_bytes")).toBe(true);
  });

  it("keeps answering 426 to plain HTTP on other paths", async () => {
    const res = await fetch(httpUrl(tc, "shard-1").replace(/\/metrics$/, "/"));
    expect(res.status).toBe(426);
  });
});

describe("metrics of a cluster with client tokens", () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await startTestCluster({ shards: 2, clientTokens: [TOKEN], metricsToken: SCRAPER });
  });
  afterAll(async () => {
    await tc?.stop();
  });

  for (const node of ["coordinator", "shard-1", "shard-2"]) {
    it(`${node}: refuses a scrape without a valid token (401), answers one with a client token or the metrics token`, async () => {
      const none = await fetch(httpUrl(tc, node));
      expect(none.status).toBe(401);
      expect(await none.text()).toMatch(/token is required/);
      const wrong = await fetch(httpUrl(tc, node), { headers: { authorization: "Bearer not-a-known-token" } });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toMatch(/unknown token/);
      expect(sumOf(await scrape(tc, node, TOKEN), "process_cpu_user_seconds_total")).toBeGreaterThan(0);
      expect(sumOf(await scrape(tc, node, SCRAPER), "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    });
  }
});

describe("metrics of a shard on LMDB", () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await startTestCluster({ shards: 1, storageEngine: "lmdb" });
  });
  afterAll(async () => {
    await tc?.stop();
  });

  it("samples each committed transaction", async () => {
    const client = await tc.client();
    const d = Dict.fromName("metrics-lmdb", { createIfMissing: true, client });
    await d.put("warm-up", 0);
    const before = await scrape(tc, "shard-1");
    for (let i = 0; i < 10; i++) await d.put(`k${i}`, i);
    const after = await scrape(tc, "shard-1");
    const grew = (name: string) => sumOf(after, name) - sumOf(before, name);
    expect(grew("shardict_fsync_duration_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(grew("shardict_commit_batch_mutations_sum")).toBeGreaterThanOrEqual(10);
    expect(sumOf(after, "shardict_entries", { role: "primary" })).toBe(11);
  });
});
