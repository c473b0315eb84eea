import { describe, expect, it } from "vitest";
import { PartitionTable } from "../../src/hashing/partition-table.js";

describe("PartitionTable", () => {
  it("replicaCount agrees with replicasOf (without making the list)", () => {
    const t = new PartitionTable({
      epoch: 1,
      partitions: 4,
      owners: [["a"], ["a", "b"], ["b", "c", "a"], []],
      pepochs: [1, 1, 1, 1],
      learners: [["c"], [], [], []],
      shards: [],
    });
    for (let p = 0; p < 4; p++) {
      expect(t.replicaCount(p)).toBe(t.replicasOf(p).length);
      for (const s of ["a", "b", "c"]) expect(t.isReplica(p, s)).toBe(t.replicasOf(p).includes(s));
    }
    expect([0, 1, 2, 3].map((p) => t.replicaCount(p))).toEqual([0, 1, 2, 0]);
    // A learner is no replica.
    expect(t.learnersOf(0)).toEqual(["c"]);
  });
});
