/**
 * Per-entry TTLs and versions on disk (rf 1, so what comes back is what the shard read from
 * its own files): after every shard is killed with kill -9 and restarted, an entry with a
 * 2 s TTL still expires by it while the dict default is 7 days, and versions go on from
 * where they were, even for a key whose last version belonged to a deleted entry.
 */
import { describe, expect, it } from "vitest";
import { Dict } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";

let tc: TestCluster;
let client: ClusterClient;
useTestCluster({ shards: 2, replicationFactor: 1, partitions: 8 }, (t, c) => {
  tc = t;
  client = c;
});

describe("per-entry TTL and versions across kill -9 and restart", () => {
  it("a 2 s TTL survives a restart while the dict default is 7 days; versions are not reused", async () => {
    const d = await Dict.fromName("ttl-restart", { createIfMissing: true, client }).hydrate();
    await d.put("short", "s", { ttlMs: 2_000 });
    await d.put("long", "l");
    const gone = (await d.putEntry("gone", 1))!.version;
    await d.delete("gone");
    const shortVersion = (await d.getEntry("short"))!.version;
    const writtenAt = Date.now();

    for (const s of ["shard-1", "shard-2"]) await tc.cluster.kill(s, "SIGKILL");
    for (const s of ["shard-1", "shard-2"]) await tc.cluster.startShard(s);

    // len() reads no entry, so it moves no deadline while we wait.
    await waitUntil(async () => (await d.len()) === 1, { timeoutMs: 20_000, intervalMs: 100, what: "the 2 s entry to expire" });
    expect(Date.now() - writtenAt).toBeGreaterThanOrEqual(2_000);
    expect(await d.get("short")).toBeUndefined();
    expect(await d.get("long")).toBe("l");
    const long = await d.getEntry("long");
    expect(long!.expiresAt.getTime() - Date.now()).toBeGreaterThan(6 * 24 * 3_600_000);
    const again = (await d.putEntry("gone", 2))!.version;
    expect(again).not.toBe(gone);
    expect(again).not.toBe(shortVersion);
  }, 60_000);
});
