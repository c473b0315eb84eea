/**
 * Sliding expiry across failover (rf 2): an entry kept alive by reads on the primary is still
 * there after the primary is killed, on the promoted replica, and expires in its turn.
 */
import { describe, expect, it } from "vitest";
import { Dict } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { partitionOf } from "../../src/hashing/hash.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";

const TTL = 5000;
let tc: TestCluster;
let client: ClusterClient;
useTestCluster({ replicationFactor: 2, entryTtlMs: TTL }, (t, c) => {
  tc = t;
  client = c;
});

describe("expiry across failover", () => {
  it("reads on the old primary keep an entry alive on the promoted replica", async () => {
    const d = await Dict.fromName("expiring", { createIfMissing: true, client }).hydrate();
    const part = partitionOf(d.objectId, encodeKey("hot"), client.table.partitions);
    const primary = client.table.primaryOf(part) as string;
    await d.put("hot", "kept");
    await d.put("idle", "gone");
    const t0 = Date.now();
    // Read past the first deadline, so only the reads (replicated coarsely) keep it alive.
    let lastRead = t0;
    while (Date.now() < t0 + TTL + 500) {
      expect(await d.get("hot")).toBe("kept");
      lastRead = Date.now();
      await new Promise((r) => setTimeout(r, 100));
    }
    await tc.cluster.kill(primary, "SIGKILL");
    expect(await d.get("hot")).toBe("kept"); // served by the promoted replica
    expect(Date.now()).toBeLessThan(lastRead + TTL); // (the check above was within the TTL)
    expect(client.table.primaryOf(part)).not.toBe(primary);
    await waitUntil(async () => (await d.len()) === 0, { what: "both entries to expire", timeoutMs: 4 * TTL, intervalMs: 200 });
    await tc.cluster.startShard(primary);
  });
});
