/**
 * A shard's metrics (served at `GET /metrics`): its answers to client requests, its storage
 * batches, and what it holds, read from the node when scraped.
 */
import { Counter, Gauge } from "prom-client";
import { FastHistogram } from "../net/fast-histogram.js";
import type { Registry } from "prom-client";
import { nodeRegistry, scrapedCounter, scrapedGauge } from "../net/node-registry.js";
import type { AnswerObserver } from "../net/peer.js";
import type { BatchObserver } from "../store/storage-engine.js";
import { RequestMetrics } from "./request-metrics.js";
import type { ShardLoadData } from "../protocol/frames.js";
import { ROUND_PHASES, type RoundPhase } from "../store/round-times.js";

/** What a shard holds now; each is called only when somebody scrapes. */
export interface ShardGauges {
  entries(): { primary: number; all: number; primaryBytes: number; allBytes: number };
  dicts(): number;
  partitions(): { primary: number; replica: number };
  dedupAnswers(): number;
  dedupClients(): number;
  dedupFloors(): number;
  parkedWaiters(): number;
  parkedWatches(): number;
  /** The change history kept for watchers, over every partition held: changes and bytes. */
  watchHistory(): { events: number; bytes: number };
  clientConnections(): number;
  /** Replication frames queued and not yet acknowledged, and the age of the oldest (ms). */
  replication(): { frames: number; oldestMs: number };
  /** Log rounds that waited for more writes: joined by one, or not (commit-linger.ts). */
  commitLingers(): { joined: number; ranOut: number };
  /** The log engine's wall time by phase of its write loop, and its rounds (round-times.ts); undefined with another engine. */
  logRounds(): { seconds: Record<RoundPhase, number>; rounds: number } | undefined;
}

const SYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384];

export class ShardMetrics {
  readonly registry: Registry;
  private readonly requests: RequestMetrics;
  // Observed per sync and per replica acknowledgement: FastHistogram, not prom-client's.
  private readonly fsync: { observe(v: number): void };
  private readonly batchSize: { observe(v: number): void };
  private readonly replicaAck: { observe(v: number): void };

  constructor(src: ShardGauges) {
    const registry = nodeRegistry(() => src.clientConnections());
    this.registry = registry;
    this.requests = new RequestMetrics(registry);
    this.fsync = new FastHistogram(
      "shardict_fsync_duration_seconds",
      "Time to make one commit batch durable: the log engine's fdatasync, or an LMDB transaction with its fsync.",
      SYNC_BUCKETS,
      registry,
    ).child({});
    this.batchSize = new FastHistogram("shardict_commit_batch_mutations", "Mutations written per commit batch (one sync each).", BATCH_BUCKETS, registry).child({});
    new Counter({
      name: "shardict_commit_lingers_total",
      help: 'Small log rounds that waited (at most 1 ms) for more writes to share their sync: a write came ("joined") or none did ("ran_out"; while fewer than half of the recent waits were joined, waiting then stops for 100 ms).',
      labelNames: ["outcome"] as const,
      registers: [registry],
      collect() {
        const n = src.commitLingers();
        this.reset();
        this.inc({ outcome: "joined" }, n.joined);
        this.inc({ outcome: "ran_out" }, n.ranOut);
      },
    });
    new Counter({
      name: "shardict_log_round_seconds_total",
      help: 'The log engine\'s wall time by phase of its write loop: "idle" (nothing to write), "turn" (a write queued, waiting for the event loop\'s turn to end so more join), "linger" (a small round waiting for more writes), "write" (encoding and appending) and "sync" (fdatasync). Divided by shardict_log_rounds_total: where a round\'s latency goes.',
      labelNames: ["phase"] as const,
      registers: [registry],
      collect() {
        const r = src.logRounds();
        this.reset();
        if (r) for (const phase of ROUND_PHASES) this.inc({ phase }, r.seconds[phase]);
      },
    });
    scrapedCounter(registry, "shardict_log_rounds_total", "Rounds the log engine wrote: one append and one fdatasync each, shared by every write queued by then.", () => src.logRounds()?.rounds ?? 0);
    new Gauge({
      name: "shardict_entries",
      help: 'Entries held: in the partitions this shard leads (role "primary"), and in every copy it holds, replicas too (role "all").',
      labelNames: ["role"] as const,
      registers: [registry],
      collect() {
        const n = src.entries();
        this.set({ role: "primary" }, n.primary);
        this.set({ role: "all" }, n.all);
      },
    });
    new Gauge({
      name: "shardict_entry_bytes",
      help: 'Key and value bytes of those entries (as stored, before any overhead), by the same roles as shardict_entries.',
      labelNames: ["role"] as const,
      registers: [registry],
      collect() {
        const n = src.entries();
        this.set({ role: "primary" }, n.primaryBytes);
        this.set({ role: "all" }, n.allBytes);
      },
    });
    new Gauge({
      name: "shardict_partitions",
      help: "Partitions this shard holds, as primary and as in-sync replica.",
      labelNames: ["role"] as const,
      registers: [registry],
      collect() {
        const n = src.partitions();
        this.set({ role: "primary" }, n.primary);
        this.set({ role: "replica" }, n.replica);
      },
    });
    this.replicaAck = new FastHistogram(
      "shardict_replication_ack_seconds",
      "Time from queueing a replication frame to its replica's acknowledgement (what a write waits for its copies).",
      SYNC_BUCKETS,
      registry,
    ).child({});
    scrapedGauge(registry, "shardict_replication_frames_in_flight", "Replication frames sent or queued to replicas and learners, not yet acknowledged.", () => src.replication().frames);
    scrapedGauge(registry, "shardict_replication_lag_seconds", "Age of the oldest unacknowledged replication frame (0 when none): how far the slowest copy is behind.", () => src.replication().oldestMs / 1000);
    scrapedGauge(registry, "shardict_dicts", "Dicts this shard knows of.", src.dicts);
    scrapedGauge(registry, "shardict_dedup_answers", "Answers kept so that retried writes are applied once (the dedup table).", src.dedupAnswers);
    scrapedGauge(registry, "shardict_dedup_clients", "Clients whose answers or request floor the shard keeps (their request windows).", src.dedupClients);
    scrapedGauge(registry, "shardict_dedup_floors", "Clients that told this shard their request floor (requests under it are refused).", src.dedupFloors);
    scrapedGauge(registry, "shardict_parked_waiters", "awaitChange requests waiting for a key to change.", src.parkedWaiters);
    scrapedGauge(registry, "shardict_parked_watches", "watch requests waiting for a change to show.", src.parkedWatches);
    scrapedGauge(registry, "shardict_watch_history_events", "Changes kept for watchers to resume from, over every partition held (bounded by watchHistory).", () => src.watchHistory().events);
    scrapedGauge(registry, "shardict_watch_history_bytes", "Bytes of keys and values those changes hold (many are shared with live entries).", () => src.watchHistory().bytes);
  }

  /** For the node server: each answer to a client request. */
  get answered(): AnswerObserver {
    return this.requests.answered;
  }

  /** The data requests answered so far (a heartbeat's `load`). */
  load(): ShardLoadData {
    return this.requests.load();
  }

  /** For the replicator: a frame a replica acknowledged, `seconds` after it was queued. */
  readonly replicaAcknowledged = (seconds: number): void => {
    this.replicaAck.observe(seconds);
  };

  /** For the storage engine: each batch made durable. */
  readonly batch: BatchObserver = (mutations, syncSeconds) => {
    this.fsync.observe(syncSeconds);
    this.batchSize.observe(mutations);
  };
}
