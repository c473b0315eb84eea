/**
 * The SDK's request window against a real cluster: a shard keeps a client's write answers
 * only until the client's floor passes them (well within the 30 s time window), while a
 * client that never sends a floor keeps the time window.
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
import { DEDUP_WINDOW_MS } from "../../src/shard/dedup-table.js";

const SHARDS = ["shard-1", "shard-2", "shard-3"];
let tc: TestCluster;

async function shardGauge(name: string): Promise<number> {
  let n = 0;
  for (const s of SHARDS) {
    const url = `${(tc.cluster.urlOf(s) as string).replace(/^ws:/, "http:")}/metrics`;
    n += sumOf(parseSamples(await (await fetch(url)).text()), name);
  }
  return n;
}
const answersKept = () => shardGauge("shardict_dedup_answers");

beforeAll(async () => {
  tc = await startTestCluster({ shards: 3, replicationFactor: 1 });
});
afterAll(async () => {
  await tc?.stop();
});

describe("request window", () => {
  it("shards drop a client's answers once its floor passes them, long before the time window", async () => {
    const client = await tc.client();
    const d = Dict.fromName("window", { createIfMissing: true, client });
    const started = Date.now();
    const N = 2_000;
    for (let i = 0; i < N; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => d.put(`k${i + j}`, i + j)));
    expect(await d.len()).toBe(N);
    // Poll the shards until the floor (sent every 100 ms) has reached them all.
    await waitUntil(async () => (await answersKept()) < 50, { timeoutMs: DEDUP_WINDOW_MS / 3, what: "the shards to drop answers under the client's floor" });
    expect(Date.now() - started).toBeLessThan(DEDUP_WINDOW_MS);
    // Each shard keeps this client's window (its floor) while the answers are gone.
    expect(await shardGauge("shardict_dedup_clients")).toBeGreaterThanOrEqual(SHARDS.length);
    // Every write still landed once, and a write after the floor moved is kept meanwhile.
    expect(await d.get("k1999")).toBe(1999);
  });

  it("a client that never sends a floor keeps the time window", async () => {
    const client = await tc.client();
    const d = Dict.fromName("window-raw", { createIfMissing: true, client });
    await d.hydrate();
    const table = client.table;
    let name = "";
    let key = encodeKey("raw0");
    let part = 0;
    for (let i = 0; i < 10_000; i++) {
      name = `raw${i}`;
      key = encodeKey(name);
      part = partitionOf(d.objectId, key, table.partitions);
      if (table.primaryOf(part) === "shard-1") break;
    }
    const put = async (v: string) => ({ type: "put", rid: 10, dict: d.objectId, part, epoch: table.epoch, key: Buffer.from(key), value: Buffer.from(await encodeValue(v)), ifAbsent: false });
    const peer = await RawPeer.open(tc.cluster.urlOf("shard-1") as string);
    try {
      expect((await peer.request({ type: "hello", rid: 1, v: 1, clientId: "no-floor-client" })).type).toBe("ok");
      expect((await peer.request(await put("first"))).type).toBe("ok");
      // Other clients' floors come and go meanwhile: an SDK client writes, and its answers drop.
      for (let i = 0; i < 300; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => d.put(`sdk${i + j}`, j)));
      await waitUntil(async () => (await answersKept()) < 100, { timeoutMs: DEDUP_WINDOW_MS / 3, what: "the SDK client's answers to drop" });
      // The floorless client's retry still gets its first answer: nothing is written again.
      expect((await peer.request(await put("second"))).type).toBe("ok");
      expect(await d.get(name)).toBe("first");
    } finally {
      peer.close();
    }
  });
});
