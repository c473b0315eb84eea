/**
 * Coordination primitives across process death (rf 2): versions keep increasing through a
 * `kill -9` failover and a partition move, a compare-and-set with the version read before
 * either still matches after, and a lock whose holder is killed is free `ttlMs` later with a
 * larger token.
 */
import { describe, expect, it } from "vitest";
import { Dict } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { partitionOf } from "../../src/hashing/hash.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { clusterSettled } from "../helpers/settled.js";
import { runFixture } from "../helpers/child.js";
import { waitUntil } from "../helpers/wait.js";

let tc: TestCluster;
let client: ClusterClient;
useTestCluster({ shards: 3, replicationFactor: 2, partitions: 16 }, (t, c) => {
  tc = t;
  client = c;
});

const settled = (ids: string[]) => clusterSettled(client, ids);

describe("versions across failover and moves", () => {
  it("increase through a kill -9 failover and a partition move, and a CAS read before either still matches", async () => {
    const d = await Dict.fromName("versions", { createIfMissing: true, client }).hydrate();
    const part = partitionOf(d.objectId, encodeKey("k"), client.table.partitions);
    const seen: string[] = [];
    const write = async (v: number) => {
      const r = await d.putEntry("k", v);
      expect(seen).not.toContain(r!.version);
      seen.push(r!.version);
      return r!.version;
    };
    for (let i = 0; i < 3; i++) await write(i);
    // Other keys of the partition move its sequence too.
    await d.update(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`other-${i}`, i])));

    const primary = client.table.primaryOf(part) as string;
    const before = (await d.getEntry("k"))!.version;
    await tc.cluster.kill(primary, "SIGKILL");
    // Served by the promoted replica: the same version, and a CAS on it succeeds once.
    expect((await d.getEntry("k"))!.version).toBe(before);
    expect(client.table.primaryOf(part)).not.toBe(primary);
    expect(await d.put("k", 10, { ifVersion: before })).toBe(true);
    expect(await d.put("k", 11, { ifVersion: before })).toBe(false);
    const afterFailover = (await d.getEntry("k"))!.version;
    expect(seen).not.toContain(afterFailover);
    seen.push(afterFailover);
    await d.delete("k");
    await write(12);

    await tc.cluster.startShard(primary);
    await waitUntil(() => settled(["shard-1", "shard-2", "shard-3"]), { timeoutMs: 60_000, what: `${primary} to rejoin` });

    // Move the partition: its primary leaves, the partition (and its sequence) goes elsewhere.
    const mover = client.table.primaryOf(part) as string;
    const beforeMove = (await d.getEntry("k"))!.version;
    expect(await tc.cluster.leave(mover)).toBe(0);
    const rest = ["shard-1", "shard-2", "shard-3"].filter((s) => s !== mover);
    await waitUntil(() => settled(rest), { timeoutMs: 60_000, what: `${mover} to leave` });
    expect(client.table.primaryOf(part)).not.toBe(mover);
    expect((await d.getEntry("k"))!.version).toBe(beforeMove);
    await d.delete("k");
    await write(13);
    expect(await d.put("k", 14, { ifVersion: beforeMove })).toBe(false);
    expect(await d.get("k")).toBe(13);
    await tc.cluster.startShard(mover);
    await waitUntil(() => settled(["shard-1", "shard-2", "shard-3"]), { timeoutMs: 60_000, what: `${mover} to join again` });
  }, 180_000);
});

describe("lock", () => {
  it("a lock held by a process killed with kill -9 is free ttlMs later, and the next holder's token is larger", async () => {
    const TTL = 2_000;
    const holder = runFixture("lock-holder.mjs", ["locks", "nightly", String(TTL)], { SHARDICT_URL: tc.url });
    const { token } = (await holder.firstLine) as { token: number };
    const d = Dict.fromName("locks", { client });
    // Held, and renewed well past its TTL while the holder lives.
    await new Promise((r) => setTimeout(r, TTL * 1.5));
    await expect(d.lock("nightly", { ttlMs: TTL })).rejects.toMatchObject({ name: "LockTimeoutError" });
    holder.child.kill("SIGKILL");
    const killedAt = Date.now();
    expect((await holder.exit).signal).toBe("SIGKILL");
    const next = await d.lock("nightly", { ttlMs: TTL, waitMs: 4 * TTL });
    const waited = Date.now() - killedAt;
    expect(next.token).toBeGreaterThan(token);
    // Free within the TTL after the last renewal (a third of it before the kill at most), plus
    // the shard's sweep; the SDK waited on the shard rather than failing.
    expect(waited).toBeGreaterThanOrEqual(TTL / 2);
    expect(waited).toBeLessThan(TTL + 1_500);
    await next.release();
  }, 60_000);
});
