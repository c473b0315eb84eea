/**
 * The primary's side of replication, against a fake link: what leaves together, the order
 * frames of one partition keep, and how each write learns its replicas' answers.
 */
import { describe, expect, it } from "vitest";
import { RetryableError, WireCode } from "../../src/errors.js";
import { PartitionTable } from "../../src/hashing/partition-table.js";
import type { FrameOf, ReplItem } from "../../src/protocol/frames.js";
import type { NodeLinks } from "../../src/shard/node-links.js";
import { Replicator } from "../../src/shard/replicator.js";
import type { Mutation } from "../../src/store/storage-engine.js";
import { waitUntil } from "../helpers/wait.js";

const PARTS = 4;

function table(owners: string[][], pepoch = 1, shards = ["p", "r", "s"]): PartitionTable {
  return new PartitionTable({
    epoch: pepoch,
    partitions: PARTS,
    owners,
    pepochs: owners.map(() => pepoch),
    learners: owners.map(() => []),
    handoffs: owners.map(() => null),
    shards: shards.map((id) => ({ id, url: `ws://${id}` })),
  });
}

const rf2 = () => table(Array.from({ length: PARTS }, () => ["p", "r"]));

interface Sent {
  to: string;
  items: ReplItem[];
  answer(result: unknown): void;
  fail(err: Error): void;
}

function set(part: number, value: string): Mutation {
  return { op: "set", part, dict: "d", gen: 0, key: new Uint8Array([part]), value: new TextEncoder().encode(value), deadline: 0, ver: 1, ttl: 0 };
}

const valuesOf = (it: ReplItem) => it.muts.map((m) => (m.op === "set" ? new TextDecoder().decode(m.value) : m.op));

function harness(initial = rf2()) {
  let current = initial;
  const sent: Sent[] = [];
  const reported: string[] = [];
  const links = {
    request: (to: string, frame: Omit<FrameOf<"replb">, "rid">) =>
      new Promise((resolve, reject) => {
        sent.push({ to, items: frame.items, answer: resolve, fail: reject });
      }),
  } as unknown as NodeLinks;
  const r = new Replicator({
    selfId: "p",
    table: () => current,
    links,
    reportFailed: (part, _pepoch, replica) => {
      reported.push(`${replica}:${part}`);
      return Promise.resolve();
    },
    reportCaughtUp: () => Promise.resolve(),
    refreshTable: () => Promise.resolve(),
    snapshot: () => ({ chunks: [][Symbol.iterator](), total: 0 }),
  });
  return { r, sent, reported, setTable: (t: PartitionTable) => (current = t) };
}

const turn = () => new Promise((r) => setImmediate(r));

const outcome = (p: Promise<void> | undefined) =>
  (p as Promise<void>).then(
    () => "ok",
    (err: unknown) => err,
  );

describe("Replicator", () => {
  it("sends the writes of one turn, over several partitions, as one request with a frame per partition", async () => {
    const x = harness();
    const a = outcome(x.r.replicate(0, [set(0, "a1")]));
    const b = outcome(x.r.replicate(1, [set(1, "b1")]));
    const a2 = outcome(x.r.replicate(0, [set(0, "a2")]));
    await turn();
    expect(x.sent).toHaveLength(1);
    expect(x.sent[0]?.to).toBe("r");
    expect(x.sent[0]?.items.map((it) => [it.part, valuesOf(it)])).toEqual([
      [0, ["a1", "a2"]],
      [1, ["b1"]],
    ]);
    expect(x.r.inFlight().frames).toBe(2);
    x.sent[0]?.answer(null);
    expect(await Promise.all([a, b, a2])).toEqual(["ok", "ok", "ok"]);
    expect(x.r.inFlight().frames).toBe(0);
  });

  it("keeps one frame in flight per partition: later writes wait, together, for the one before", async () => {
    const x = harness();
    const first = outcome(x.r.replicate(0, [set(0, "1")]));
    await turn();
    const second = outcome(x.r.replicate(0, [set(0, "2")]));
    await turn();
    const third = outcome(x.r.replicate(0, [set(0, "3")]));
    const other = outcome(x.r.replicate(1, [set(1, "x")]));
    await turn();
    // Partition 1 is not held up; partition 0's later writes wait for its first frame.
    expect(x.sent.map((s) => s.items.map((it) => [it.part, valuesOf(it)]))).toEqual([[[0, ["1"]]], [[1, ["x"]]]]);
    x.sent[1]?.answer(null);
    expect(await other).toBe("ok");
    x.sent[0]?.answer(null);
    expect(await first).toBe("ok");
    await turn();
    expect(x.sent[2]?.items.map((it) => [it.part, valuesOf(it)])).toEqual([[0, ["2", "3"]]]);
    x.sent[2]?.answer(null);
    expect(await Promise.all([second, third])).toEqual(["ok", "ok"]);
  });

  it("resends a frame that failed, alone, before the frame behind it", async () => {
    const x = harness();
    const first = outcome(x.r.replicate(0, [set(0, "1")]));
    await turn();
    const second = outcome(x.r.replicate(0, [set(0, "2")]));
    await turn();
    x.sent[0]?.fail(new RetryableError(WireCode.Unavailable, "no answer"));
    await waitUntil(() => x.sent.length === 2, { what: "the resend" });
    expect(valuesOf(x.sent[1]?.items[0] as ReplItem)).toEqual(["1"]);
    x.sent[1]?.answer(null);
    expect(await first).toBe("ok");
    await waitUntil(() => x.sent.length === 3, { what: "the next frame" });
    expect(valuesOf(x.sent[2]?.items[0] as ReplItem)).toEqual(["2"]);
    x.sent[2]?.answer(null);
    expect(await second).toBe("ok");
  });

  it("fails only the writes of a partition this node stopped leading, as maybe applied", async () => {
    const x = harness();
    const a = outcome(x.r.replicate(0, [set(0, "a")]));
    const b = outcome(x.r.replicate(1, [set(1, "b")]));
    await turn();
    // The replica refuses partition 0 (it knows a newer epoch, where r leads it).
    const owners = Array.from({ length: PARTS }, () => ["p", "r"]);
    owners[0] = ["r", "p"];
    x.setTable(table(owners, 1));
    x.sent[0]?.answer([{ code: WireCode.WrongOwner, message: "not yours" }, null]);
    expect(await b).toBe("ok");
    const err = await a;
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe(WireCode.WrongOwner);
    expect((err as RetryableError).maybeApplied).toBe(true);
  });

  it("stops waiting for a replica taken out of the partition, and reports one that does not answer", async () => {
    const x = harness();
    const a = outcome(x.r.replicate(2, [set(2, "a")]));
    await turn();
    // Past the report delay (the frame's first attempt is dated back), the next failure reports it.
    const failUntil = async (n: number) => {
      await waitUntil(() => x.sent.length >= n, { what: `attempt ${n}` });
      x.sent[n - 1]?.fail(new RetryableError(WireCode.Unavailable, "no answer"));
    };
    const realNow = Date.now;
    try {
      await failUntil(1);
      Date.now = () => realNow() + 5_000;
      await failUntil(2);
      await waitUntil(() => x.reported.length === 1, { what: "the report" });
      expect(x.reported).toEqual(["r:2"]);
      // The coordinator takes r out: the next attempt finds the write no longer waits for it.
      x.setTable(table(Array.from({ length: PARTS }, () => ["p"])));
      expect(await a).toBe("ok");
      expect(x.sent).toHaveLength(2);
    } finally {
      Date.now = realNow;
    }
  });

  it("answers a write once both its replicas and its local commit have it, counting a shared commit once", async () => {
    const x = harness();
    let land!: () => void;
    const local = new Promise<void>((resolve) => (land = resolve));
    const a = outcome(x.r.replicate(0, [set(0, "a")], local));
    const b = outcome(x.r.replicate(0, [set(0, "b")], local));
    let answered = false;
    void a.then(() => (answered = true));
    await turn();
    x.sent[0]?.answer(null);
    await turn();
    // The replica has it; the local commit has not landed: not answered yet.
    expect(x.r.inFlight().frames).toBe(0);
    expect(answered).toBe(false);
    land();
    expect(await Promise.all([a, b])).toEqual(["ok", "ok"]);
  });

  it("fails a write with its local commit's own error, not as maybe applied by the replicas", async () => {
    const x = harness();
    const broken = new Error("disk on fire");
    const a = outcome(x.r.replicate(1, [set(1, "a")], Promise.reject(broken)));
    await turn();
    x.sent[0]?.answer(null);
    expect(await a).toBe(broken);
  });

  it("forgets a shard gone from the cluster only once nothing is queued for it, and serves it afresh if it comes back", async () => {
    const x = harness();
    const a = outcome(x.r.replicate(0, [set(0, "a")]));
    await turn();
    // r leaves the cluster while its frame is in flight: the frame still ends (r is no longer waited for).
    const without = table(Array.from({ length: PARTS }, () => ["p"]), 1, ["p", "s"]);
    x.setTable(without);
    x.r.onTable(without);
    x.sent[0]?.answer(null);
    expect(await a).toBe("ok");
    x.r.onTable(without);
    expect(x.r.inFlight().frames).toBe(0);
    // r is back (a new shard with the old name): its frames start from scratch.
    x.setTable(rf2());
    x.r.onTable(rf2());
    const b = outcome(x.r.replicate(0, [set(0, "b")]));
    await turn();
    expect(x.sent).toHaveLength(2);
    expect(valuesOf(x.sent[1]?.items[0] as ReplItem)).toEqual(["b"]);
    x.sent[1]?.answer(null);
    expect(await b).toBe("ok");
  });

  it("answers at once when the partition has no replica", () => {
    const x = harness(table(Array.from({ length: PARTS }, () => ["p"])));
    expect(x.r.replicate(0, [set(0, "a")])).toBeUndefined();
  });
});
