/**
 * The SDK's request window against a real cluster: the client tells every shard it writes
 * to the floor of its request ids; a shard then drops the answers under it and refuses a
 * stray copy of a request under it, and the floor travels with the partition when it moves.
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
import type { ClusterClient } from "../../src/client/client.js";
import type { ClusterStatus } from "../../src/coordinator/coordinator-node.js";

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
  it("every shard a client writes to learns its floor, drops the answers under it and refuses a stray request under it", async () => {
    const client = await tc.client();
    const d = Dict.fromName("window", { createIfMissing: true, client });
    const N = 600;
    for (let i = 0; i < N; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => d.put(`k${i + j}`, i + j)));
    await waitUntil(async () => (await Promise.all(SHARDS.map((s) => gauge(s, "shardict_dedup_floors")))).every((n) => n >= 1), {
      what: "every shard to hear the client's floor",
    });
    // The answers under the floor are dropped long before the time window ends.
    await waitUntil(async () => (await Promise.all(SHARDS.map((s) => gauge(s, "shardict_dedup_answers")))).reduce((a, b) => a + b, 0) < N / 10, {
      timeoutMs: DEDUP_WINDOW_MS / 3,
      what: "the shards to drop the answers under the client's floor",
    });
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

  it("a watcher learns no other client's id from a clear (a client id is what moves its floor)", async () => {
    const client = await tc.client();
    const d = Dict.fromName("window-clears", { createIfMissing: true, client });
    await d.put("a", 1);
    const table = client.table;
    const part = table.primaryPartitionsOf("shard-1")[0] as number;
    const watcher = await RawPeer.client(tc.cluster.urlOf("shard-1") as string, "window-watcher");
    try {
      const watch = (after: number | null) => watcher.request({ type: "watch", rid: 1, dict: d.objectId, epoch: table.epoch, parts: [{ part, after }], waitMs: 0 });
      const start = ((await watch(null)) as { result: { parts: { pos: number }[] } }).result.parts[0]?.pos as number;
      await d.clear();
      const seen = (await watch(start)) as { result: { parts: { ev: { t: number; c?: string }[] }[] } };
      const clears = (seen.result.parts[0]?.ev ?? []).filter((e) => e.c !== undefined);
      expect(clears).toHaveLength(1);
      expect(clears[0]?.c).not.toContain(client.clientId);
    } finally {
      watcher.close();
    }
  });

  it("a floor travels with its partition: the new primary refuses a stray copy whose answer the old one dropped", async () => {
    const client = await tc.client();
    const d = Dict.fromName("window-moves", { createIfMissing: true, client });
    await d.hydrate();
    let table = client.table;
    let name = "";
    for (let i = 0; i < 10_000; i++) {
      name = `mover${i}`;
      if (table.primaryOf(partitionOf(d.objectId, encodeKey(name), table.partitions)) === "shard-1") break;
    }
    const key = Buffer.from(encodeKey(name));
    const part = partitionOf(d.objectId, key, table.partitions);
    const put = async (rid: number, v: string, epoch: number) => ({ type: "put", rid, dict: d.objectId, part, epoch, key, value: Buffer.from(await encodeValue(v)), ifAbsent: false });
    // A client (raw, so its request ids are ours to choose) writes through shard-1, then says
    // it holds every answer below 6: shard-1 drops the answer of request 5.
    const clientId = "window-mover";
    const before = await RawPeer.client(tc.cluster.urlOf("shard-1") as string, clientId);
    try {
      expect(await before.request(await put(5, "first", table.epoch))).toMatchObject({ type: "ok" });
      expect(await before.request({ type: "done", rid: 6, below: 6 })).toMatchObject({ type: "ok" });
      expect(await before.request(await put(5, "first", table.epoch))).toMatchObject({ type: "err", code: "INVALID" });
    } finally {
      before.close();
    }
    await d.put(name, "second");
    // The partition moves: shard-1 leaves, and its partitions are copied to the others.
    expect(await tc.cluster.leave("shard-1")).toBe(0);
    await waitUntil(() => settled(client, ["shard-2", "shard-3"]), { timeoutMs: 60_000, what: "shard-1 to leave" });
    expect(await d.get(name)).toBe("second");
    table = client.table;
    const owner = table.primaryOf(part) as string;
    expect(["shard-2", "shard-3"]).toContain(owner);
    // A copy of request 5 (one sent before the move, delivered late) reaches the new primary,
    // which never heard from this client: the floor came with the partition, so it is refused.
    const after = await RawPeer.client(tc.cluster.urlOf(owner) as string, clientId);
    try {
      const r = await after.request(await put(5, "first", table.epoch));
      expect(r).toMatchObject({ type: "err", code: "INVALID" });
      expect(String(r.message)).toMatch(/below this client's floor/);
      expect(await d.get(name)).toBe("second");
      // Above the floor the client writes as before.
      expect(await after.request(await put(7, "third", table.epoch))).toMatchObject({ type: "ok" });
      expect(await d.get(name)).toBe("third");
    } finally {
      after.close();
    }
  });
});

/** Every partition at its place, nothing moving, and `ids` are the members. */
async function settled(client: ClusterClient, ids: string[]): Promise<boolean> {
  const s = (await client.coordinatorRequest({ type: "status" })) as ClusterStatus;
  return s.rebalance.pending === 0 && s.moves.length === 0 && JSON.stringify(s.shards.map((x) => x.id).sort()) === JSON.stringify([...ids].sort()) && s.shards.every((x) => x.state === "serving");
}
