/**
 * A replica applies a partition's frames in the order they arrived, even when an early one
 * waits for a table refresh that a later one does not need.
 */
import { describe, expect, it } from "vitest";
import { RetryableError, WireCode } from "../../src/errors.js";
import { PartitionTable } from "../../src/hashing/partition-table.js";
import type { ReplItem } from "../../src/protocol/frames.js";
import { ReplicaApplier, SLOW_ITEM_WAIT_MS } from "../../src/shard/replica-applier.js";

function table(epoch: number, pepoch: number): PartitionTable {
  return new PartitionTable({
    epoch,
    partitions: 2,
    owners: [
      ["p", "r"],
      ["p", "r"],
    ],
    pepochs: [pepoch, pepoch],
    learners: [[], []],
    handoffs: [null, null],
    shards: [
      { id: "p", url: "ws://p" },
      { id: "r", url: "ws://r" },
    ],
  });
}

function frame(part: number, pepoch: number, value: string): ReplItem {
  const key = new Uint8Array([1]);
  return { part, pepoch, muts: [{ op: "set", part, dict: "d", gen: 0, key, value: new TextEncoder().encode(value), deadline: 0, ver: 1, ttl: 0 }] };
}

function valueOf(f: ReplItem): string {
  const m = f.muts[0];
  return m && m.op === "set" ? new TextDecoder().decode(m.value) : "?";
}

function replica() {
  let current = table(1, 1);
  const applied: string[] = [];
  const refreshes: (() => void)[] = [];
  const batches: number[] = [];
  const r = new ReplicaApplier({
    selfId: "r",
    table: () => current,
    // Each refresh completes when the test says so: the first can outlast the second.
    refreshTable: () => new Promise<void>((resolve) => refreshes.push(() => ((current = table(2, 2)), resolve()))),
    apply: (items) => {
      batches.push(items.length);
      for (const it of items) applied.push(valueOf(it));
      return Promise.resolve();
    },
  });
  return { r, applied, refreshes, batches };
}

const turn = () => new Promise((r) => setImmediate(r));

describe("ReplicaApplier", () => {
  it("applies a resend and the next frame only after a stalled original, in arrival order", async () => {
    const x = replica();
    // The original of frame A names epoch 2, which this replica does not know yet: it waits.
    const original = x.r.receive(frame(0, 2, "A"), "p");
    await turn();
    // The primary's attempt timed out: it resends A, then (once A is acknowledged) sends B.
    const resend = x.r.receive(frame(0, 2, "A"), "p");
    const next = resend.then(() => x.r.receive(frame(0, 2, "B"), "p"));
    await turn();
    expect(x.refreshes).toHaveLength(1);
    expect(x.applied).toEqual([]);
    // The original's refresh finishes last; nothing jumped ahead of it.
    x.refreshes[0]?.();
    await Promise.all([original, resend, next]);
    expect(x.applied).toEqual(["A", "A", "B"]);
  });

  it("does not hold one partition's frames behind another's", async () => {
    const x = replica();
    const stalled = x.r.receive(frame(0, 2, "A"), "p");
    await turn();
    // Partition 1 at the epoch it knows goes through at once.
    await x.r.receive(frame(1, 1, "other"), "p");
    expect(x.applied).toEqual(["other"]);
    x.refreshes[0]?.();
    await stalled;
    expect(x.applied).toEqual(["other", "A"]);
  });

  it("refuses a sender that is not the primary, and the queue goes on after a refusal", async () => {
    const x = replica();
    await expect(x.r.receive(frame(0, 1, "A"), "r")).rejects.toBeInstanceOf(RetryableError);
    await x.r.receive(frame(0, 1, "B"), "p");
    expect(x.applied).toEqual(["B"]);
  });

  it("applies a batch's ready items in one step and answers null when all were applied", async () => {
    const x = replica();
    const items = [frame(0, 1, "A"), frame(1, 1, "B")];
    await expect(x.r.receiveBatch(items, "p")).resolves.toBeNull();
    expect(x.batches).toEqual([2]);
    expect(x.applied).toEqual(["A", "B"]);
  });

  it("answers a batch per item: a refused item fails alone, the others stay applied", async () => {
    const x = replica();
    // Partition 0 at an epoch older than the replica's: refused (the table says epoch 1).
    const items = [frame(0, 0, "old"), frame(1, 1, "B")];
    const out = await x.r.receiveBatch(items, "p");
    expect(out).toHaveLength(2);
    expect(out?.[0]?.code).toBe(WireCode.WrongOwner);
    expect(out?.[1]).toBeNull();
    expect(x.applied).toEqual(["B"]);
  });

  it("keeps a batch's item behind an earlier frame of its partition that is still waiting", async () => {
    const x = replica();
    const stalled = x.r.receive(frame(0, 2, "A"), "p");
    await turn();
    const batch = x.r.receiveBatch([frame(0, 2, "B"), frame(1, 1, "other")], "p");
    await turn();
    // The other partition went through at once; partition 0's item waits for A.
    expect(x.applied).toEqual(["other"]);
    x.refreshes[0]?.();
    await stalled;
    await expect(batch).resolves.toBeNull();
    expect(x.applied).toEqual(["other", "A", "B"]);
  });

  it("answers a batch without waiting long for an item stuck behind its partition's earlier frame", async () => {
    const x = replica();
    // Partition 0's frame waits for a table refresh that does not come.
    const stalled = x.r.receive(frame(0, 2, "A"), "p");
    await turn();
    const started = performance.now();
    const out = await x.r.receiveBatch([frame(0, 2, "B"), frame(1, 1, "other")], "p");
    expect(performance.now() - started).toBeGreaterThanOrEqual(SLOW_ITEM_WAIT_MS - 5);
    expect(out?.[0]?.code).toBe(WireCode.Unavailable);
    expect(out?.[1]).toBeNull();
    expect(x.applied).toEqual(["other"]);
    // The stuck item is still applied in order once its partition moves on.
    x.refreshes[0]?.();
    await stalled;
    await turn();
    expect(x.applied).toEqual(["other", "A", "B"]);
  });
});
