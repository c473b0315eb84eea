/**
 * replicationFactor 3: the replicas of a failed-over partition may differ in what was never
 * acknowledged. Here the dead primary's last write reached the first replica and not the
 * second; the promoted replica then acknowledges it (a retry finds its answer). If the
 * second replica stayed in sync as it was, a later failover to it would lose that
 * acknowledged write; it must be rebuilt from the new primary first.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, Dict } from "../../src/index.js";
import { clientOf, type ClusterClient } from "../../src/client/client.js";
import { ChaosCluster } from "../chaos/chaos-cluster.js";
import { keysLedBy } from "../helpers/placement.js";
import { waitUntil } from "../helpers/wait.js";

/** Whether any log segment of `node` holds `marker` (the record of a write that carries it). */
function logHolds(dataDir: string, node: string, marker: string): boolean {
  const dir = join(dataDir, node, "log");
  const needle = Buffer.from(marker, "latin1");
  return readdirSync(dir).some((f) => f.endsWith(".log") && readFileSync(join(dir, f)).includes(needle));
}

describe("failover at rf 3", () => {
  let cc: ChaosCluster;
  let client: ClusterClient;
  const logs: string[] = [];
  beforeAll(async () => {
    cc = await ChaosCluster.start({ shards: 3, replicationFactor: 3, partitions: 8, seed: 7, log: (l) => logs.push(l) });
    client = clientOf(await connect({ url: cc.url, retryBudgetMs: 30_000 }));
  });
  afterAll(async () => {
    client?.close();
    await cc?.stop();
  });

  it("a write acknowledged by the promoted replica survives the next failover", async () => {
    const d = await Dict.fromName("rf3", { createIfMissing: true, client }).hydrate();
    const [placed] = keysLedBy(client.table, d.objectId, "shard-1", 1, "k", (p) => client.table.replicasOf(p).join() === "shard-2,shard-3");
    if (!placed) throw new Error("no key");
    const { key } = placed;
    await d.put(key, "v0");

    // shard-3 stops receiving anything from its peers: the next write reaches shard-2 only.
    cc.clientLinks.get("shard-3")?.blackhole();
    const marker = "acknowledged-by-shard-2-only";
    const write = d.put(key, marker);
    await waitUntil(() => logHolds(cc.config.dataDir, "shard-2", marker), { what: "shard-2 to apply the write" });
    // The primary dies before shard-3 is reported: shard-2 is promoted and answers the retry.
    await cc.cluster.kill("shard-1", "SIGKILL");
    await write;

    // shard-3 hears from its peers again, then shard-2 dies too.
    cc.clientLinks.get("shard-3")?.heal();
    await cc.cluster.kill("shard-2", "SIGKILL");
    await waitUntil(() => logs.some((l) => /coordinator: failover of shard-2/.test(l)), { what: "the failover of shard-2", timeoutMs: 30_000 });
    await cc.startShard("shard-1");
    await cc.startShard("shard-2");
    expect(await d.get(key)).toBe(marker);
  });
});
