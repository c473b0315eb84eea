/**
 * Measuring helpers for `npm run bench`: /proc readers (CPU time, RSS), a seeded PRNG, a
 * zipfian sampler, a closed-loop driver with a fixed number of requests in flight, medians.
 */
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import { noRoundTime, ROUND_PHASES, type RoundPhase } from "../../src/store/round-times.js";

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux). */
export const CLK_TCK: number = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** utime + stime of a process (all its threads), in microseconds; 0 if it is gone. */
export function cpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(rest[11]) + Number(rest[12]);
    return (ticks * 1e6) / CLK_TCK;
  } catch {
    return 0;
  }
}

export interface ProcMemory {
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size (VmHWM), bytes. */
  hwm: number;
  /** Anonymous resident memory (heap, stacks), bytes. */
  anon: number;
  /** File-backed resident memory (mapped files: LMDB's data file, code), bytes. */
  file: number;
}

/** Memory figures of a process from /proc/<pid>/status (zeros if it is gone). */
export function procMemory(pid: number): ProcMemory {
  const out: ProcMemory = { rss: 0, hwm: 0, anon: 0, file: 0 };
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return out;
  }
  const kb = (field: string): number => {
    const m = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) * 1024 : 0;
  };
  out.rss = kb("VmRSS");
  out.hwm = kb("VmHWM");
  out.anon = kb("RssAnon");
  out.file = kb("RssFile");
  return out;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same operations on both systems. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A permutation of 0..n-1 drawn from `random` (Fisher–Yates). */
export function shuffled(n: number, random: () => number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
  return a;
}

/**
 * The order of `n` systems in each of `runs` runs: run 1 as given, each later run the order
 * that puts each system farthest from the slots it had before and least often after a system
 * it followed before (every order when there are at most 8 systems, else 5,000 seeded
 * shuffles). Slots are not alike (the later ones start on a disk and a page cache the earlier
 * systems have used), and a fresh shuffle per run had put one system in the last third of run
 * 3 in every invocation; spread this way, each system runs both early and late.
 */
export function runOrders(n: number, runs: number, seed = 7_000): Uint32Array[] {
  const orders: Uint32Array[] = [];
  const slotsOf: number[][] = Array.from({ length: n }, () => []);
  const after = Array.from({ length: n + 1 }, () => new Uint32Array(n));
  const note = (o: Uint32Array) => {
    o.forEach((sys, slot) => {
      (slotsOf[sys] as number[]).push(slot);
      const next = after[slot === 0 ? n : (o[slot - 1] as number)] as Uint32Array;
      next[sys] = (next[sys] as number) + 1;
    });
    orders.push(o);
  };
  const costOf = (o: Uint32Array): number => {
    let cost = 0;
    o.forEach((sys, slot) => {
      // Nearness to each earlier slot, squared: the same slot costs most.
      for (const had of slotsOf[sys] as number[]) cost += (n - Math.abs(slot - had)) ** 2;
      cost += n * n * ((after[slot === 0 ? n : (o[slot - 1] as number)] as Uint32Array)[sys] as number);
    });
    return cost;
  };
  note(Uint32Array.from({ length: n }, (_, i) => i));
  for (let run = 2; run <= runs; run++) {
    let best: Uint32Array | undefined;
    let bestCost = Number.POSITIVE_INFINITY;
    const consider = (o: Uint32Array) => {
      const cost = costOf(o);
      if (cost < bestCost) {
        best = Uint32Array.from(o);
        bestCost = cost;
      }
    };
    if (n <= 8) forEachPermutation(n, consider);
    else {
      const random = prng(seed + run);
      for (let tries = 0; tries < 5_000; tries++) consider(shuffled(n, random));
    }
    note(best as Uint32Array);
  }
  return orders;
}

/** Each permutation of 0..n-1 in lexicographic order (the same array, changed in place). */
function forEachPermutation(n: number, visit: (p: Uint32Array) => void): void {
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  for (;;) {
    visit(p);
    let i = n - 2;
    while (i >= 0 && (p[i] as number) > (p[i + 1] as number)) i--;
    if (i < 0) return;
    let j = n - 1;
    while ((p[j] as number) < (p[i] as number)) j--;
    [p[i], p[j]] = [p[j] as number, p[i] as number];
    for (let l = i + 1, r = n - 1; l < r; l++, r--) [p[l], p[r]] = [p[r] as number, p[l] as number];
  }
}

/**
 * Zipfian ranks over `n` items with exponent `s` (P(rank k) ∝ 1/k^s), mapped to key indexes
 * through a seeded permutation, so the hot keys are spread over partitions rather than being
 * the first keys inserted (like YCSB's scrambled zipfian).
 */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / Math.pow(k + 1, s);
    cdf[k] = total;
  }
  const perm = shuffled(n, random);
  return () => {
    const u = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return perm[lo] as number;
  };
}

export interface LatencyStats {
  /** Operations (or entries, for bulk workloads) per second. */
  opsPerSec: number;
  ops: number;
  seconds: number;
  /** Latency of one call, microseconds. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Server CPU (utime + stime summed over the server processes) per op, microseconds. */
  serverCpuPerOp: number;
  /** CPU of this (client) process per op, microseconds. */
  clientCpuPerOp: number;
}

/**
 * Time a closed loop: `inFlight` lanes, each awaiting `op(i)` for the next i until `calls`
 * calls are done; latency is per call, throughput and CPU per op (`ops`: entries, for calls
 * that write many).
 */
export async function closedLoop(
  calls: number,
  inFlight: number,
  op: (i: number) => Promise<unknown>,
  serverPids: () => number[],
  ops = calls,
): Promise<LatencyStats> {
  const hist = createHistogram();
  let next = 0;
  const pids = serverPids();
  const cpu0 = pids.reduce((s, p) => s + cpuMicros(p), 0);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(inFlight, calls) }, async () => {
      while (next < calls) {
        const i = next++;
        const s = performance.now();
        await op(i);
        hist.record(Math.max(1, Math.round((performance.now() - s) * 1000)));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = pids.reduce((s, p) => s + cpuMicros(p), 0) - cpu0;
  const client = process.cpuUsage(client0);
  return stats(hist, ops, seconds, cpu, client.user + client.system);
}

/**
 * Warm a system up before it is measured: puts for at least `seconds` (and at least 2,000),
 * then (given `get`) gets of those keys for half as long, in closed loops of `inFlight`. A shard is a V8
 * process: its hot path is compiled by TurboFan only after tens of thousands of calls, and
 * with the old 2,000 calls of warm-up that compilation (17% of the shards' CPU by `perf`)
 * fell inside the measured phase; a server that has run for a minute has it behind it.
 * Returns how many keys (`i` = 0 …) were written.
 */
export async function warmUp(seconds: number, inFlight: number, put: (i: number) => Promise<unknown>, get?: (i: number) => Promise<unknown>): Promise<number> {
  const written = await runFor(seconds, inFlight, put);
  if (get !== undefined) await runFor(seconds / 2, inFlight, (i) => get(i % written));
  return written;
}

/**
 * Untimed operations in closed loops of `inFlight`, in chunks of 2,000, until `seconds` have
 * passed (at least one chunk). Returns how many were made (`op` got 0 … that − 1).
 */
export async function runFor(seconds: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const CHUNK = 2_000;
  let done = 0;
  const until = performance.now() + seconds * 1000;
  do {
    const from = done;
    await closedLoop(CHUNK, inFlight, (i) => op(from + i), () => []);
    done += CHUNK;
  } while (performance.now() < until);
  return done;
}

export function stats(hist: RecordableHistogram, ops: number, seconds: number, serverCpu: number, clientCpu: number): LatencyStats {
  return {
    opsPerSec: ops / seconds,
    ops,
    seconds,
    p50: hist.percentile(50),
    p99: hist.percentile(99),
    p999: hist.percentile(99.9),
    max: hist.max,
    serverCpuPerOp: serverCpu / ops,
    clientCpuPerOp: clientCpu / ops,
  };
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Sum of the samples named `name` in Prometheus text: all label sets, or (`label`) those
 * with that label at that value, e.g. `shardict_log_round_seconds_total{phase="sync"}`.
 */
export function promSum(text: string, name: string, label?: { name: string; value: string }): number {
  const want = label && `${label.name}="${label.value}"`;
  let n = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    if (want !== undefined && (rest[0] !== "{" || !rest.slice(1, rest.indexOf("}")).split(",").includes(want))) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(v)) n += v;
  }
  return n;
}

/** A shard's log rounds so far and their wall time by phase, from its `/metrics` page (round-times.ts). */
export function logRounds(text: string): { rounds: number; seconds: Record<RoundPhase, number> } {
  const seconds = noRoundTime();
  for (const phase of ROUND_PHASES) seconds[phase] = promSum(text, "shardict_log_round_seconds_total", { name: "phase", value: phase });
  return { rounds: promSum(text, "shardict_log_rounds_total"), seconds };
}
