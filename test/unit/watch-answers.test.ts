/**
 * A shard's watch requests (src/shard/watch-polls.ts), on stores reduced to what the poll
 * path reads (a change history and a sequence): what an answer carries for a watcher of
 * many partitions.
 */
import { describe, expect, it } from "vitest";
import { ChangeHistory, PUT } from "../../src/store/change-history.js";
import type { PartitionStore } from "../../src/store/partition-store.js";
import type { FrameOf } from "../../src/protocol/frames.js";
import type { WatchReply } from "../../src/protocol/replies.js";
import { WatchPolls } from "../../src/shard/watch-polls.js";
import { systemClock } from "../../src/util/clock.js";

const DICT = "dict-id-1";

function shard(parts: number) {
  const stores = Array.from({ length: parts }, () => ({ history: new ChangeHistory(), version: 0 }));
  const write = (part: number, key: string) => {
    const s = stores[part] as (typeof stores)[number];
    const seq = ++s.version;
    s.history.append(seq, DICT, PUT, key, "v");
    s.history.track(seq, undefined);
    return seq;
  };
  return { stores, write, store: (p: number) => stores[p] as unknown as PartitionStore };
}

const frame = (parts: { part: number; after: number | null }[], waitMs: number): FrameOf<"watch"> => ({ type: "watch", rid: 1, dict: DICT, epoch: 1, parts, waitMs });

describe("watch answers", () => {
  it("carry every partition asked from now, then only those with something to say", async () => {
    const s = shard(4);
    s.write(2, "a");
    const polls = new WatchPolls(systemClock);
    const first = polls.poll(frame([0, 1, 2, 3].map((part) => ({ part, after: null })), 0), s.store) as WatchReply;
    expect(first.parts.map((p) => [p.part, p.pos])).toEqual([[0, 0], [1, 0], [2, 1], [3, 0]]);

    // Parked at those positions; a change in partition 1 answers with partition 1 alone.
    const waiting = polls.poll(frame(first.parts.map((p) => ({ part: p.part, after: p.pos })), 10_000), s.store);
    expect(waiting).toBeInstanceOf(Promise);
    const seq = s.write(1, "b");
    const answer = await waiting;
    expect(answer.parts).toEqual([{ part: 1, pos: seq, ev: [expect.objectContaining({ s: seq, t: PUT })] }]);
    expect(polls.size).toBe(0);
  });

  it("carry a partition whose position moved without a match, and a reset", () => {
    const s = shard(3);
    s.write(0, "other");
    const polls = new WatchPolls(systemClock);
    const keyed = { ...frame([0, 1].map((part) => ({ part, after: 0 })), 0), keys: [Buffer.from("wanted", "latin1")] };
    // Partition 0 was read past a change of another key: its new position is told, without events.
    expect((polls.poll(keyed, s.store) as WatchReply).parts).toEqual([{ part: 0, pos: 1, ev: [] }]);
    // A position beyond the partition's sequence cannot be resumed.
    expect((polls.poll(frame([{ part: 1, after: 0 }, { part: 2, after: 7 }], 0), s.store) as WatchReply).parts).toEqual([{ part: 2, pos: 0, reset: true, ev: [] }]);
  });
});
