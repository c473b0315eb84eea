/**
 * Fencing of reads: a primary cut off from the coordinator (but not from its clients) is
 * replaced; once its lease has run out it must not answer from its stale copy, because its
 * replica (now the primary) no longer confirms it leads.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, connect } from "../../src/index.js";
import { clientOf, type ClusterClient } from "../../src/client/client.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { partitionOf } from "../../src/hashing/hash.js";
import { ChaosCluster } from "../chaos/chaos-cluster.js";
import { RawPeer } from "../helpers/raw-peer.js";
import { waitUntil } from "../helpers/wait.js";

let chaos: ChaosCluster;
let client: ClusterClient;
beforeAll(async () => {
  chaos = await ChaosCluster.start({ seed: 7, replicationFactor: 2 });
  client = clientOf(await connect({ url: chaos.url }));
});
afterAll(async () => {
  client?.close();
  await chaos?.stop();
});

describe("read fencing", () => {
  it("a primary partitioned from the coordinator stops serving reads once replaced", async () => {
    const d = await Dict.fromName("fenced-reads", { createIfMissing: true, client }).hydrate();
    const part = partitionOf(d.objectId, encodeKey("k"), client.table.partitions);
    const leader = client.table.primaryOf(part) as string;
    await d.put("k", "old");
    const raw = await RawPeer.client(chaos.clientLinks.get(leader)?.url as string, "fencing");
    const get = (rid: number) => raw.request({ type: "get", rid, dict: d.objectId, part, epoch: client.table.epoch, key: Buffer.from(encodeKey("k")) });
    expect((await get(2)).type).toBe("ok");

    chaos.coordinatorLinks.get(leader)?.blackhole();
    await waitUntil(
      async () => {
        await client.refreshTable();
        return client.table.primaryOf(part) !== leader;
      },
      { what: "the coordinator to replace the cut-off primary", timeoutMs: 20_000 },
    );
    await d.put("k", "new"); // acknowledged by the new primary
    // The old primary still hears clients, but not the coordinator: its lease has run out and
    // its former replica refuses to confirm it, so it answers with an error, not "old".
    const r = await get(3);
    expect(r.type).toBe("err");
    expect(["WRONG_OWNER", "UNAVAILABLE"]).toContain(r.code);
    raw.close();
    chaos.coordinatorLinks.get(leader)?.heal();
    expect(await d.get("k")).toBe("new");
  });
});
