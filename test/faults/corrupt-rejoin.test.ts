/**
 * A corrupt log at rf >= 2: the shard serves nothing from it. It registers saying it lost its
 * data; the coordinator fails its partitions over to their replicas and it is rebuilt as a
 * learner, with its files kept aside. If it held the only copy of some partition, the
 * coordinator refuses, and the shard stops (exit 78) with its files untouched.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Dict, type Client } from "../../src/index.js";
import type { ClusterStatus } from "../../src/coordinator/coordinator-node.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { flipBit } from "./helpers/bit-flip.js";

let tc: TestCluster | undefined;
let client: Client | undefined;
afterEach(async () => {
  client?.close();
  await tc?.stop();
  tc = undefined;
});

/** Flip a bit in the body of an early record of a shard's newest written segment (later records stay valid). */
function corrupt(t: TestCluster, shard: string): void {
  const dir = join(t.config.dataDir, shard, "log");
  const seg = readdirSync(dir)
    .filter((f) => f.endsWith(".log") && readFileSync(join(dir, f))[8] !== 0)
    .sort()
    .at(-1);
  if (!seg) throw new Error(`${shard} has no written segment`);
  flipBit(join(dir, seg), 8 + 16 + 20, 3);
}

function asideFolders(t: TestCluster, shard: string): string[] {
  return readdirSync(join(t.config.dataDir, shard)).filter((f) => f.startsWith("log.corrupt-"));
}

describe("a corrupt log at rf 2", () => {
  it("is set aside and the shard is rebuilt from the replicas; every acknowledged write stays readable", async () => {
    const t = (tc = await startTestCluster({ shards: 3, replicationFactor: 2, partitions: 16, logSegmentBytes: 256 * 1024, launcher: { supervise: true } }));
    const c = (client = await t.client());
    const d = await Dict.fromName("rebuilt", { createIfMissing: true, client: c }).hydrate();
    const n = 200;
    await d.update(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, `v${i}`])));

    await t.cluster.kill("shard-2");
    corrupt(t, "shard-2");
    await t.cluster.startShard("shard-2");
    await waitUntil(() => t.logs.some((l) => /coordinator: shard shard-2 lost its data/.test(l)), { what: "the coordinator to forget shard-2's copies" });
    expect(t.logs.some((l) => /shard-2: .* is corrupt at offset/.test(l))).toBe(true);
    for (let i = 0; i < n; i++) expect(await d.get(`k${i}`)).toBe(`v${i}`);

    // Rebuilt: every partition has two in-sync owners again and nothing moves.
    await waitUntil(
      async () => {
        await c.refreshTable();
        const s = (await c.coordinatorRequest({ type: "status" })) as ClusterStatus;
        return c.table.owners.every((o) => o.length === 2) && c.table.learners.every((l) => l.length === 0) && s.rebalance.pending === 0 && s.moves.length === 0;
      },
      { what: "shard-2 to be rebuilt", timeoutMs: 60_000 },
    );
    expect(c.table.owners.some((o) => o.includes("shard-2"))).toBe(true);
    expect(asideFolders(t, "shard-2")).toHaveLength(1);
    expect(t.logs.some((l) => /launcher: shard-2 exited/.test(l))).toBe(false);

    // The rebuilt copies are whole: with shard-1 gone, its partitions are served by the others.
    await t.cluster.kill("shard-1");
    for (let i = 0; i < n; i++) expect(await d.get(`k${i}`)).toBe(`v${i}`);
    expect(await d.len()).toBe(n);
  });

  it("holding the only copy of a partition, the shard is refused and stops (exit 78) with its files untouched", async () => {
    const t = (tc = await startTestCluster({ shards: 2, replicationFactor: 2, partitions: 8, logSegmentBytes: 256 * 1024, launcher: { supervise: true } }));
    const c = (client = await t.client());
    const d = await Dict.fromName("only", { createIfMissing: true, client: c }).hydrate();
    await t.cluster.kill("shard-1");
    await waitUntil(() => t.logs.some((l) => /coordinator: failover of shard-1/.test(l)), { what: "the failover of shard-1" });
    // shard-2 alone holds these.
    for (let i = 0; i < 20; i++) await d.put(`k${i}`, `v${i}`);
    await t.cluster.kill("shard-2");
    corrupt(t, "shard-2");
    const before = readdirSync(join(t.config.dataDir, "shard-2", "log")).sort();
    await t.cluster.startShard("shard-2").catch(() => {});
    await waitUntil(() => !t.cluster.isRunning("shard-2"), { what: "shard-2 to stop" });
    expect(t.logs.some((l) => /held the only copy of partitions/.test(l))).toBe(true);
    await waitUntil(() => t.logs.some((l) => /launcher: shard-2 exited \(code 78: its data is corrupt\); not restarting it/.test(l)), { what: "the launcher to report exit 78" });
    expect(asideFolders(t, "shard-2")).toEqual([]);
    expect(existsSync(join(t.config.dataDir, "shard-2", "log"))).toBe(true);
    expect(readdirSync(join(t.config.dataDir, "shard-2", "log")).sort()).toEqual(before);
  });
});
