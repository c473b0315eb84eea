/** The shard's watch requests (watch-polls.ts) on real partition stores, with a fake clock. */
import { describe, expect, it } from "vitest";
import { PartitionStore } from "../../src/store/partition-store.js";
import { MemoryEngine } from "../../src/store/storage-engine.js";
import { WatchPolls, changeFilter } from "../../src/shard/watch-polls.js";
import type { FrameOf } from "../../src/protocol/frames.js";
import type { WatchReply } from "../../src/protocol/replies.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { latin1String } from "../../src/encoding/latin1-bytes.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { RetryableError } from "../../src/errors.js";

const DICT = "di-watch";
const k = (key: string) => latin1String(encodeKey(key));
const v = (s: string) => Buffer.from(s);

function setup(history = { maxEvents: 100, maxBytes: 1 << 20, maxAgeMs: 3_600_000 }) {
  const clock = new FakeClock(1_000);
  const stores = new Map<number, PartitionStore>();
  const store = (part: number) => {
    let s = stores.get(part);
    if (!s) stores.set(part, (s = new PartitionStore({ part, ttlMs: 60_000, engine: new MemoryEngine(), record: true, now: () => clock.now(), history })));
    return s;
  };
  const polls = new WatchPolls(clock);
  /** A write on a primary, acknowledged at once (as a commit with nothing to wait for). */
  const put = (part: number, key: string, value: string) => {
    const s = store(part);
    s.write(DICT, k(key), v(value), clock.now());
    s.takePending();
    s.history.track(s.history.head, undefined);
  };
  const frame = (parts: { part: number; after: number | null }[], extra: Partial<FrameOf<"watch">> = {}): FrameOf<"watch"> => ({ type: "watch", rid: 1, dict: DICT, epoch: 1, parts, waitMs: 10_000, ...extra });
  return { clock, store, polls, put, frame };
}

const flush = () => new Promise((r) => setTimeout(r, 0));
const keysOf = (r: WatchReply) => r.parts.flatMap((p) => p.ev.map((e) => (e.k ? latin1String(e.k) : undefined)));

describe("WatchPolls", () => {
  it("from now: answers at once with the acknowledged position, then parks until a change is acknowledged", async () => {
    const { store, polls, put, frame } = setup();
    put(0, "old", "1");
    const start = polls.poll(frame([{ part: 0, after: null }], { waitMs: 0 }), store) as WatchReply;
    expect(start).toEqual({ parts: [{ part: 0, pos: store(0).history.acked, ev: [] }] });
    const parked = polls.poll(frame([{ part: 0, after: start.parts[0]!.pos }]), store);
    expect(parked).toBeInstanceOf(Promise);
    expect(polls.size).toBe(1);
    put(0, "new", "2");
    const r = await parked;
    expect(keysOf(r)).toEqual([k("new")]);
    expect(polls.size).toBe(0);
  });

  it("a change not yet acknowledged is not shown; it is once its commit settles", async () => {
    const { store, polls, frame, clock } = setup();
    const s = store(0);
    const at = s.history.acked;
    s.write(DICT, k("a"), v("1"), clock.now());
    let settle!: () => void;
    s.history.track(s.history.head, new Promise<void>((r) => (settle = r)));
    const parked = polls.poll(frame([{ part: 0, after: at }]), store);
    expect(parked).toBeInstanceOf(Promise);
    let done = false;
    void (parked as Promise<WatchReply>).then(() => (done = true));
    await flush();
    expect(done).toBe(false);
    settle();
    expect(keysOf(await parked)).toEqual([k("a")]);
  });

  it("a parked request that matches nothing keeps up with the history and answers its position at its timeout", async () => {
    const { polls, put, frame, clock, store } = setup();
    const parked = polls.poll(frame([{ part: 0, after: 0 }], { keys: [encodeKey("mine")], waitMs: 5_000 }), store) as Promise<WatchReply>;
    for (let i = 0; i < 10; i++) put(0, `other-${i}`, "x");
    await flush();
    clock.advance(5_000);
    const r = await parked;
    expect(r.parts[0]).toEqual({ part: 0, pos: store(0).history.acked, ev: [] });
  });

  it("a position before the history's floor, or past the partition's sequence, is answered reset", async () => {
    const { polls, put, frame, store } = setup({ maxEvents: 3, maxBytes: 1 << 20, maxAgeMs: 3_600_000 });
    for (let i = 0; i < 10; i++) put(0, `k${i}`, "x");
    const r = polls.poll(frame([{ part: 0, after: 1 }, { part: 1, after: 99 }]), store) as WatchReply;
    expect(r.parts).toEqual([
      { part: 0, pos: store(0).history.acked, reset: true, ev: [] },
      { part: 1, pos: 0, reset: true, ev: [] },
    ]);
  });

  it("wakes only on its own partitions, answers every parked request on wakeAll, and caps events per answer", async () => {
    const { polls, put, frame, store } = setup();
    const parked = polls.poll(frame([{ part: 0, after: 0 }, { part: 1, after: 0 }], { maxEvents: 2 }), store) as Promise<WatchReply>;
    put(2, "elsewhere", "x");
    await flush();
    expect(polls.size).toBe(1);
    const other = polls.poll(frame([{ part: 3, after: 0 }]), store) as Promise<WatchReply>;
    polls.wakeAll();
    // Nothing to say for any of them: answers that name no partition (each stays where it was).
    expect((await other).parts).toEqual([]);
    expect((await parked).parts).toEqual([]);
    for (let i = 0; i < 5; i++) put(0, `k${i}`, "x");
    const capped = polls.poll(frame([{ part: 0, after: 0 }], { maxEvents: 2 }), store) as WatchReply;
    expect(keysOf(capped)).toEqual([k("k0"), k("k1")]);
    // The position stops at the last change shown: the next request continues from it.
    const next = polls.poll(frame([{ part: 0, after: capped.parts[0]!.pos }], { maxEvents: 2 }), store) as WatchReply;
    expect(keysOf(next)).toEqual([k("k2"), k("k3")]);
  });

  it("parked requests are bounded (in number and in partitions named): past it, refused as retryable; room again once answered", async () => {
    const { store, frame, clock } = setup();
    const polls = new WatchPolls(clock, { requests: 3, partitions: 5 });
    const parked = [polls.poll(frame([{ part: 0, after: 0 }, { part: 1, after: 0 }]), store), polls.poll(frame([{ part: 2, after: 0 }, { part: 3, after: 0 }]), store)];
    expect(() => polls.poll(frame([{ part: 4, after: 0 }, { part: 5, after: 0 }]), store)).toThrow(RetryableError);
    parked.push(polls.poll(frame([{ part: 4, after: 0 }]), store));
    expect(() => polls.poll(frame([{ part: 6, after: 0 }]), store)).toThrow(/parked/);
    expect(polls.size).toBe(3);
    polls.wakeAll();
    await Promise.all(parked);
    expect(polls.poll(frame([{ part: 0, after: 0 }, { part: 1, after: 0 }, { part: 2, after: 0 }]), store)).toBeInstanceOf(Promise);
    polls.wakeAll();
  });

  it("the filter: keys, a string prefix (by the key's bytes), clears reach every watcher of the dict", () => {
    const base = { seq: 1, kind: 0 as const, value: undefined, cid: undefined, at: 0 };
    const byKeys = changeFilter(DICT, [encodeKey("a"), encodeKey(1)], undefined);
    expect(byKeys({ ...base, dict: DICT, k: k("a") })).toBe(true);
    expect(byKeys({ ...base, dict: DICT, k: latin1String(encodeKey(1)) })).toBe(true);
    expect(byKeys({ ...base, dict: DICT, k: k("b") })).toBe(false);
    expect(byKeys({ ...base, dict: "di-other", k: k("a") })).toBe(false);
    expect(byKeys({ ...base, kind: 3, dict: DICT, k: undefined })).toBe(true);
    const byPrefix = changeFilter(DICT, undefined, "user:é");
    expect(byPrefix({ ...base, dict: DICT, k: k("user:é1") })).toBe(true);
    expect(byPrefix({ ...base, dict: DICT, k: k("user:e1") })).toBe(false);
    expect(byPrefix({ ...base, dict: DICT, k: k("user") })).toBe(false);
    expect(byPrefix({ ...base, dict: DICT, k: latin1String(encodeKey(["user:é1"])) })).toBe(false);
    // A long string's length takes two varint bytes: the prefix is found after them.
    expect(byPrefix({ ...base, dict: DICT, k: k(`user:é${"x".repeat(300)}`) })).toBe(true);
  });
});
