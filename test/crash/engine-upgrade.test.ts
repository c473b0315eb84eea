/**
 * Upgrading: shards now store entries in a log by default, but a shard whose folder holds
 * LMDB data (the earlier default) keeps using it, so nothing written before is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Dict, type Client } from "../../src/index.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";

let tc: TestCluster;
let client: Client;
beforeAll(async () => {
  tc = await startTestCluster({ shards: 2, partitions: 8, storageEngine: "lmdb" });
  client = await tc.client();
});
afterAll(async () => {
  await tc?.stop();
});

describe("storage engine upgrade", () => {
  it("a shard restarted under the log default keeps serving the LMDB data it wrote before", async () => {
    const d = Dict.fromName<number>("upgrade", { createIfMissing: true, client });
    for (let i = 0; i < 100; i++) await d.put(`k${i}`, i);
    expect(existsSync(join(tc.config.dataDir, "shard-1", "lmdb"))).toBe(true);
    // The config now says nothing about the engine: the default (the log) applies.
    const cfg = JSON.parse(readFileSync(tc.configPath, "utf8")) as Record<string, unknown>;
    delete cfg.storageEngine;
    writeFileSync(tc.configPath, JSON.stringify(cfg));
    const kept = tc.cluster.waitFor(/holds LMDB data from an earlier version/, "shard-1");
    await tc.cluster.kill("shard-1", "SIGKILL");
    await tc.cluster.startShard("shard-1");
    await kept;
    expect(existsSync(join(tc.config.dataDir, "shard-1", "log"))).toBe(false);
    const values = await waitUntil(async () => Promise.all(Array.from({ length: 100 }, (_, i) => d.get(`k${i}`))), { what: "reads after the restart" });
    expect(values).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // A new shard's folder gets the log.
    await tc.cluster.startShard("shard-9");
    await waitUntil(() => existsSync(join(tc.config.dataDir, "shard-9", "log")), { what: "shard-9's log folder" });
    expect(existsSync(join(tc.config.dataDir, "shard-9", "lmdb"))).toBe(false);
  }, 60_000);
});
