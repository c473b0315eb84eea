/**
 * A partition's copy to a learner carries the floors of the clients whose answers of it the
 * sender dropped, and the learner, applying the copy as a replica applies any batch, refuses
 * what they cover.
 */
import { describe, expect, it } from "vitest";
import { MemoryEngine } from "../../src/store/storage-engine.js";
import { PartitionHost } from "../../src/shard/partition-host.js";
import { DedupTable } from "../../src/shard/dedup-table.js";
import { DictSet } from "../../src/shard/dict-set.js";
import { partitionCopy } from "../../src/shard/stored-state.js";
import { applyReplicated } from "../../src/shard/replica-apply.js";
import type { ReplMutation } from "../../src/encoding/mutation.js";
import { FakeClock } from "../helpers/fake-clock.js";

function node(clock: FakeClock) {
  return { engine: new MemoryEngine(), host: new PartitionHost({ ttlMs: 60_000, engine: new MemoryEngine(), clock }), dedup: new DedupTable(), dicts: new DictSet(async () => true), clock };
}

describe("partition copy", () => {
  it("carries the floors of clients whose answers of the partition were dropped, in chunks, and the learner refuses under them", async () => {
    const clock = new FakeClock(1_000);
    const sender = node(clock);
    const CLIENTS = 5_000;
    for (let c = 0; c < CLIENTS; c++) {
      sender.dedup.settle(`c${c}`, 1, 1_000, { r: true }, 3);
      sender.dedup.settle(`c${c}`, 2, 1_000, { r: true }, 4);
      sender.dedup.advance(`c${c}`, 3, 1_000);
    }
    // Other answers of partition 3 are still kept (a client that sends no floor): they travel
    // as answers, in bounded chunks too (a spread of 150,000 arguments would throw).
    for (let r = 1; r <= 150_000; r++) sender.dedup.settle("kept", r, 1_000, { r: "nine" }, 3);
    sender.host.store(3);
    const { chunks } = partitionCopy(sender, 3);
    const all: ReplMutation[][] = [];
    for (let r = chunks.next(); r.done !== true; r = chunks.next()) all.push(r.value);
    expect(all[0]?.[0]?.op).toBe("reset");
    const floorChunks = all.filter((c) => c.some((m) => m.op === "floors"));
    // Bounded chunks, every client once.
    expect(floorChunks.length).toBeGreaterThan(1);
    const carried = floorChunks.flatMap((c) => c.flatMap((m) => (m.op === "floors" ? m.floors : [])));
    expect(new Set(carried.map((f) => f.client)).size).toBe(CLIENTS);
    expect(carried.every((f) => f.below === 3 && f.at === 1_000)).toBe(true);

    const learner = node(clock);
    for (const c of all) await applyReplicated(learner, [{ part: 3, muts: c }]);
    expect(learner.dedup.lookup("c17", 1)).toEqual({ found: false, below: true });
    expect(learner.dedup.lookup("c17", 3)).toEqual({ found: false, below: false });
    expect(learner.dedup.lookup("kept", 9)).toEqual({ found: true, answer: "nine" });
    expect(learner.dedup.lookup("kept", 150_000)).toEqual({ found: true, answer: "nine" });
    expect(Math.max(...all.map((c) => c.length))).toBeLessThanOrEqual(4096);
    // Large answers (a pop's holds the value it removed) are bounded by bytes as well.
    const big = node(clock);
    for (let r = 1; r <= 40; r++) big.dedup.settle("popper", r, 1_000, { r: Buffer.alloc(100_000) }, 2);
    big.host.store(2);
    const bigChunks: ReplMutation[][] = [];
    const it2 = partitionCopy(big, 2).chunks;
    for (let r = it2.next(); r.done !== true; r = it2.next()) bigChunks.push(r.value);
    const answerChunks = bigChunks.filter((c) => c.some((m) => m.op === "dedup"));
    expect(answerChunks.length).toBeGreaterThanOrEqual(4);
    expect(answerChunks.flat()).toHaveLength(40);
    // The learner passes them on in its own copies of the partition.
    expect(learner.dedup.floorsFor(3)).toHaveLength(CLIENTS);
    // A partition none of whose answers were dropped carries no floors.
    sender.host.store(5);
    const other = partitionCopy(sender, 5).chunks;
    for (let r = other.next(); r.done !== true; r = other.next()) expect(r.value.some((m) => m.op === "floors")).toBe(false);
  });
});
