/**
 * The old primary's side of a hand-off: it stops serving the partition as soon as the table
 * asks, reports only once its accepted writes have drained, and serves again only when a
 * table no longer asks for that hand-off.
 */
import { describe, expect, it } from "vitest";
import { PartitionTable, type Handoff } from "../../src/hashing/partition-table.js";
import { HandoffFollower } from "../../src/shard/handoff-follower.js";
import type { PartitionTableData } from "../../src/protocol/frames.js";
import { waitUntil } from "../helpers/wait.js";

function table(epoch: number, owners: string[][], handoffs: (Handoff | null)[], pepochs = owners.map(() => 1)): PartitionTable {
  return new PartitionTable({
    epoch,
    partitions: owners.length,
    owners,
    pepochs,
    learners: owners.map(() => []),
    handoffs,
    shards: [{ id: "a", url: "ws://a" }, { id: "b", url: "ws://b" }],
  });
}

function follower() {
  let release = () => {};
  const drained = new Promise<void>((r) => (release = r));
  const reports: { part: number; pepoch: number; h: Handoff }[] = [];
  let adopted: PartitionTableData | undefined;
  let answer: PartitionTableData = table(1, [["a", "b"]], [null]).toData();
  const f = new HandoffFollower({
    selfId: "a",
    drain: () => drained,
    report: async (part, pepoch, h) => {
      reports.push({ part, pepoch, h });
      return answer;
    },
    adoptTable: (t) => (adopted = t),
  });
  return { f, release, reports, adopted: () => adopted, answerWith: (t: PartitionTableData) => (answer = t) };
}

describe("HandoffFollower", () => {
  it("fences the partition at once, reports only after the drain, and lifts the fence at the flip", async () => {
    const x = follower();
    x.answerWith(table(3, [["b"]], [null], [2]).toData());
    x.f.onTable(table(2, [["a", "b"], ["a"]], [{ to: "b", id: 2 }, null]));
    expect(x.f.target(0)).toBe("b");
    expect(x.f.target(1)).toBeUndefined();
    // Accepted writes still in flight: nothing reported yet.
    await new Promise((r) => setImmediate(r));
    expect(x.reports).toEqual([]);
    x.release();
    await waitUntil(() => x.reports.length > 0, { what: "the report" });
    expect(x.reports[0]).toEqual({ part: 0, pepoch: 1, h: { to: "b", id: 2 } });
    expect(x.adopted()?.epoch).toBe(3);
    // The shard adopts that table, in which b leads: the hand-off is over.
    const over = x.f.over(0, 60_000);
    x.f.onTable(table(3, [["b"], ["a"]], [null, null], [2, 1]));
    await over;
    expect(x.f.target(0)).toBeUndefined();
  });

  it("an abandoned hand-off (the table stops asking) lifts the fence: the partition is served again", async () => {
    const x = follower();
    x.f.onTable(table(2, [["a", "b"]], [{ to: "b", id: 2 }]));
    expect(x.f.target(0)).toBe("b");
    x.f.onTable(table(3, [["a"]], [null]));
    expect(x.f.target(0)).toBeUndefined();
    x.release();
  });

  it("a new hand-off of the same partition (new id) is a new fence, not the old one", async () => {
    const x = follower();
    x.f.onTable(table(2, [["a", "b"]], [{ to: "b", id: 2 }]));
    const first = x.f.over(0, 60_000);
    x.f.onTable(table(5, [["a", "b"]], [{ to: "b", id: 5 }]));
    await first; // the id-2 hand-off ended
    expect(x.f.target(0)).toBe("b"); // and the id-5 one fences again
    x.release();
    await waitUntil(() => x.reports.some((r) => r.h.id === 5), { what: "the report of the new hand-off" });
    expect(x.reports.every((r) => r.h.id === 5)).toBe(true);
    x.f.onTable(table(6, [["b"]], [null], [2])); // the flip ends the reporting
  });

  it("ignores hand-offs it does not lead, and targets that are not in-sync owners", () => {
    const x = follower();
    x.f.onTable(table(2, [["b", "a"], ["a"]], [{ to: "a", id: 2 }, { to: "b", id: 2 }]));
    expect(x.f.target(0)).toBeUndefined();
    expect(x.f.target(1)).toBeUndefined();
  });

  it("over() gives up after its time limit while the fence stands", async () => {
    const x = follower();
    x.f.onTable(table(2, [["a", "b"]], [{ to: "b", id: 2 }]));
    await x.f.over(0, 20);
    expect(x.f.target(0)).toBe("b");
    x.f.onTable(table(3, [["b"]], [null], [2]));
    x.release();
  });
});
