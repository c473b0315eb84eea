/**
 * How a replica applies accepted items: its disk reservation is taken before anything
 * changes and given back however the commit ends, and a refusal is always the promise's
 * (never a throw the batch's other items would share).
 */
import { describe, expect, it } from "vitest";
import { StorageFullError } from "../../src/errors.js";
import { DedupTable } from "../../src/shard/dedup-table.js";
import { DictSet } from "../../src/shard/dict-set.js";
import { PartitionHost } from "../../src/shard/partition-host.js";
import { applyReplicated } from "../../src/shard/replica-apply.js";
import { MemoryEngine, type ReplMutation, type StorageEngine } from "../../src/store/storage-engine.js";
import { FakeClock } from "../helpers/fake-clock.js";

/** A memory engine that counts reservations, and can refuse one or fail a commit. */
function counting(): { engine: StorageEngine; state: { reserved: number; refuse: Error | undefined; failCommit: Error | undefined } } {
  const state = { reserved: 0, refuse: undefined as Error | undefined, failCommit: undefined as Error | undefined };
  const memory = new MemoryEngine();
  const engine: StorageEngine = {
    durable: false,
    tight: false,
    reserve: (bytes) => {
      if (state.refuse) throw state.refuse;
      state.reserved += bytes;
      return undefined;
    },
    release: (bytes) => {
      state.reserved -= bytes;
    },
    commit: () => (state.failCommit ? Promise.reject(state.failCommit) : Promise.resolve()),
    recover: () => memory.recover(),
    idle: () => memory.idle(),
    expireDedup: () => {},
    close: () => memory.close(),
  };
  return { engine, state };
}

function replica() {
  const clock = new FakeClock(1_000);
  const { engine: counted, state: engine } = counting();
  const stores = { engine: counted, host: new PartitionHost({ ttlMs: 60_000, engine: new MemoryEngine(), clock }), dedup: new DedupTable(), dicts: new DictSet(async () => true), clock };
  return { engine, stores };
}

const set = (value: string): ReplMutation => ({ op: "set", part: 1, dict: "d", gen: 0, key: new Uint8Array([1]), value: new TextEncoder().encode(value), deadline: 0, ver: 1, ttl: 0 });

describe("applyReplicated", () => {
  it("applies the items and gives the reservation back once committed", async () => {
    const x = replica();
    const done = applyReplicated(x.stores, [{ part: 1, muts: [set("a")] }]);
    expect(x.engine.reserved).toBeGreaterThan(0);
    await done;
    expect(x.engine.reserved).toBe(0);
    expect(x.stores.host.store(1).contains("d", "\u0001", 1_000)).toBe(true);
  });

  it("rejects, without throwing and without applying, when the disk refuses the reservation", async () => {
    const x = replica();
    x.engine.refuse = new StorageFullError("shard-1", "/data", "the disk is full");
    let p: Promise<void> | undefined;
    expect(() => (p = applyReplicated(x.stores, [{ part: 1, muts: [set("a")] }]))).not.toThrow();
    await expect(p).rejects.toBe(x.engine.refuse);
    expect(x.stores.host.store(1).contains("d", "\u0001", 1_000)).toBe(false);
  });

  it("gives the reservation back when the commit fails", async () => {
    const x = replica();
    x.engine.failCommit = new Error("fsync failed");
    await expect(applyReplicated(x.stores, [{ part: 1, muts: [set("a")] }])).rejects.toBe(x.engine.failCommit);
    expect(x.engine.reserved).toBe(0);
  });
});
