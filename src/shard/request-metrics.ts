/**
 * Counting a shard's answers to client requests, per operation and outcome, and timing them.
 *
 * The hot path is cheap: each known operation has a record made up front, found with one
 * Map lookup; its outcome counts are plain numbers, added to the Prometheus counter only
 * when somebody scrapes. The latency histogram (fast-histogram.ts) has a series per
 * operation made once.
 */
import { Counter, type Registry } from "prom-client";
import { FastHistogram } from "../net/fast-histogram.js";
import { WireCode } from "../errors.js";
import { DataOps, LATENCY_BOUNDS, type ShardLoadData } from "../protocol/frames.js";
import type { AnswerObserver } from "../net/peer.js";

/** Label value for requests that are not data operations, and for frames refused as invalid. */
const OTHER = "other";
const OUTCOMES: readonly string[] = ["ok", ...Object.values(WireCode), OTHER];
const OUTCOME_INDEX = new Map(OUTCOMES.map((o, i) => [o, i]));
const OK = 0;
const OTHER_OUTCOME = OUTCOMES.length - 1;
/** Operations that are parked until something changes: their time is waiting, not work. */
const PARKED = new Set(["watch", "awaitChange"]);


interface OpRecord {
  op: string;
  /** Answers per outcome (indexes of OUTCOMES) since the node started. */
  counts: number[];
  /** What the Prometheus counter was given of them so far. */
  reported: number[];
  children: ({ inc(n: number): void } | undefined)[];
  latency: { observe(seconds: number): void };
}

export class RequestMetrics {
  private readonly ops = new Map<string, OpRecord>();
  private readonly other: OpRecord;
  private readonly duration: FastHistogram;

  constructor(registry: Registry) {
    const ops = this.ops;
    new Counter({
      name: "shardict_requests_total",
      help: 'Client requests a shard answered, by operation and outcome ("ok" or the error code sent); op "other" counts requests that are not data operations and frames refused as invalid.',
      labelNames: ["op", "outcome"] as const,
      registers: [registry],
      collect() {
        for (const r of ops.values()) {
          for (let i = 0; i < OUTCOMES.length; i++) {
            const delta = (r.counts[i] as number) - (r.reported[i] as number);
            if (delta === 0) continue;
            r.reported[i] = r.counts[i] as number;
            let child = r.children[i];
            if (child === undefined) r.children[i] = child = this.labels(r.op, OUTCOMES[i] as string);
            child.inc(delta);
          }
        }
      },
    });
    const duration = (this.duration = new FastHistogram(
      "shardict_request_duration_seconds",
      "Time from starting a client's data request to queueing its answer, by operation.",
      LATENCY_BOUNDS,
      registry,
    ));
    const record = (op: string): OpRecord => ({
      op,
      counts: OUTCOMES.map(() => 0),
      reported: OUTCOMES.map(() => 0),
      children: OUTCOMES.map(() => undefined),
      latency: duration.child({ op }),
    });
    for (const op of DataOps) ops.set(op, record(op));
    this.other = record(OTHER);
    ops.set(OTHER, this.other);
  }

  /**
   * The data requests answered since the node started, for the heartbeat (the web console's
   * charts): added up from the per-operation records when asked, nothing on the hot path.
   * Requests that wait for a change (`watch`, `awaitChange`: up to 30 s by design) are left
   * out, or a few watchers would be all the latency chart showed.
   */
  load(): ShardLoadData {
    let ops = 0;
    let ok = 0;
    for (const r of this.ops.values()) {
      if (r === this.other || PARKED.has(r.op)) continue;
      for (const n of r.counts) ops += n;
      ok += r.counts[OK] as number;
    }
    const t = this.duration.totals((labels) => !PARKED.has(labels.op ?? ""));
    return { ops, errors: ops - ok, seconds: t.sum, buckets: t.counts };
  }

  /** For {@link NodeServer}'s `onAnswer`: counts the answer and times it. */
  readonly answered: AnswerObserver = (type, code, startedAt) => {
    const r = (type === undefined ? undefined : this.ops.get(type)) ?? this.other;
    const i = code === undefined ? OK : (OUTCOME_INDEX.get(code) ?? OTHER_OUTCOME);
    (r.counts[i] as number)++;
    if (r !== this.other) r.latency.observe((performance.now() - startedAt) / 1000);
  };
}
