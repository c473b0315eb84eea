/** `Dict.watch` against a real 3-shard cluster: every event type, filters, snapshots, resuming, retention, back-pressure. */
import { describe, expect, it } from "vitest";
import { Dict, InvalidError, type Client, type WatchEvent } from "../../src/index.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { runFixture } from "../helpers/child.js";
import { parseSamples, sumOf } from "../helpers/prom-text.js";

let tc: TestCluster;
let client: Client;
let n = 0;
const fresh = async <V = unknown>() => Dict.fromName<V>(`watch-${++n}`, { createIfMissing: true, client }).hydrate();
// Small history bounds, so "past retention" is reachable in a test.
useTestCluster({ watchHistory: { maxEvents: 50, maxBytes: 1024 * 1024, maxAgeMs: 3_600_000 } }, (t, c) => {
  tc = t;
  client = c;
});

/** Collect a watch's events in the background; `stop()` ends it. */
function collect<V>(it: AsyncIterableIterator<WatchEvent<V>> & { close(): void }) {
  const events: WatchEvent<V>[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const e of it) events.push(e);
    } catch (err) {
      error = err;
    }
  })();
  return {
    events,
    get error() {
      return error;
    },
    until: (k: number, what = `${k} events`) => waitUntil(() => events.length >= k, { what, timeoutMs: 15_000 }),
    stop: async () => {
      it.close();
      await done;
    },
  };
}

const brief = (e: WatchEvent) => ({ type: e.type, key: e.key, value: e.value });

describe("watch: event types", () => {
  it("shows put, delete (delete and pop), expire and clear, in order, with getEntry's versions", async () => {
    const d = await fresh();
    const w = collect(d.watch());
    await d.put("a", 1);
    const v1 = (await d.getEntry("a"))!.version;
    await d.put("a", 2);
    const v2 = (await d.getEntry("a"))!.version;
    await d.put("b", "x");
    await d.delete("a");
    expect(await d.pop("b")).toBe("x");
    await d.put("t", "short", { ttlMs: 200 });
    await w.until(6, "the writes and removals");
    await w.until(7, "the expiry");
    await d.put("c", 3);
    await w.until(8);
    await d.clear();
    await w.until(9, "the clear");
    await d.put("after", true);
    await w.until(10);
    await w.stop();
    expect(w.events.map(brief)).toEqual([
      { type: "put", key: "a", value: 1 },
      { type: "put", key: "a", value: 2 },
      { type: "put", key: "b", value: "x" },
      { type: "delete", key: "a", value: undefined },
      { type: "delete", key: "b", value: undefined },
      { type: "put", key: "t", value: "short" },
      { type: "expire", key: "t", value: undefined },
      { type: "put", key: "c", value: 3 },
      { type: "clear", key: undefined, value: undefined },
      { type: "put", key: "after", value: true },
    ]);
    expect(w.events[0]!.version).toBe(v1);
    expect(w.events[1]!.version).toBe(v2);
    for (const e of w.events) expect(typeof e.cursor).toBe("string");
    // Exactly one clear for the whole dict, though it reached every partition.
    expect(w.events.filter((e) => e.type === "clear")).toHaveLength(1);
  });

  it("a key watch sees only its key; a prefix watch only string keys with the prefix", async () => {
    const d = await fresh();
    const one = collect(d.watch({ key: "k" }));
    const some = collect(d.watch({ keys: ["k", 7] }));
    const pre = collect(d.watch({ prefix: "user:" }));
    await d.put("other", 1);
    await d.put("k", 1);
    await d.put(7, "seven");
    await d.put("user:1", "ann");
    await d.put("users", "no");
    await d.put(["user:2"], "array key, not a string");
    await d.delete("k");
    await one.until(2);
    await some.until(3);
    await pre.until(1);
    // Nothing else arrives: a later marker write shows up alone.
    await d.put("user:zz", "marker");
    await pre.until(2);
    await Promise.all([one.stop(), some.stop(), pre.stop()]);
    expect(one.events.map(brief)).toEqual([
      { type: "put", key: "k", value: 1 },
      { type: "delete", key: "k", value: undefined },
    ]);
    expect(some.events.map(brief)).toEqual([
      { type: "put", key: "k", value: 1 },
      { type: "put", key: 7, value: "seven" },
      { type: "delete", key: "k", value: undefined },
    ]);
    expect(pre.events.map(brief)).toEqual([
      { type: "put", key: "user:1", value: "ann" },
      { type: "put", key: "user:zz", value: "marker" },
    ]);
  });

  it("refuses bad options with InvalidError", async () => {
    const d = await fresh();
    expect(() => d.watch({ key: "a", prefix: "b" })).toThrow(InvalidError);
    expect(() => d.watch({ keys: [] })).toThrow(InvalidError);
    const w = collect(d.watch({ after: "not-a-cursor" }));
    await waitUntil(() => w.error !== undefined);
    expect(w.error).toBeInstanceOf(InvalidError);
    const other = await fresh();
    await other.put("x", 1);
    const o = collect(other.watch());
    await other.put("y", 2);
    await o.until(1);
    await o.stop();
    const cross = collect(d.watch({ after: o.events[0]!.cursor }));
    await waitUntil(() => cross.error !== undefined);
    expect(cross.error).toBeInstanceOf(InvalidError);
  });
});

describe("watch: initial snapshot", () => {
  it("yields every current matching entry as put, then synced, then the changes", async () => {
    const d = await fresh();
    for (let i = 0; i < 300; i++) await d.put(`k${i}`, i);
    await d.put("other", "x");
    const w = collect(d.watch({ initial: true, prefix: "k" }));
    await w.until(301, "the snapshot and synced");
    const puts = w.events.slice(0, 300);
    expect(puts.every((e) => e.type === "put")).toBe(true);
    expect(new Set(puts.map((e) => e.key)).size).toBe(300);
    for (const e of puts) expect(e.value).toBe(Number((e.key as string).slice(1)));
    expect(w.events[300]!.type).toBe("synced");
    await d.put("k0", "changed");
    await w.until(302);
    await w.stop();
    expect(brief(w.events[301]!)).toEqual({ type: "put", key: "k0", value: "changed" });
    expect(w.events[301]!.version).toBe((await d.getEntry("k0"))!.version);
    // A snapshot larger than the buffer waits for the consumer, page by page, and is whole.
    const small = d.watch({ initial: true, prefix: "k", maxBuffered: 50 });
    const seen = new Set<unknown>();
    for await (const e of small) {
      if (e.type === "synced") break;
      seen.add(e.key);
    }
    expect(seen.size).toBe(300);
  });

  it("an entry past its deadline when the snapshot is taken is neither in it nor expired after it", async () => {
    const d = await fresh();
    // Expired just before the watch, before the shard's 250 ms sweep may have removed it.
    await d.put("gone", 1, { ttlMs: 30 });
    await d.put("stays", 2);
    await new Promise((r) => setTimeout(r, 60));
    const w = collect(d.watch({ initial: true }));
    await w.until(2);
    // A sweep would have run by now; a marker write shows the stream is live.
    await new Promise((r) => setTimeout(r, 400));
    await d.put("marker", 3);
    await w.until(3);
    await w.stop();
    expect(w.events.map(brief)).toEqual([
      { type: "put", key: "stays", value: 2 },
      { type: "synced", key: undefined, value: undefined },
      { type: "put", key: "marker", value: 3 },
    ]);
  });

  it("an empty dict gives synced alone", async () => {
    const d = await fresh();
    const w = collect(d.watch({ initial: true }));
    await w.until(1);
    await w.stop();
    expect(w.events.map((e) => e.type)).toEqual(["synced"]);
  });
});

describe("watch: resuming", () => {
  it("resumes after a cursor in another process: exactly the later changes, in order", async () => {
    const d = await fresh();
    const w = collect(d.watch());
    for (let i = 0; i < 5; i++) await d.put(`r${i}`, i);
    await w.until(5);
    await w.stop();
    const cursor = w.events[2]!.cursor;
    // Changes while nobody watches.
    await d.delete("r0");
    await d.put("r9", 9);
    const child = runFixture("watcher.mjs", [d.objectId, cursor, "4"], { SHARDICT_URL: tc.url });
    const out = (await child.firstLine) as { type: string; key: string; value: unknown; version: string; cursor: string }[];
    // Order is per key (keys of different partitions are not ordered with each other).
    const got = out.map((e) => ({ type: e.type, key: e.key, value: e.value ?? null }));
    expect(got).toHaveLength(4);
    expect(got).toEqual(
      expect.arrayContaining([
        { type: "put", key: "r3", value: 3 },
        { type: "put", key: "r4", value: 4 },
        { type: "delete", key: "r0", value: null },
        { type: "put", key: "r9", value: 9 },
      ]),
    );
    // The other process's last cursor resumes here too.
    await d.put("r10", 10);
    const again = collect(d.watch({ after: out[3]!.cursor }));
    await again.until(1);
    await again.stop();
    expect(brief(again.events[0]!)).toEqual({ type: "put", key: "r10", value: 10 });
  });

  it("a position older than the history kept gives reset, then the changes from there", async () => {
    const d = await fresh();
    const w = collect(d.watch({ key: "hot" }));
    await d.put("hot", 0);
    await w.until(1);
    await w.stop();
    // 60 changes of the same key: more than the 50 each partition keeps.
    for (let i = 1; i <= 60; i++) await d.put("hot", i);
    const late = collect(d.watch({ key: "hot", after: w.events[0]!.cursor }));
    await late.until(1);
    await d.put("hot", "next");
    await late.until(2);
    await late.stop();
    expect(late.events.map((e) => e.type)).toEqual(["reset", "put"]);
    expect(late.events[1]!.value).toBe("next");
  });

  it("with initial, a reset is followed by a fresh snapshot and synced", async () => {
    const d = await fresh();
    await d.put("cfg", 1);
    const w = collect(d.watch({ key: "cfg", initial: true }));
    await w.until(2);
    await w.stop();
    for (let i = 2; i <= 60; i++) await d.put("cfg", i);
    const late = collect(d.watch({ key: "cfg", initial: true, after: w.events[1]!.cursor }));
    await late.until(3);
    await late.stop();
    expect(late.events.map(brief)).toEqual([
      { type: "reset", key: undefined, value: undefined },
      { type: "put", key: "cfg", value: 60 },
      { type: "synced", key: undefined, value: undefined },
    ]);
  });
});

describe("watch: back-pressure and lifetime", () => {
  it("a watcher that never reads holds at most its buffer, and the shards hold only the bounded history", async () => {
    const d = await fresh();
    const it1 = d.watch({ maxBuffered: 100 });
    // Start it (the first next() is where a consumer would be), then never read again.
    const first = it1.next();
    await d.put("w", -1);
    await first;
    const writes = Array.from({ length: 2_000 }, (_, i) => d.put(`w${i % 500}`, i));
    await Promise.all(writes);
    const stream = it1 as unknown as { queue: unknown[]; head: number; polls: Map<string, unknown> };
    await waitUntil(() => stream.queue.length - stream.head >= 100, { what: "the buffer to fill" });
    // Full, it stops asking: once its requests in flight have come back, nothing more arrives.
    await waitUntil(() => stream.polls.size === 0, { what: "the watcher to stop asking" });
    // The buffer, plus at most one answer (each fits the buffer) per shard in flight when it filled.
    expect(stream.queue.length - stream.head).toBeLessThanOrEqual(100 + 3 * 100);
    let held = 0;
    for (const s of tc.config.shards) {
      const body = await (await fetch(`${tc.cluster.urlOf(s.id)!.replace(/^ws:/, "http:")}/metrics`)).text();
      held += sumOf(parseSamples(body), "shardict_watch_history_events");
    }
    // 64 partitions × 50 changes at most, over 3 shards holding primaries and replicas.
    expect(held).toBeLessThanOrEqual(64 * 50 * tc.config.replicationFactor);
    it1.close();
  });

  it("ends when its signal aborts, and when the loop breaks", async () => {
    const d = await fresh();
    const ac = new AbortController();
    const w = collect(d.watch({ signal: ac.signal }));
    await d.put("a", 1);
    await w.until(1);
    ac.abort();
    await w.stop();
    let seen = 0;
    const loop = (async () => {
      for await (const e of d.watch()) {
        void e;
        seen++;
        break;
      }
    })();
    await waitUntil(async () => {
      await d.put("b", seen);
      return seen > 0;
    });
    await loop;
  });

  it("a script that breaks out of its watch loop exits at once (its parked request does not hold the process)", async () => {
    const child = runFixture("watch-and-exit.mjs", [`watch-exit-${++n}`], { SHARDICT_URL: tc.url });
    const first = (await child.firstLine) as { type: string; at: number };
    expect(first.type).toBe("synced");
    const exit = await child.exit;
    expect(exit.code).toBe(0);
    // Well before the 30 s a parked request lasts (the process start and the default client's exit take a moment).
    expect(Date.now() - first.at).toBeLessThan(10_000);
  });

  it("a write acknowledged to its writer reaches a watcher of its key quickly (measured)", async () => {
    const d = await fresh();
    const w = collect(d.watch({ key: "lat" }));
    const lat: number[] = [];
    for (let i = 0; i < 50; i++) {
      await d.put("lat", i);
      const acked = performance.now();
      await waitUntil(() => w.events.length > i, { intervalMs: 1 });
      lat.push(performance.now() - acked);
    }
    await w.stop();
    lat.sort((a, b) => a - b);
    // Not a timing assertion (the machine is shared): every write arrived; the median is reported.
    console.log(`watch delivery after acknowledgement: median ${lat[25]!.toFixed(1)} ms, max ${lat[49]!.toFixed(1)} ms`);
    expect(lat).toHaveLength(50);
  });
});
