/**
 * Whether this node may answer as a partition's primary without writing anything (a read, a
 * put-if-absent that finds the key): at once while it holds its coordinator lease, else once
 * its in-sync replicas confirm it still leads at the partition epoch it knows. And the
 * replica's side: confirming a primary only if this node's table agrees.
 * docs/architecture.md ("Why a deposed primary can neither acknowledge a write nor serve a
 * stale read") says why this is enough.
 */
import { RetryableError, WireCode } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import type { FrameOf } from "../protocol/frames.js";
import type { NodeLinks } from "./node-links.js";

/** How long a primary waits for its replicas to confirm it leads. */
const CONFIRM_TIMEOUT_MS = 1_000;

export interface LeadershipContext {
  selfId: string;
  table(): PartitionTable | undefined;
  refreshTable(): Promise<void>;
  /** The shards that must confirm this node leads `part` (its in-sync replicas, and learners reported caught up). */
  replicasFor(t: PartitionTable, part: number): readonly string[];
  links: NodeLinks;
  /** How long after a heartbeat was sent the coordinator promotes no one else (`suspectAfterMs`). */
  leaseMs: number;
}

export class Leadership {
  /** performance.now() until which this node may lead without asking (its coordinator lease). */
  private leaseUntil = 0;

  constructor(private readonly ctx: LeadershipContext) {}

  /**
   * A heartbeat sent at `sentAt` was answered with the coordinator's table `epoch`. The
   * coordinator promotes no one until `leaseMs` after it last heard from us. The lease is only
   * good with its table: a node that is behind catches up first.
   */
  onHeartbeat(sentAt: number, epoch: number): void {
    const t = this.ctx.table();
    if (!t || t.epoch < epoch) {
      this.ctx.refreshTable().catch(() => {});
      return;
    }
    this.leaseUntil = Math.max(this.leaseUntil, sentAt + this.ctx.leaseMs);
  }

  /**
   * May this node answer for `parts` as their primary? Yes at once while it holds its lease
   * (or for partitions without replicas: only a replica this node itself reported caught up
   * could ever be promoted, and those count as replicas here). Otherwise, for example while
   * the coordinator is unreachable, its in-sync replicas must confirm it still leads at the
   * partition epoch it knows: a replica that was promoted knows it was.
   */
  ensure(parts: number | readonly number[]): Promise<void> | undefined {
    const t = this.ctx.table();
    if (!t || performance.now() < this.leaseUntil) return undefined;
    const ask = new Map<string, { part: number; pepoch: number }[]>();
    for (const part of typeof parts === "number" ? [parts] : parts) {
      for (const r of this.ctx.replicasFor(t, part)) {
        let list = ask.get(r);
        if (!list) ask.set(r, (list = []));
        list.push({ part, pepoch: t.pepochOf(part) });
      }
    }
    if (ask.size === 0) return undefined;
    const self = this.ctx.selfId;
    return Promise.all([...ask].map(([replica, list]) => this.ctx.links.request(replica, { type: "confirm", parts: list }, CONFIRM_TIMEOUT_MS))).then(
      () => undefined,
      (err: unknown) => {
        // A replica that knows a newer primary says so: this node was deposed ("moved"), and
        // its table is behind. Only a replica that cannot be reached leaves it unknown.
        if (err instanceof RetryableError && err.code === WireCode.WrongOwner) {
          this.ctx.refreshTable().catch(() => {});
          throw new RetryableError(WireCode.WrongOwner, `${self} no longer leads: ${err.message}`);
        }
        throw new RetryableError(WireCode.Unavailable, `${self} cannot confirm it still leads: ${(err as Error).message}`);
      },
    );
  }

  /** A primary asks whether it still leads: yes only if this node's table agrees. */
  async confirm(frame: FrameOf<"confirm">, sender: string): Promise<void> {
    if (frame.parts.some((p) => (this.ctx.table()?.pepochOf(p.part) ?? 0) < p.pepoch)) await this.ctx.refreshTable().catch(() => {});
    const t = this.ctx.table();
    for (const { part, pepoch } of frame.parts) {
      if (!t || t.primaryOf(part) !== sender || t.pepochOf(part) !== pepoch) {
        throw new RetryableError(WireCode.WrongOwner, `${sender} no longer leads partition ${part} (${this.ctx.selfId} knows ${t?.primaryOf(part)} at ${t?.pepochOf(part)})`);
      }
    }
  }
}
