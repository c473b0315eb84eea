/**
 * The SDK's request window against a real cluster: the client tells every shard it writes
 * to the floor of its request ids, and a shard then refuses a stray copy of a request under
 * it, while every answer stays for the 30 s window (it travels with its partition).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict } from "../../src/index.js";
import { parseSamples, sumOf } from "../helpers/prom-text.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { RawPeer } from "../helpers/raw-peer.js";
import { waitUntil } from "../helpers/wait.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { encodeValue } from "../../src/client/value-codec.js";
import { partitionOf } from "../../src/hashing/hash.js";

const SHARDS = ["shard-1", "shard-2", "shard-3"];
let tc: TestCluster;

async function gauge(shard: string, name: string): Promise<number> {
  const url = `${(tc.cluster.urlOf(shard) as string).replace(/^ws:/, "http:")}/metrics`;
  return sumOf(parseSamples(await (await fetch(url)).text()), name);
}

beforeAll(async () => {
  tc = await startTestCluster({ shards: 3, replicationFactor: 1 });
});
afterAll(async () => {
  await tc?.stop();
});

describe("request window", () => {
  it("every shard a client writes to learns its floor, refuses a stray request under it, and keeps the answers", async () => {
    const client = await tc.client();
    const d = Dict.fromName("window", { createIfMissing: true, client });
    const N = 600;
    for (let i = 0; i < N; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => d.put(`k${i + j}`, i + j)));
    await waitUntil(async () => (await Promise.all(SHARDS.map((s) => gauge(s, "shardict_dedup_floors")))).every((n) => n >= 1), {
      what: "every shard to hear the client's floor",
    });
    // Every answer is still kept (the time window), whatever the floor.
    let kept = 0;
    for (const s of SHARDS) kept += await gauge(s, "shardict_dedup_answers");
    expect(kept).toBeGreaterThanOrEqual(N);
    // Request id 0 is one the SDK never uses: under the floor, with no answer anywhere, so a
    // request with it can only be a stray copy. It is refused and writes nothing.
    const table = client.table;
    let name = "";
    let part = 0;
    for (let i = 0; i < 10_000; i++) {
      name = `stray${i}`;
      part = partitionOf(d.objectId, encodeKey(name), table.partitions);
      if (table.primaryOf(part) === "shard-1") break;
    }
    const peer = await RawPeer.client(tc.cluster.urlOf("shard-1") as string, client.clientId);
    try {
      const r = await peer.request({ type: "put", rid: 0, dict: d.objectId, part, epoch: table.epoch, key: Buffer.from(encodeKey(name)), value: Buffer.from(await encodeValue("stray")), ifAbsent: false });
      expect(r).toMatchObject({ type: "err", code: "INVALID" });
      expect(String(r.message)).toMatch(/below this client's floor/);
    } finally {
      peer.close();
    }
    expect(await d.get(name)).toBeUndefined();
    expect(await d.len()).toBe(N);
  });
});
