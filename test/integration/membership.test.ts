/**
 * Shards join and leave a live cluster (replication factor 1: a move is the only copy of a
 * partition's data) while four clients write and read and a fifth iterates. No client
 * operation may fail, every acknowledged write must be readable at the end, `len()` must
 * always lie between what was acknowledged before it and what was sent before it returned,
 * and each iteration must return every key present throughout it exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import type { ClusterStatus } from "../../src/coordinator/coordinator-node.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { mulberry32 } from "../helpers/prng.js";

const WRITERS = 4;
const LANES = 4;
/** Few partitions with many entries each: an iteration takes several pages per partition. */
const PARTITIONS = 16;
const SEED = 40_000;

interface Ledger {
  /** Keys whose put was acknowledged, with the value. */
  acked: Map<string, number>;
  /** Keys whose put was sent (acknowledged or not yet). */
  sent: Set<string>;
  failures: string[];
  ops: number;
}

describe("shards join and leave under load", () => {
  let tc: TestCluster;
  const clients: ClusterClient[] = [];

  beforeAll(async () => {
    tc = await startTestCluster({ shards: 3, replicationFactor: 1, partitions: PARTITIONS });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await tc?.stop();
  });

  async function status(client: ClusterClient): Promise<ClusterStatus> {
    return (await client.coordinatorRequest({ type: "status" })) as ClusterStatus;
  }

  /** Every partition at its desired place, nothing moving, and `ids` are the members. */
  async function settled(client: ClusterClient, ids: string[]): Promise<boolean> {
    const s = await status(client);
    const members = s.shards.map((x) => x.id).sort();
    return s.rebalance.pending === 0 && s.moves.length === 0 && JSON.stringify(members) === JSON.stringify([...ids].sort()) && s.shards.every((x) => x.state === "serving");
  }

  it(
    "a 4th shard joins, then two original shards leave one after the other, with no client error",
    async () => {
      for (let i = 0; i < WRITERS + 2; i++) clients.push(await tc.client());
      const [admin, iterClient, ...writerClients] = clients as [ClusterClient, ClusterClient, ...ClusterClient[]];
      const name = "moving";
      const ledger: Ledger = { acked: new Map(), sent: new Set(), failures: [], ops: 0 };
      // Entries before anything moves, so that every move copies a few hundred.
      const seed = Dict.fromName<number>(name, { createIfMissing: true, client: admin });
      for (let c = 0; c < SEED / 1000; c++) {
        const chunk = new Map<string, number>();
        for (let i = c * 1000; i < (c + 1) * 1000; i++) chunk.set(`seed-${i}`, i);
        for (const k of chunk.keys()) ledger.sent.add(k);
        await seed.update(chunk);
        for (const [k, v] of chunk) ledger.acked.set(k, v);
      }

      let stop = false;
      const writer = async (w: number, client: ClusterClient) => {
        const d = Dict.fromName<number>(name, { client });
        const rand = mulberry32(1000 + w);
        let n = 0;
        while (!stop) {
          const key = `w${w}-${n}`;
          ledger.sent.add(key);
          try {
            await d.put(key, n);
            ledger.acked.set(key, n);
            // Read back one of this writer's own acknowledged keys.
            const j = Math.floor(rand() * (n + 1));
            const got = await d.get(`w${w}-${j}`);
            if (got !== j) ledger.failures.push(`read w${w}-${j}: expected ${j}, got ${String(got)}`);
            ledger.ops += 2;
          } catch (err) {
            ledger.failures.push(`${key}: ${(err as Error).name}: ${(err as Error).message}`);
          }
          n++;
        }
      };

      const iterations: { missing: string[]; duplicates: string[]; unknown: string[]; count: number }[] = [];
      const lens: string[] = [];
      const iterator = async () => {
        const d = Dict.fromName<number>(name, { client: iterClient });
        while (!stop) {
          try {
            // len() must be at least what was acknowledged before, at most what was sent by its end.
            const ackedBefore = ledger.acked.size;
            const len = await d.len();
            const sentAfter = ledger.sent.size;
            if (len < ackedBefore || len > sentAfter) lens.push(`len ${len} outside [${ackedBefore}, ${sentAfter}]`);
            // Keys acknowledged before the iteration starts are present throughout (no deletes).
            const present = new Set(ledger.acked.keys());
            const seen = new Map<string, number>();
            // A slow consumer: partitions move between the pages of one partition.
            for await (const k of d.keys()) {
              seen.set(String(k), (seen.get(String(k)) ?? 0) + 1);
              if (seen.size % 1000 === 0) await new Promise((r) => setTimeout(r, 20));
            }
            iterations.push({
              missing: [...present].filter((k) => !seen.has(k)),
              duplicates: [...seen].filter(([, c]) => c > 1).map(([k]) => k),
              unknown: [...seen.keys()].filter((k) => !ledger.sent.has(k)),
              count: seen.size,
            });
            ledger.ops += 2;
          } catch (err) {
            ledger.failures.push(`iterate: ${(err as Error).name}: ${(err as Error).message}`);
          }
        }
      };

      // Each client runs a few writers at once.
      const running = [...writerClients.flatMap((c, w) => Array.from({ length: LANES }, (_, l) => writer(w * LANES + l, c))), iterator()];
      const progress = async (what: string) => {
        const before = iterations.length;
        // At least one whole iteration during each phase, and some writes.
        await waitUntil(() => iterations.length > before + 1, { timeoutMs: 60_000, what: `iterations during ${what}` });
      };
      try {
        await progress("the start");
        await tc.cluster.startShard("shard-4");
        await waitUntil(() => settled(admin, ["shard-1", "shard-2", "shard-3", "shard-4"]), { timeoutMs: 60_000, what: "shard-4 to get its share" });
        const afterJoin = await status(admin);
        const s4 = afterJoin.shards.find((x) => x.id === "shard-4");
        // Consistent hashing: about a quarter of the partitions move to the new shard.
        expect(s4?.partitions).toBeGreaterThanOrEqual(PARTITIONS / 8);
        expect(s4?.partitions).toBeLessThanOrEqual(PARTITIONS / 2);
        await progress("after the join");

        expect(await tc.cluster.leave("shard-1")).toBe(0);
        await waitUntil(() => settled(admin, ["shard-2", "shard-3", "shard-4"]), { timeoutMs: 60_000, what: "shard-1 to leave" });
        await progress("after shard-1 left");

        expect(await tc.cluster.leave("shard-2")).toBe(0);
        await waitUntil(() => settled(admin, ["shard-3", "shard-4"]), { timeoutMs: 60_000, what: "shard-2 to leave" });
        await progress("after shard-2 left");
      } finally {
        stop = true;
        await Promise.all(running);
      }

      expect(ledger.failures).toEqual([]);
      expect(lens).toEqual([]);
      expect(iterations.length).toBeGreaterThan(4);
      for (const it of iterations) {
        expect(it.duplicates).toEqual([]);
        expect(it.missing).toEqual([]);
        expect(it.unknown).toEqual([]);
      }
      // Every acknowledged write is there, with its value, on the two shards left.
      const d = Dict.fromName<number>(name, { client: admin });
      const keys = [...ledger.acked.keys()];
      const values = await Promise.all(keys.map((k) => d.get(k)));
      const wrong = keys.filter((k, i) => values[i] !== ledger.acked.get(k));
      expect(wrong).toEqual([]);
      const len = await d.len();
      expect(len).toBeGreaterThanOrEqual(ledger.acked.size);
      expect(len).toBeLessThanOrEqual(ledger.sent.size);
      const final = await status(admin);
      expect(final.shards.map((x) => x.id).sort()).toEqual(["shard-3", "shard-4"]);
      expect(final.shards.reduce((n, x) => n + x.partitions, 0)).toBe(PARTITIONS);
      console.log(
        `membership under load: ${ledger.ops} operations, ${ledger.acked.size} keys written, ${iterations.length} full iterations, 0 failures; ` +
          `shard-4 took ${afterJoinPartitions(final)} partitions`,
      );
    },
    240_000,
  );
});

function afterJoinPartitions(s: ClusterStatus): string {
  return s.shards.map((x) => `${x.id}=${x.partitions}`).join(" ");
}
