/**
 * A request never sees, or decides on, a write that is not acknowledged yet: the data
 * handler holds it until the earlier write's commit settles. Commits here are promises the
 * test settles by hand, so the order is exact.
 */
import { describe, expect, it } from "vitest";
import { DataHandler } from "../../src/shard/data-handler.js";
import { PartitionHost } from "../../src/shard/partition-host.js";
import { DictSet } from "../../src/shard/dict-set.js";
import { DedupTable } from "../../src/shard/dedup-table.js";
import { PartitionTable } from "../../src/hashing/partition-table.js";
import { partitionOf } from "../../src/hashing/hash.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { MemoryEngine } from "../../src/store/storage-engine.js";
import { FakeClock } from "../helpers/fake-clock.js";

const DICT = "di-test";
const PARTS = 8;

function setup() {
  const commits: (() => void)[] = [];
  const table = new PartitionTable({
    epoch: 1,
    partitions: PARTS,
    owners: Array.from({ length: PARTS }, () => ["s1"]),
    pepochs: [],
    learners: [],
    shards: [{ id: "s1", url: "ws://127.0.0.1:1" }],
  } as unknown as ConstructorParameters<typeof PartitionTable>[0]);
  const dicts = new DictSet(async () => true);
  dicts.add(DICT);
  const clock = new FakeClock(0);
  const handler = new DataHandler({
    shardId: "s1",
    reserve: () => undefined,
    release: () => {},
    host: new PartitionHost({ ttlMs: 60_000, engine: new MemoryEngine(), clock, log: () => {}, record: true }),
    dicts,
    dedup: new DedupTable(),
    clock,
    maxEntryBytes: 1 << 20,
    table: () => table,
    serving: () => true,
    // Every write's commit waits for the test to release it.
    persist: (store) => {
      if (store.takePending().length === 0) return undefined;
      return new Promise<void>((resolve) => commits.push(resolve));
    },
    ensureLeader: () => undefined,
    handingOff: () => undefined,
    handoffOver: async () => {},
  });
  return { handler, commits };
}

function keyFrame(type: "get" | "put" | "del", key: string, rid: number, value?: string) {
  const kb = encodeKey(key);
  const part = partitionOf(DICT, kb, PARTS);
  const base = { type, rid, dict: DICT, part, epoch: 1, key: kb };
  return type === "put" ? { ...base, value: Buffer.from(value ?? ""), ifAbsent: false } : base;
}

/** Whether a promise has settled, after letting queued reactions run. */
async function settled(p: unknown): Promise<boolean> {
  let done = false;
  Promise.resolve(p).then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 20; i++) await Promise.resolve();
  return done;
}

describe("DataHandler: requests wait for unacknowledged writes", () => {
  it("a read of a key waits for the pending put of that key, not of another", async () => {
    const { handler, commits } = setup();
    const put = handler.handle(keyFrame("put", "a", 1, "v") as never, "c1");
    expect(commits.length).toBe(1);
    const sameKey = handler.handle(keyFrame("get", "a", 2) as never, "c1");
    const otherKey = handler.handle(keyFrame("get", "b", 3) as never, "c1");
    expect(await settled(otherKey)).toBe(true);
    expect(await settled(sameKey)).toBe(false);
    commits[0]?.();
    expect(await settled(put)).toBe(true);
    expect(await settled(sameKey)).toBe(true);
  });

  it("a write of a key waits too, and a bulk update waits for any of its keys", async () => {
    const { handler, commits } = setup();
    handler.handle(keyFrame("put", "a", 1, "v") as never, "c1");
    const del = handler.handle(keyFrame("del", "a", 2) as never, "c1");
    expect(await settled(del)).toBe(false);
    const a = keyFrame("put", "a", 0, "x") as { part: number; key: Uint8Array };
    const b = keyFrame("put", "zz", 0, "y") as { part: number; key: Uint8Array };
    const parts = a.part === b.part ? [{ part: a.part, keys: [a.key, b.key], values: [Buffer.from("1"), Buffer.from("2")] }] : [
      { part: a.part, keys: [a.key], values: [Buffer.from("1")] },
      { part: b.part, keys: [b.key], values: [Buffer.from("2")] },
    ];
    const bulk = handler.handle({ type: "updateParts", rid: 3, op: 3, dict: DICT, epoch: 1, parts } as never, "c1");
    expect(await settled(bulk)).toBe(false);
    // Neither has even been applied: only the put has asked for a commit.
    expect(commits.length).toBe(1);
    commits[0]?.();
    expect(await settled(del)).toBe(false); // now committing itself
    expect(commits.length).toBe(2);
    commits[1]?.();
    expect(await settled(del)).toBe(true);
    // The bulk update ran after both, and commits on its own.
    for (const c of commits.slice(2)) c();
    expect(await settled(bulk)).toBe(true);
  });

  it("a read waits for a pending clear of its dict", async () => {
    const { handler, commits } = setup();
    const put = handler.handle(keyFrame("put", "a", 1, "v") as never, "c1");
    commits[0]?.();
    expect(await settled(put)).toBe(true);
    const f = keyFrame("get", "a", 3) as { part: number };
    const clear = handler.handle({ type: "clear", rid: 2, dict: DICT, epoch: 1, parts: [f.part] } as never, "c1");
    const get = handler.handle(f as never, "c1");
    expect(await settled(get)).toBe(false);
    commits[1]?.();
    expect(await settled(clear)).toBe(true);
    expect(await settled(get)).toBe(true);
  });
});
