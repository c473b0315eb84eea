/**
 * Watchers across process death and membership changes (rf 2): while writers keep writing,
 * the primary of the watched keys' partition is killed with `kill -9` (and restarted), a
 * coordinator restarts, a 4th shard joins and an original shard leaves. A watcher of the
 * whole dict and a watcher of one key must each receive every acknowledged write of their
 * keys exactly once, in the order the writes were made, and nothing that was never sent;
 * no `reset` (the history kept is far larger than what is written).
 */
import { describe, expect, it } from "vitest";
import { Dict, type WatchEvent } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { partitionOf } from "../../src/hashing/hash.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { clusterSettled } from "../helpers/settled.js";
import { waitUntil } from "../helpers/wait.js";

let tc: TestCluster;
let client: ClusterClient;
useTestCluster({ shards: 3, replicationFactor: 2, partitions: 16 }, (t, c) => {
  tc = t;
  client = c;
});

const settled = (ids: string[]) => clusterSettled(client, ids);

const KEYS = ["a", "b", "c", "d"];

interface KeyLog {
  /** Values written to the key, in order, with whether the write was acknowledged. */
  writes: { v: number; acked: boolean }[];
}

/** What a watcher saw of `key`: its put values, in order (a removal is not written here). */
function seenValues(events: WatchEvent[], key: string): number[] {
  return events.filter((e) => e.type === "put" && e.key === key).map((e) => e.value as number);
}

/** Every acknowledged value once, in write order; the rest only values sent and unacknowledged. */
function check(log: KeyLog, seen: number[], who: string): void {
  const order = new Map(log.writes.map((w, i) => [w.v, i]));
  let last = -1;
  const got = new Set<number>();
  for (const v of seen) {
    const at = order.get(v);
    expect(at, `${who}: saw ${v}, never written`).toBeDefined();
    expect(got.has(v), `${who}: saw ${v} twice`).toBe(false);
    expect(at!, `${who}: ${v} out of order`).toBeGreaterThan(last);
    last = at!;
    got.add(v);
  }
  for (const w of log.writes) if (w.acked) expect(got.has(w.v), `${who}: missed acknowledged ${w.v}`).toBe(true);
}

describe("watch across failover and moves", () => {
  it("a dict watcher and a key watcher get every acknowledged change exactly once, in order", async () => {
    const d = await Dict.fromName<number>("watched", { createIfMissing: true, client }).hydrate();
    const all: WatchEvent<number>[] = [];
    const one: WatchEvent<number>[] = [];
    const wAll = d.watch();
    const wOne = d.watch({ key: "a" });
    const runAll = (async () => {
      for await (const e of wAll) all.push(e);
    })();
    const runOne = (async () => {
      for await (const e of wOne) one.push(e);
    })();
    // Let both start before the first write.
    await d.put("warmup", 0);
    await waitUntil(() => all.length === 1);

    const logs = new Map<string, KeyLog>(KEYS.map((k) => [k, { writes: [] }]));
    let stop = false;
    let next = 1;
    const writer = (async () => {
      while (!stop) {
        for (const k of KEYS) {
          const v = next++;
          const entry = { v, acked: false };
          logs.get(k)!.writes.push(entry);
          try {
            await d.put(k, v);
            entry.acked = true;
          } catch {
            // Indeterminate: it may or may not show up.
          }
        }
      }
    })();
    const progress = async (what: string) => {
      const target = next + 40;
      await waitUntil(() => next > target, { timeoutMs: 60_000, what: `writes ${what}` });
    };

    await progress("before the kill");
    const part = partitionOf(d.objectId, encodeKey("a"), client.table.partitions);
    const primary = client.table.primaryOf(part) as string;
    await tc.cluster.kill(primary, "SIGKILL");
    await progress("after the kill");
    await tc.cluster.startShard(primary);
    await waitUntil(() => settled(["shard-1", "shard-2", "shard-3"]), { timeoutMs: 60_000, what: `${primary} to rejoin` });
    await progress("after the restart");

    await tc.cluster.kill("coordinator", "SIGKILL");
    await progress("without a coordinator");
    await tc.cluster.restartCoordinator();
    await waitUntil(() => settled(["shard-1", "shard-2", "shard-3"]), { timeoutMs: 60_000, what: "the coordinator to come back" });

    await tc.cluster.startShard("shard-4");
    await waitUntil(() => settled(["shard-1", "shard-2", "shard-3", "shard-4"]), { timeoutMs: 90_000, what: "shard-4 to join" });
    await progress("after the join");
    const leaver = client.table.primaryOf(part) as string;
    expect(await tc.cluster.leave(leaver)).toBe(0);
    const rest = ["shard-1", "shard-2", "shard-3", "shard-4"].filter((s) => s !== leaver);
    await waitUntil(() => settled(rest), { timeoutMs: 90_000, what: `${leaver} to leave` });
    await progress("after the leave");

    stop = true;
    await writer;
    // A last write per key, acknowledged: once the watchers have it, they have everything before it.
    for (const k of KEYS) {
      const v = next++;
      await d.put(k, v);
      logs.get(k)!.writes.push({ v, acked: true });
    }
    const lastOf = (k: string) => logs.get(k)!.writes.at(-1)!.v;
    await waitUntil(() => KEYS.every((k) => seenValues(all, k).includes(lastOf(k))), { timeoutMs: 30_000, what: "the dict watcher to catch up" });
    await waitUntil(() => seenValues(one, "a").includes(lastOf("a")), { timeoutMs: 30_000, what: "the key watcher to catch up" });

    expect(all.filter((e) => e.type === "reset")).toEqual([]);
    expect(one.filter((e) => e.type === "reset")).toEqual([]);
    for (const k of KEYS) check(logs.get(k)!, seenValues(all, k), `dict watcher, key ${k}`);
    check(logs.get("a")!, seenValues(one, "a"), "key watcher");
    expect(one.every((e) => e.key === "a")).toBe(true);
    const acked = [...logs.values()].reduce((n, l) => n + l.writes.filter((w) => w.acked).length, 0);
    console.log(`watch across failover, coordinator restart, join and leave: ${acked} acknowledged writes, ${all.length} events to the dict watcher, ${one.length} to the key watcher`);
    wAll.close();
    wOne.close();
    await Promise.all([runAll, runOne]);
  }, 300_000);
});
