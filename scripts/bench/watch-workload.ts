/**
 * The `watch` workload: one writer writing as fast as it can (`writes` puts, `inFlight` at a
 * time, write i to key i mod K, its value carrying i), while `dictWatchers` watchers of the
 * whole dict (db) and `keyWatchers` watchers of one key each (spread evenly over the K keys)
 * take the changes, every watcher on its own connection, all in this process.
 *
 * The watchers are all confirmed started before the first write: marker writes on the
 * watched keys (a kind of write the watchers tell apart from the workload's) are repeated
 * until every watcher has seen one of its own.
 *
 * Measured from the first write to the last event delivered: events delivered per second
 * (every watcher's workload events), the delivery latency from the writer's
 * acknowledgement (the moment its put resolved here) to a watcher's receipt (same process,
 * same clock: an event that arrived before the writer had its acknowledgement counts as 0 and
 * is counted in `beforeAck`; also from the moment the writer called put), the CPU of the data-holding server processes (shards;
 * redis-server) and of this process, per delivered event. Then the tally: every watcher must
 * have got every write of its keys exactly once (and, where the system gives versions, in
 * order per key).
 */
import { createHistogram } from "node:perf_hooks";
import { cpuMicros, sleep } from "./measure.js";

/** What a system's watcher reports to the workload. */
export interface WatchSink {
  /** A marker write on `key` (not part of the workload). */
  marker(key: string): void;
  /**
   * A write of `key`: with the value and version when the system delivers them (shardict);
   * without (redis keyspace notifications), the write is the next one of that key.
   */
  put(key: string, value: string | undefined, version: number | undefined): void;
  /** Anything else: a reset, a reconnection (events may have been lost), an error. */
  other(what: string): void;
}

export interface Watcher {
  close(): void;
}

/** What the workload needs of a system. */
export interface WatchDriver {
  /** A watcher of the whole dict (`key` undefined) or of one key, on its own connection; resolves once it is asked for. */
  open(key: string | undefined, sink: WatchSink): Promise<Watcher>;
  /** The writer's put: resolves on acknowledgement. */
  put(key: string, value: string): Promise<unknown>;
  /** A marker write on `key`, which every watcher of it sees and tells from a put. */
  mark(key: string): Promise<unknown>;
  /** Close the writer's own resources (the watchers are closed by the workload). */
  close(): Promise<void>;
}

export interface WatchParams {
  writes: number;
  keys: number;
  dictWatchers: number;
  keyWatchers: number;
  inFlight: number;
  valueBytes: number;
  /** The data-holding server processes (shards; redis-server). */
  dataPids: () => number[];
  /** Progress, for a terminal. */
  say?: (what: string) => void;
}

export interface WatchStats {
  writes: number;
  keys: number;
  dictWatchers: number;
  keyWatchers: number;
  /** Workload events delivered (counted once per watcher that got them). */
  events: number;
  /** What every watcher should get: dictWatchers × writes + the key watchers' writes. */
  expected: number;
  /** From the first write to the last event delivered. */
  seconds: number;
  eventsPerSec: number;
  /** The writer's rate: writes ÷ (first write → last acknowledgement). */
  writesPerSec: number;
  /** Delivery latency from the writer's acknowledgement to a watcher's receipt, µs. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /**
   * Delivery latency from the moment the writer called put (its own round trip included), µs:
   * free of the ordering of replies in this process, which the figures above depend on.
   */
  fromCallP50: number;
  fromCallP99: number;
  /** Events a watcher got before the writer had the acknowledgement (their latency counts as 0). */
  beforeAck: number;
  /** utime+stime of the data-holding server processes ÷ events, µs. */
  serverCpuPerEvent: number;
  /** This process's CPU (the writer and every watcher) ÷ events, µs. */
  clientCpuPerEvent: number;
  /** Opening the watchers and confirming them started (markers), seconds. */
  startSeconds: number;
  markerRounds: number;
  /** Writes some watcher should have got and did not (summed over watchers). */
  missing: number;
  /** Events beyond the one expected per (watcher, write). */
  duplicates: number;
  /** Events of a key with a version not above the previous one's (shardict only). */
  outOfOrder: number;
  /** Events that were neither a marker nor a workload write (resets, reconnections, errors), by kind. */
  other: Record<string, number>;
  /** Watchers with a count mismatch. */
  watchersWrong: number;
}

/** How long the workload waits for events after the last one before it calls the rest missing. */
const IDLE_MS = 5_000;
/** Watchers opened at a time. */
const OPEN_AT_ONCE = 10;
/** How long the start may take before the workload gives up. */
const START_TIMEOUT_MS = 60_000;

/** The workload's key i: 16 bytes, like the other workloads'. */
export const watchKey = (i: number): string => "wch-" + String(i).padStart(12, "0");

/** Write i's value: i in 10 digits, then filler up to `bytes` characters (at least the digits). */
function valueOf(i: number, filler: string): string {
  return String(i).padStart(10, "0") + filler;
}

/** Write i's index from its value (NaN for anything else). */
export function writeIndex(value: string): number {
  return value.length >= 10 ? Number(value.slice(0, 10)) : Number.NaN;
}

interface Tally {
  /** The key index it watches, or -1 for the whole dict. */
  key: number;
  started: boolean;
  expected: number;
  got: number;
  seen: Uint8Array;
  /** Per key: writes of it seen so far (to place a notification that carries no value). */
  nth: Uint32Array;
  /** Per key: the last version seen. */
  lastVersion: Float64Array;
}

export async function watchWorkload(driver: WatchDriver, p: WatchParams): Promise<WatchStats> {
  const { writes: W, keys: K } = p;
  const keys = Array.from({ length: K }, (_, i) => watchKey(i));
  const keyIndex = new Map(keys.map((k, i) => [k, i]));
  const filler = "x".repeat(Math.max(0, p.valueBytes - 10));
  const ackAt = new Float64Array(W);
  const calledAt = new Float64Array(W);
  const hist = createHistogram();
  const fromCall = createHistogram();
  const lateIdx: number[] = [];
  const lateAt: number[] = [];
  const other: Record<string, number> = {};
  let delivered = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let lastAt = 0;
  let live = false;

  const tallies: Tally[] = [];
  const watchedKeys = keyWatcherKeys(p);
  for (let j = 0; j < p.dictWatchers; j++) tallies.push(newTally(-1, W, K, W));
  for (const k of watchedKeys) tallies.push(newTally(k, writesOfKey(k, W, K), K, W));
  const expected = tallies.reduce((s, t) => s + t.expected, 0);

  const sinkOf = (t: Tally): WatchSink => ({
    marker: (key) => {
      if (t.key < 0 || keyIndex.get(key) === t.key) t.started = true;
    },
    put: (key, value, version) => {
      const now = performance.now();
      const k = keyIndex.get(key);
      let i: number;
      if (value !== undefined) {
        i = writeIndex(value);
        if (!live || !(i >= 0 && i < W) || k !== i % K) {
          // A marker's value, or a value that is not this key's write.
          if (live) other["foreign value"] = (other["foreign value"] ?? 0) + 1;
          return;
        }
      } else {
        if (k === undefined || !live) return;
        i = k + K * (t.nth[k] as number);
      }
      if (k === undefined) return;
      t.nth[k] = (t.nth[k] as number) + 1;
      lastAt = now;
      if (i >= W || t.seen[i]) {
        duplicates++;
        return;
      }
      t.seen[i] = 1;
      t.got++;
      delivered++;
      if (version !== undefined) {
        if (version <= (t.lastVersion[k] as number)) outOfOrder++;
        t.lastVersion[k] = version;
      }
      fromCall.record(Math.max(1, Math.round((now - (calledAt[i] as number)) * 1000)));
      const a = ackAt[i] as number;
      if (a > 0) hist.record(Math.max(1, Math.round((now - a) * 1000)));
      else {
        lateIdx.push(i);
        lateAt.push(now);
      }
    },
    other: (what) => {
      other[what] = (other[what] ?? 0) + 1;
    },
  });

  // ---- start: open every watcher, then markers until every one has seen its own --------
  const t0start = performance.now();
  const watchers: Watcher[] = [];
  try {
    for (let j = 0; j < tallies.length; j += OPEN_AT_ONCE) {
      p.say?.(`watch: opening watchers ${j + 1}–${Math.min(tallies.length, j + OPEN_AT_ONCE)} of ${tallies.length}`);
      const opened = await Promise.all(
        tallies.slice(j, j + OPEN_AT_ONCE).map((t) => driver.open(t.key < 0 ? undefined : (keys[t.key] as string), sinkOf(t))),
      );
      watchers.push(...opened);
    }
    const markerKeys = [...new Set(watchedKeys.length > 0 ? watchedKeys : [0])].map((k) => keys[k] as string);
    let rounds = 0;
    while (tallies.some((t) => !t.started)) {
      if (performance.now() - t0start > START_TIMEOUT_MS) {
        throw new Error(`watch: ${tallies.filter((t) => !t.started).length} of ${tallies.length} watchers saw no marker within ${START_TIMEOUT_MS / 1000} s`);
      }
      p.say?.(`watch: marker round ${rounds + 1}, ${tallies.filter((t) => !t.started).length} watchers to confirm`);
      rounds++;
      await Promise.all(markerKeys.map((k) => driver.mark(k)));
      for (const end = performance.now() + 1_000; performance.now() < end && tallies.some((t) => !t.started); ) await sleep(10);
    }
    const startSeconds = (performance.now() - t0start) / 1000;

    // ---- the writer ----------------------------------------------------------------------
    p.say?.(`watch: ${W.toLocaleString("en")} writes, ${tallies.length} watchers`);
    const pids = p.dataPids();
    const cpu0 = pids.reduce((s, pid) => s + cpuMicros(pid), 0);
    const client0 = process.cpuUsage();
    live = true;
    const t0 = performance.now();
    let next = 0;
    let lastAck = t0;
    await Promise.all(
      Array.from({ length: Math.min(p.inFlight, W) }, async () => {
        while (next < W) {
          const i = next++;
          calledAt[i] = performance.now();
          await driver.put(keys[i % K] as string, valueOf(i, filler));
          lastAck = ackAt[i] = performance.now();
        }
      }),
    );
    // ---- until every watcher has everything, or nothing came for IDLE_MS ------------------
    p.say?.("watch: waiting for the watchers");
    for (let quiet = performance.now(); delivered < expected && performance.now() - Math.max(quiet, lastAt) < IDLE_MS; ) await sleep(5);
    const end = lastAt > 0 ? lastAt : performance.now();
    const cpu = pids.reduce((s, pid) => s + cpuMicros(pid), 0) - cpu0;
    const client = process.cpuUsage(client0);
    live = false;

    let beforeAck = 0;
    for (let j = 0; j < lateIdx.length; j++) {
      const a = ackAt[lateIdx[j] as number] as number;
      const lat = a > 0 ? (lateAt[j] as number) - a : 0;
      if (lat <= 0) beforeAck++;
      hist.record(Math.max(1, Math.round(lat * 1000)));
    }
    const seconds = (end - t0) / 1000;
    const events = delivered;
    return {
      writes: W,
      keys: K,
      dictWatchers: p.dictWatchers,
      keyWatchers: p.keyWatchers,
      events,
      expected,
      seconds,
      eventsPerSec: events / seconds,
      writesPerSec: W / ((lastAck - t0) / 1000),
      p50: hist.count > 0 ? hist.percentile(50) : Number.NaN,
      p99: hist.count > 0 ? hist.percentile(99) : Number.NaN,
      p999: hist.count > 0 ? hist.percentile(99.9) : Number.NaN,
      max: hist.count > 0 ? hist.max : Number.NaN,
      fromCallP50: fromCall.count > 0 ? fromCall.percentile(50) : Number.NaN,
      fromCallP99: fromCall.count > 0 ? fromCall.percentile(99) : Number.NaN,
      beforeAck,
      serverCpuPerEvent: cpu / Math.max(1, events),
      clientCpuPerEvent: (client.user + client.system) / Math.max(1, events),
      startSeconds,
      markerRounds: rounds,
      missing: expected - events,
      duplicates,
      outOfOrder,
      other,
      watchersWrong: tallies.filter((t) => t.got !== t.expected).length,
    };
  } finally {
    for (const w of watchers) w.close();
    await driver.close();
  }
}

/** The key (index) of each key watcher: spread evenly over the keys. */
function keyWatcherKeys(p: { keys: number; keyWatchers: number }): number[] {
  return Array.from({ length: p.keyWatchers }, (_, j) => Math.floor((j * p.keys) / p.keyWatchers));
}

/** Writes of key k among `writes` writes to `keys` keys round-robin. */
function writesOfKey(k: number, writes: number, keys: number): number {
  return k < writes ? Math.floor((writes - 1 - k) / keys) + 1 : 0;
}

/** Events a run delivers when nothing is missed. */
export function expectedWatchEvents(p: { writes: number; keys: number; dictWatchers: number; keyWatchers: number }): number {
  return p.dictWatchers * p.writes + keyWatcherKeys(p).reduce((s, k) => s + writesOfKey(k, p.writes, p.keys), 0);
}

function newTally(key: number, expected: number, keys: number, writes: number): Tally {
  return {
    key,
    started: false,
    expected,
    got: 0,
    seen: new Uint8Array(writes),
    nth: new Uint32Array(keys),
    lastVersion: new Float64Array(keys).fill(-1),
  };
}
