/**
 * The primary's side of replication. The mutations of one partition made in one event-loop
 * turn go to every in-sync replica as one `repl` frame, in order (one frame in flight per
 * replica and partition, so a resend can never overtake a later frame). A write is
 * acknowledged once every replica of the current table has applied it durably.
 *
 * A replica that does not answer is resent the same frame (applying it twice is harmless)
 * and, after a while, reported to the coordinator, which takes it out of the partition's
 * replicas; the wait then ends. If this node stops being the partition's primary meanwhile,
 * the write fails as "owner moved": the client retries it with the same request id.
 */
import { RetryableError, WireCode } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import type { FrameOf } from "../protocol/frames.js";
import type { Mutation } from "../store/storage-engine.js";
import { backoff } from "../client/backoff.js";
import type { NodeLinks } from "./node-links.js";

/** How long a replica may fail to answer before it is reported. */
const REPORT_AFTER_MS = 1_000;
const ATTEMPT_TIMEOUT_MS = 1_000;

export interface ReplicatorContext {
  selfId: string;
  table(): PartitionTable | undefined;
  links: NodeLinks;
  reportFailed(part: number, pepoch: number, replica: string): Promise<void>;
  refreshTable(): Promise<void>;
}

type ReplicatedMutation = Exclude<Mutation, { op: "addDict" } | { op: "dropDict" }>;

interface Batch {
  muts: ReplicatedMutation[];
  done: Promise<void>;
}

export class Replicator {
  private readonly batches = new Map<number, Batch>();
  /** Per `replica:part`: the last frame's delivery, which the next one waits for. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly ctx: ReplicatorContext) {}

  /** Replicate `muts` of `part`; undefined when the partition has no replica. */
  replicate(part: number, muts: readonly Mutation[]): Promise<void> | undefined {
    const t = this.ctx.table();
    if (!t || t.replicasOf(part).length === 0 || muts.length === 0) return undefined;
    let batch = this.batches.get(part);
    if (!batch) {
      const fresh: Batch = { muts: [], done: Promise.resolve() };
      fresh.done = new Promise<void>((resolve) => queueMicrotask(resolve)).then(() => {
        this.batches.delete(part);
        return this.send(part, fresh.muts);
      });
      this.batches.set(part, fresh);
      batch = fresh;
    }
    for (const m of muts) if (m.op !== "addDict" && m.op !== "dropDict") batch.muts.push(m);
    return batch.done;
  }

  private async send(part: number, muts: ReplicatedMutation[]): Promise<void> {
    const t = this.ctx.table();
    if (!t) throw new RetryableError(WireCode.Unavailable, "no table");
    const frame: Omit<FrameOf<"repl">, "rid"> = { type: "repl", part, pepoch: t.pepochOf(part), muts };
    await Promise.all(
      t.replicasOf(part).map((replica) => {
        const key = `${replica}:${part}`;
        const prev = this.chains.get(key) ?? Promise.resolve();
        const next = prev.catch(() => {}).then(() => this.deliver(replica, frame));
        this.chains.set(key, next);
        void next.finally(() => {
          if (this.chains.get(key) === next) this.chains.delete(key);
        }).catch(() => {});
        return next;
      }),
    );
  }

  private async deliver(replica: string, frame: Omit<FrameOf<"repl">, "rid">): Promise<void> {
    const started = Date.now();
    let reported = false;
    for (let attempt = 0; ; attempt++) {
      const t = this.ctx.table();
      if (!t || t.primaryOf(frame.part) !== this.ctx.selfId || t.pepochOf(frame.part) !== frame.pepoch) {
        throw new RetryableError(WireCode.WrongOwner, `${this.ctx.selfId} stopped leading partition ${frame.part} while replicating`);
      }
      if (!t.replicasOf(frame.part).includes(replica)) return; // no longer a replica: not waited for
      try {
        await this.ctx.links.request(replica, frame, ATTEMPT_TIMEOUT_MS);
        return;
      } catch (err) {
        if (err instanceof RetryableError && err.code === WireCode.WrongOwner) {
          // The replica knows a newer epoch: maybe this node was deposed.
          await this.ctx.refreshTable().catch(() => {});
        }
        if (!reported && Date.now() - started > REPORT_AFTER_MS) {
          reported = true;
          await this.ctx.reportFailed(frame.part, frame.pepoch, replica).catch(() => {});
        }
        await backoff(attempt + 1, 200);
      }
    }
  }
}
