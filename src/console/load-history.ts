/**
 * Throughput and latency over the last minutes, for the web console's charts.
 *
 * Shards report in each heartbeat how many data requests they have answered since they
 * started, and how long those took in latency buckets (`load`, frames.ts). Once a second the
 * coordinator turns the difference since the previous second into a sample per shard
 * (requests and errors per second, mean and p99 latency) and one for the cluster (its p50 and
 * p99 come from the shards' buckets added up), and keeps the last `capacity` samples: a
 * fixed-size ring, so what it holds and what one answer costs are bounded however long it
 * runs. A shard that did not heartbeat since the previous second has no sample (a gap in its
 * line); one whose counts went down restarted, and starts over from them.
 */
import { LATENCY_BOUNDS, type ShardLoadData } from "../protocol/frames.js";

/** One shard's second. Latencies in ms; null when it answered nothing in that second. */
export interface ShardSample {
  ops: number;
  errors: number;
  meanMs: number | null;
  p99Ms: number | null;
}

/** One second of the whole cluster (the shards that reported in it). */
export interface ClusterSample {
  ops: number;
  errors: number;
  meanMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

interface Tick {
  /** Unix time, ms. */
  t: number;
  cluster: ClusterSample;
  shards: Map<string, ShardSample>;
}

/** What the console's `/console/api/load` answers: columns of equal length, one row per second. */
export interface LoadSeries {
  /** Seconds between samples. */
  interval: number;
  /** Unix times (seconds) of the samples. */
  t: number[];
  cluster: { ops: number[]; errors: number[]; meanMs: (number | null)[]; p50Ms: (number | null)[]; p99Ms: (number | null)[] };
  shards: { id: string; ops: (number | null)[]; errors: (number | null)[]; meanMs: (number | null)[]; p99Ms: (number | null)[] }[];
}

interface Latest {
  load: ShardLoadData;
  /** performance.now() when it arrived. */
  at: number;
}

/** The value below which a fraction `q` of the answers counted in `buckets` fell, in ms (linear within a bucket). */
export function quantileMs(buckets: readonly number[], q: number): number | null {
  let total = 0;
  for (const n of buckets) total += n;
  if (total === 0 || buckets.length !== LATENCY_BOUNDS.length + 1) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i] as number;
    if (n > 0 && seen + n >= rank) {
      const lo = i === 0 ? 0 : (LATENCY_BOUNDS[i - 1] as number);
      // Past the last bound nothing tells how long: the last bound is what we can say.
      if (i >= LATENCY_BOUNDS.length) return lo * 1000;
      const hi = LATENCY_BOUNDS[i] as number;
      return (lo + ((hi - lo) * (rank - seen)) / n) * 1000;
    }
    seen += n;
  }
  return (LATENCY_BOUNDS[LATENCY_BOUNDS.length - 1] as number) * 1000;
}

export class LoadHistory {
  private readonly latest = new Map<string, Latest>();
  /** What each shard's counts were at the previous sample (the base of the next). */
  private readonly base = new Map<string, Latest>();
  private readonly ring: (Tick | undefined)[];
  private next = 0;
  private size = 0;

  /**
   * @param capacity samples kept (one a second: 300 is five minutes)
   * @param staleMs a shard last heard longer ago than this has no sample
   */
  constructor(
    readonly capacity = 300,
    private readonly staleMs = 1_500,
  ) {
    this.ring = new Array<Tick | undefined>(capacity).fill(undefined);
  }

  /** A heartbeat's `load` from `shard`, arrived at `now` (performance.now()). */
  observe(shard: string, load: ShardLoadData, now: number): void {
    this.latest.set(shard, { load, at: now });
  }

  /** A shard that left the cluster. */
  forget(shard: string): void {
    this.latest.delete(shard);
    this.base.delete(shard);
  }

  /** Take the sample of the second that ends now (`wall`: Date.now(), `now`: performance.now()). */
  tick(wall: number, now: number): void {
    const shards = new Map<string, ShardSample>();
    const buckets = new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
    let ops = 0;
    let errors = 0;
    let seconds = 0;
    let answered = 0;
    for (const [id, cur] of this.latest) {
      const prev = this.base.get(id);
      if (now - cur.at > this.staleMs) {
        // Silent: no sample, and the next one after it comes back starts from there.
        this.base.delete(id);
        continue;
      }
      this.base.set(id, cur);
      // The first report, or no new one this second: nothing to tell apart yet.
      if (prev === undefined || prev === cur) continue;
      const a = prev.load;
      const b = cur.load;
      // Counts that went down: the shard restarted; these are its counts since then.
      const restarted = b.ops < a.ops;
      const dOps = restarted ? b.ops : b.ops - a.ops;
      const dErr = restarted ? b.errors : Math.max(0, b.errors - a.errors);
      const dSec = restarted ? b.seconds : Math.max(0, b.seconds - a.seconds);
      const dBuckets = b.buckets.map((n, i) => (restarted || a.buckets.length !== b.buckets.length ? n : Math.max(0, n - (a.buckets[i] ?? 0))));
      const span = Math.max((cur.at - prev.at) / 1000, 0.001);
      let count = 0;
      for (const n of dBuckets) count += n;
      shards.set(id, {
        ops: round(dOps / span),
        errors: round(dErr / span),
        meanMs: count > 0 ? round((dSec / count) * 1000) : null,
        p99Ms: roundOrNull(quantileMs(dBuckets, 0.99)),
      });
      ops += dOps / span;
      errors += dErr / span;
      seconds += dSec;
      answered += count;
      if (dBuckets.length === buckets.length) for (let i = 0; i < buckets.length; i++) buckets[i] = (buckets[i] as number) + (dBuckets[i] as number);
    }
    const cluster: ClusterSample = {
      ops: round(ops),
      errors: round(errors),
      meanMs: answered > 0 ? round((seconds / answered) * 1000) : null,
      p50Ms: roundOrNull(quantileMs(buckets, 0.5)),
      p99Ms: roundOrNull(quantileMs(buckets, 0.99)),
    };
    this.ring[this.next] = { t: wall, cluster, shards };
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  /** The samples taken after `sinceSec` (unix seconds; all kept ones when undefined), oldest first. */
  series(sinceSec?: number): LoadSeries {
    const ticks: Tick[] = [];
    for (let i = 0; i < this.size; i++) {
      const tick = this.ring[(this.next - this.size + i + this.capacity) % this.capacity];
      if (tick !== undefined && (sinceSec === undefined || tick.t / 1000 > sinceSec)) ticks.push(tick);
    }
    const ids = new Set<string>();
    for (const tick of ticks) for (const id of tick.shards.keys()) ids.add(id);
    return {
      interval: 1,
      t: ticks.map((x) => x.t / 1000),
      cluster: {
        ops: ticks.map((x) => x.cluster.ops),
        errors: ticks.map((x) => x.cluster.errors),
        meanMs: ticks.map((x) => x.cluster.meanMs),
        p50Ms: ticks.map((x) => x.cluster.p50Ms),
        p99Ms: ticks.map((x) => x.cluster.p99Ms),
      },
      shards: [...ids].sort().map((id) => ({
        id,
        ops: ticks.map((x) => x.shards.get(id)?.ops ?? null),
        errors: ticks.map((x) => x.shards.get(id)?.errors ?? null),
        meanMs: ticks.map((x) => x.shards.get(id)?.meanMs ?? null),
        p99Ms: ticks.map((x) => x.shards.get(id)?.p99Ms ?? null),
      })),
    };
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function roundOrNull(x: number | null): number | null {
  return x === null ? null : round(x);
}
