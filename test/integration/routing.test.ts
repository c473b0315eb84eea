/**
 * Routing follows the partition table: a shard that comes back on a new address is found
 * again through a table refresh, and the data path does not need the coordinator.
 */
import { describe, expect, it } from "vitest";
import { Dict } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { keysLedBy } from "../helpers/placement.js";

let tc: TestCluster;
let client: ClusterClient;
useTestCluster({}, (t, c) => {
  tc = t;
  client = c;
});

/** Keys of `d` whose partition's primary is `shard`. */
const keysOn = (d: Dict, shard: string, count: number) => keysLedBy(client.table, d.objectId, shard, count, "key-").map((k) => k.key);

describe("routing", () => {
  it("finds a shard that restarted on a new port (table refresh, same request)", async () => {
    const d = await Dict.fromName("reroute", { createIfMissing: true, client }).hydrate();
    const onTwo = keysOn(d, "shard-2", 20);
    const onOne = keysOn(d, "shard-1", 20);
    for (const k of [...onTwo, ...onOne]) await d.put(k, k);
    const epochBefore = client.table.epoch;
    const oldUrl = tc.cluster.urlOf("shard-2");
    await tc.cluster.kill("shard-2", "SIGKILL");
    const newUrl = await tc.cluster.startShard("shard-2");
    expect(newUrl).not.toBe(oldUrl);
    // The client still holds the old table: these writes reach shard-2 only after a refresh.
    for (const k of onTwo) expect(await d.put(k, `again-${k}`)).toBe(true);
    expect(client.table.epoch).toBeGreaterThan(epochBefore);
    expect(client.table.urlOf("shard-2")).toBe(newUrl);
    for (const k of onTwo) expect(await d.get(k)).toBe(`again-${k}`);
    for (const k of onOne) expect(await d.get(k)).toBe(k);
  });

  it("keeps serving data while the coordinator is down", async () => {
    const d = await Dict.fromName("no-coordinator", { createIfMissing: true, client }).hydrate();
    await d.update({ a: 1, b: 2 });
    await tc.cluster.kill("coordinator", "SIGKILL");
    expect(await d.get("a")).toBe(1);
    expect(await d.put("c", 3)).toBe(true);
    expect(await d.pop("b")).toBe(2);
    expect(await d.len()).toBe(2);
    const keys: unknown[] = [];
    for await (const k of d.keys()) keys.push(k);
    expect(keys.sort()).toEqual(["a", "c"]);
  });
});
