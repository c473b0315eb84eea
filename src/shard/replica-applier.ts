/**
 * The replica's side of replication: which `repl` frames it accepts, and in what order it
 * applies them.
 *
 * A primary sends one frame at a time per replica and partition and resends it (the same
 * frame) until it is acknowledged, so frames leave in order. They must also be *applied* in
 * the order they arrive: a frame that names a partition epoch this node has not seen yet
 * waits for a table refresh (up to the coordinator request's timeout), and if a resend of
 * it (after the primary's attempt timed out) went ahead, got acknowledged and was followed
 * by the next frame, the stalled original would be applied last and undo the next frame's
 * writes of the same keys. So each partition's frames go through one queue: a frame starts
 * only once every frame of that partition that arrived before it has finished.
 */
import { RetryableError, WireCode } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import type { FrameOf } from "../protocol/frames.js";

export interface ReplicaApplierContext {
  selfId: string;
  table(): PartitionTable | undefined;
  /** Fetch the coordinator's table now (this node may be behind). */
  refreshTable(): Promise<void>;
  /** Apply an accepted frame's mutations and make them durable. */
  apply(frame: FrameOf<"repl">): Promise<void>;
}

export class ReplicaApplier {
  /** Per partition: the last frame's handling, which the next one waits for. */
  private readonly queues = new Map<number, Promise<void>>();

  constructor(private readonly ctx: ReplicaApplierContext) {}

  /** Handle a frame from `sender`, after the earlier frames of its partition. */
  receive(frame: FrameOf<"repl">, sender: string): Promise<void> {
    const prev = this.queues.get(frame.part);
    const next = prev ? prev.then(() => this.accept(frame, sender)) : this.accept(frame, sender);
    // The queue continues whatever this frame's outcome (its sender gets the error).
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(frame.part, settled);
    void settled.then(() => {
      if (this.queues.get(frame.part) === settled) this.queues.delete(frame.part);
    });
    return next;
  }

  /**
   * Refuse a sender that is not the partition's primary at the partition epoch this node
   * knows: a deposed primary can then never get a write acknowledged. A sender ahead of it
   * makes it fetch the table first.
   */
  private async accept(frame: FrameOf<"repl">, sender: string): Promise<void> {
    if ((this.ctx.table()?.pepochOf(frame.part) ?? -1) < frame.pepoch) await this.ctx.refreshTable().catch(() => {});
    const t = this.ctx.table();
    const self = this.ctx.selfId;
    const mine = t !== undefined && (t.replicasOf(frame.part).includes(self) || t.learnersOf(frame.part).includes(self));
    if (!t || t.primaryOf(frame.part) !== sender || t.pepochOf(frame.part) !== frame.pepoch || !mine) {
      throw new RetryableError(
        WireCode.WrongOwner,
        `${self} refuses replication of partition ${frame.part} from ${sender} at epoch ${frame.pepoch} (it knows ${t ? `${t.primaryOf(frame.part)} at ${t.pepochOf(frame.part)}` : "no table"})`,
      );
    }
    await this.ctx.apply(frame);
  }
}
