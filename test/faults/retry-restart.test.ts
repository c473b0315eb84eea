/**
 * A retried write takes effect at most once across a restart: the answer of a plain put is
 * on disk with the put, so its resend after another client's delete and a kill -9 of the
 * shard is answered from it instead of writing the value again, with either shard engine.
 */
import { describe, expect, it } from "vitest";
import { Dict } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { encodeValue } from "../../src/client/value-codec.js";
import { RawPeer } from "../helpers/raw-peer.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { keysLedBy, type PlacedKey } from "../helpers/placement.js";
import { waitUntil } from "../helpers/wait.js";

describe.each(["log", "lmdb"] as const)("retries across a restart (%s engine)", (engine) => {
  let tc: TestCluster;
  let client: ClusterClient;
  useTestCluster({ shards: 1, partitions: 16, storageEngine: engine }, (t, c) => {
    tc = t;
    client = c;
  });

  it("a plain put resent after a delete and a kill -9 is answered from disk, not applied again", async () => {
    const d = await Dict.fromName("once", { createIfMissing: true, client }).hydrate();
    const { key, part } = keysLedBy(client.table, d.objectId, "shard-1", 1, "b")[0] as PlacedKey;
    const kb = Buffer.from(encodeKey(key));
    const frame = (type: string, rid: number, extra: Record<string, unknown> = {}) => ({ type, rid, dict: d.objectId, part, epoch: client.table.epoch, key: kb, ...extra });
    const open = () => RawPeer.client(tc.cluster.urlOf("shard-1") as string, "client-a");
    const one = Buffer.from(await encodeValue(1));
    let p = await open();
    const put8 = () => p.request(frame("put", 8, { value: one, ifAbsent: false }));
    expect((await put8()).type).toBe("ok");
    await d.delete(key); // another client, acknowledged
    p.close();

    await tc.cluster.kill("shard-1");
    await tc.cluster.startShard("shard-1");
    p = await open();
    let probe = 1000;
    await waitUntil(async () => (await p.request(frame("get", probe++))).type === "ok", { what: "the restarted shard to serve" });
    expect(await put8()).toMatchObject({ type: "ok" }); // the resend: answered, not applied
    expect(await d.get(key)).toBeUndefined();
    p.close();
  });
});
