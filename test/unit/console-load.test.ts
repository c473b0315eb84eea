/**
 * The web console's load history: per-second samples from the cumulative counts shards send
 * in heartbeats (rates, latency quantiles from buckets, gaps for silent shards, restarts),
 * bounded to its capacity; and what a shard reports as its load.
 */
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { LoadHistory, quantileMs } from "../../src/console/load-history.js";
import { LATENCY_BOUNDS, type ShardLoadData } from "../../src/protocol/frames.js";
import { RequestMetrics } from "../../src/shard/request-metrics.js";

const B = LATENCY_BOUNDS.length + 1;
/** Buckets with `n` answers in bucket `i`. */
function buckets(...pairs: [number, number][]): number[] {
  const b = new Array<number>(B).fill(0);
  for (const [i, n] of pairs) b[i] = n;
  return b;
}
function load(ops: number, errors: number, seconds: number, b: number[]): ShardLoadData {
  return { ops, errors, seconds, buckets: b };
}

describe("quantileMs", () => {
  it("interpolates within the bucket holding the rank, in ms", () => {
    // 100 answers between 1 ms and 2.5 ms (bucket 5: (0.001, 0.0025]).
    expect(quantileMs(buckets([5, 100]), 0.5)).toBeCloseTo(1.75, 6);
    expect(quantileMs(buckets([5, 100]), 0.99)).toBeCloseTo(1 + 1.5 * 0.99, 6);
    // 99 fast ones and 1 slow one: p50 is fast, p99 at the fast bucket's top, p100 the slow one's.
    const b = buckets([0, 99], [10, 1]);
    expect(quantileMs(b, 0.5)).toBeLessThanOrEqual(0.05);
    expect(quantileMs(b, 0.99)).toBeCloseTo(0.05, 6);
    expect(quantileMs(b, 1)).toBeCloseTo(100, 6);
  });

  it("says null when nothing was answered or the buckets are not ours, and the last bound past it", () => {
    expect(quantileMs(buckets(), 0.5)).toBeNull();
    expect(quantileMs([1, 2, 3], 0.5)).toBeNull();
    expect(quantileMs(buckets([B - 1, 5]), 0.99)).toBe(10_000);
  });
});

describe("LoadHistory", () => {
  it("turns cumulative counts into per-second rates and latencies, per shard and for the cluster", () => {
    const h = new LoadHistory(10);
    h.observe("a", load(100, 0, 0.1, buckets([4, 100])), 0);
    h.observe("b", load(50, 5, 0, buckets([0, 50])), 0);
    h.tick(1_000_000, 100); // the first report of each: a base, no sample yet
    h.observe("a", load(1100, 10, 1.1, buckets([4, 1100])), 1000);
    h.observe("b", load(550, 10, 0.01, buckets([0, 550])), 500); // half a second later
    h.tick(1_001_000, 1100);
    const s = h.series();
    expect(s.t).toEqual([1000, 1001]);
    expect(s.shards.map((x) => x.id)).toEqual(["a", "b"]);
    const [a, b] = s.shards;
    expect(a?.ops).toEqual([null, 1000]);
    expect(a?.errors).toEqual([null, 10]);
    expect(a?.meanMs).toEqual([null, 1]);
    expect(b?.ops).toEqual([null, 1000]); // 500 in half a second
    expect(b?.errors).toEqual([null, 10]);
    expect(s.cluster.ops).toEqual([0, 2000]);
    expect(s.cluster.errors).toEqual([0, 20]);
    // 1000 answers in (0.5, 1] ms and 500 in [0, 0.05] ms: the median is in the slower bucket.
    expect(s.cluster.p50Ms[1]).toBeGreaterThan(0.5);
    expect(s.cluster.p50Ms[1]).toBeLessThanOrEqual(1);
    expect(s.cluster.p99Ms[1]).toBeCloseTo(0.5 + 0.5 * ((0.99 * 1500 - 500) / 1000), 3);
    expect(s.cluster.meanMs[1]).toBeCloseTo((1.01 / 1500) * 1000, 3);
  });

  it("leaves a gap for a shard that went silent, and starts over after it comes back or restarts", () => {
    const h = new LoadHistory(10, 1_500);
    h.observe("a", load(10, 0, 0, buckets([0, 10])), 0);
    h.tick(1_000, 0);
    h.observe("a", load(20, 0, 0, buckets([0, 20])), 1_000);
    h.tick(2_000, 1_000); // 10/s
    h.tick(3_000, 2_000); // no new heartbeat: no sample
    h.tick(5_000, 4_000); // silent for 3 s: stale, forgotten as a base
    h.observe("a", load(500, 0, 0, buckets([0, 500])), 4_500);
    h.tick(6_000, 5_000); // back: a new base
    h.observe("a", load(5, 0, 0, buckets([0, 5])), 5_500); // restarted: counts went down
    h.tick(7_000, 6_000);
    expect(h.series().shards[0]?.ops).toEqual([null, 10, null, null, null, 5]);
  });

  it("keeps its last `capacity` samples, oldest first, and answers those after `since`", () => {
    const h = new LoadHistory(3);
    for (let i = 1; i <= 5; i++) h.tick(i * 1000, i * 1000);
    expect(h.series().t).toEqual([3, 4, 5]);
    expect(h.series(3).t).toEqual([4, 5]);
    expect(h.series(5).t).toEqual([]);
    h.observe("gone", load(1, 0, 0, buckets()), 5000);
    h.forget("gone");
    h.tick(6000, 6000);
    expect(h.series().shards).toEqual([]);
  });
});

describe("a shard's load", () => {
  it("adds up its answers to data requests, errors and latencies, leaving out the parked ones", () => {
    const m = new RequestMetrics(new Registry());
    const start = performance.now() - 2; // about 2 ms ago
    m.answered("get", undefined, start);
    m.answered("put", undefined, start);
    m.answered("del", "KEY_ERROR", start);
    m.answered("watch", undefined, performance.now() - 20_000);
    m.answered("awaitChange", undefined, performance.now() - 20_000);
    m.answered("hello", undefined, start); // not a data request
    const l = m.load();
    expect(l.ops).toBe(3);
    expect(l.errors).toBe(1);
    expect(l.buckets).toHaveLength(B);
    expect(l.buckets.reduce((x, y) => x + y, 0)).toBe(3);
    expect(l.seconds).toBeGreaterThan(0.005);
    expect(l.seconds).toBeLessThan(1);
  });
});
