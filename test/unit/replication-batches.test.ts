/**
 * The primary's batching of replication frames to one replica: what leaves together, when
 * the next batch may leave, and how a batch's answer settles each item.
 */
import { describe, expect, it } from "vitest";
import { RetryableError, WireCode } from "../../src/errors.js";
import type { FrameOf } from "../../src/protocol/frames.js";
import { BATCH_BYTES, BATCHES_IN_FLIGHT, itemBytes, ReplicationBatches, type ReplItem } from "../../src/shard/replication-batches.js";

type Sent = { frame: Omit<FrameOf<"replb">, "rid">; answer(result: unknown): void; fail(err: Error): void };

function harness() {
  const sent: Sent[] = [];
  const b = new ReplicationBatches(
    (frame) =>
      new Promise((resolve, reject) => {
        sent.push({ frame, answer: resolve, fail: reject });
      }),
  );
  return { b, sent };
}

const item = (part: number, valueBytes = 10): ReplItem => ({
  part,
  pepoch: 1,
  muts: [{ op: "set", part, dict: "dict", gen: 0, key: new Uint8Array([part & 0xff]), value: new Uint8Array(valueBytes), deadline: 0, ver: 1, ttl: 0 }],
});

/** An item's delivery as a promise: settled by the batch's callback. */
const deliver = (b: ReplicationBatches, it: ReplItem) => new Promise<void>((resolve, reject) => b.submit(it, itemBytes(it), (err) => (err ? reject(err) : resolve())));

const settle = (p: Promise<void>) =>
  p.then(
    () => "ok",
    (err: Error) => err,
  );

const turn = () => new Promise((r) => setImmediate(r));

describe("ReplicationBatches", () => {
  it("sends the items of one turn as one request, and keeps at most two in flight", async () => {
    const { b, sent } = harness();
    expect(BATCHES_IN_FLIGHT).toBe(2);
    const first = [deliver(b, item(1)), deliver(b, item(2)), deliver(b, item(3))].map(settle);
    await turn();
    expect(sent.map((s) => s.frame.items.map((it) => it.part))).toEqual([[1, 2, 3]]);
    const second = [deliver(b, item(4))].map(settle);
    await turn();
    // Two in flight: later items wait, whatever turn they come in, and leave together.
    const third = [deliver(b, item(5))].map(settle);
    await turn();
    const alsoThird = [deliver(b, item(6))].map(settle);
    await turn();
    expect(sent).toHaveLength(2);
    expect(b.waiting).toBe(2);
    sent[0]?.answer(null);
    expect(await Promise.all(first)).toEqual(["ok", "ok", "ok"]);
    await turn();
    expect(sent.map((s) => s.frame.items.map((it) => it.part))).toEqual([[1, 2, 3], [4], [5, 6]]);
    sent[1]?.answer(null);
    sent[2]?.answer(null);
    expect(await Promise.all([...second, ...third, ...alsoThird])).toEqual(["ok", "ok", "ok"]);
  });

  it("settles each item by its own answer: a refused one fails alone", async () => {
    const { b, sent } = harness();
    const out = [deliver(b, item(1)), deliver(b, item(2))].map(settle);
    await turn();
    sent[0]?.answer([{ code: WireCode.WrongOwner, message: "not mine" }, null]);
    const [a, c] = await Promise.all(out);
    expect(a).toBeInstanceOf(RetryableError);
    expect((a as RetryableError).code).toBe(WireCode.WrongOwner);
    expect(c).toBe("ok");
  });

  it("fails every item of a request that fails, or whose answer it cannot read", async () => {
    const { b, sent } = harness();
    const lost = [deliver(b, item(1)), deliver(b, item(2))].map(settle);
    await turn();
    sent[0]?.fail(new RetryableError(WireCode.Unavailable, "timed out"));
    for (const r of await Promise.all(lost)) expect(r).toBeInstanceOf(RetryableError);
    const garbled = [deliver(b, item(3)), deliver(b, item(4))].map(settle);
    await turn();
    // One answer for two items: nothing can be taken as applied.
    sent[1]?.answer([null]);
    for (const r of await Promise.all(garbled)) expect(r).toBeInstanceOf(RetryableError);
  });

  it("splits what would pass the batch size into several requests of one wave", async () => {
    const { b, sent } = harness();
    const big = Math.floor(BATCH_BYTES / 3);
    const out = [1, 2, 3, 4].map((p) => settle(deliver(b, item(p, big))));
    await turn();
    expect(sent.map((s) => s.frame.items.length)).toEqual([2, 2]);
    for (const s of sent) s.answer(null);
    expect(await Promise.all(out)).toEqual(["ok", "ok", "ok", "ok"]);
  });
});
