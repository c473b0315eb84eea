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
import { wireError, type WireError } from "../net/reply-frames.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import type { ReplItem } from "../protocol/frames.js";

/** How long a batch's answer waits for an item that could not be applied at once. */
export const SLOW_ITEM_WAIT_MS = 250;

export interface ReplicaApplierContext {
  selfId: string;
  table(): PartitionTable | undefined;
  /** Fetch the coordinator's table now (this node may be behind). */
  refreshTable(): Promise<void>;
  /** Apply accepted items (one frame's, or several partitions' at once) and make them durable in one step. */
  apply(items: readonly ReplItem[]): Promise<void>;
}


export class ReplicaApplier {
  /** Per partition: the last frame's handling, which the next one waits for. */
  private readonly queues = new Map<number, Promise<void>>();

  constructor(private readonly ctx: ReplicaApplierContext) {}

  /** Handle a frame from `sender`, after the earlier frames of its partition. */
  receive(frame: ReplItem, sender: string): Promise<void> {
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
   * Handle a batch's items (one per partition), each as its own frame: the answer is null
   * when all were applied, else per item null or why it was refused (the sender retries
   * those alone; the others stay applied).
   */
  receiveBatch(items: readonly ReplItem[], sender: string): Promise<(WireError | null)[] | null> {
    // The common case, applied together (one reservation, one commit, one promise): items
    // whose partition has nothing queued before them and whose sender this node already
    // knows as the primary at their epoch. The others go the long way, in order.
    const t = this.ctx.table();
    const ready: ReplItem[] = [];
    const together = new Array<boolean>(items.length).fill(false);
    const seen = new Set<number>();
    items.forEach((it, i) => {
      if (!seen.has(it.part) && !this.queues.has(it.part) && t !== undefined && this.accepts(t, it, sender)) {
        ready.push(it);
        together[i] = true;
      }
      seen.add(it.part);
    });
    let applied: Promise<void> | undefined;
    if (ready.length > 0) {
      applied = this.ctx.apply(ready);
      // Later frames of these partitions wait for this step, as they would for a frame each.
      const settled = applied.then(
        () => undefined,
        () => undefined,
      );
      for (const it of ready) this.queues.set(it.part, settled);
      void settled.then(() => {
        for (const it of ready) if (this.queues.get(it.part) === settled) this.queues.delete(it.part);
      });
    }
    if (ready.length === items.length) {
      // The common case: one answer for them all, without a continuation per item (nor an
      // async function's promise and awaits).
      return (applied as Promise<void>).then(
        () => null,
        (err: unknown) => {
          const why = wireError(err);
          return items.map(() => why);
        },
      );
    }
    return this.someLater(items, sender, together, applied);
  }

  /** A batch with items that could not be applied at once: each answered on its own. */
  private async someLater(items: readonly ReplItem[], sender: string, together: readonly boolean[], applied: Promise<void> | undefined): Promise<(WireError | null)[] | null> {
    // An item that has to wait (for a table refresh, or behind a stalled frame of its
    // partition) must not hold up the answer for the others: past a short wait it is
    // answered "unavailable", and its sender sends it again (it is queued behind this
    // attempt, and applying a frame twice in order is harmless).
    let timer: NodeJS.Timeout | undefined;
    let gaveUp: Promise<never> | undefined;
    const patience = (): Promise<never> =>
      (gaveUp ??= new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RetryableError(WireCode.Unavailable, `${this.ctx.selfId} is still waiting to apply this partition's earlier frames`)), SLOW_ITEM_WAIT_MS);
      }));
    let failed = false;
    const results = await Promise.all(
      items.map((it, i) => {
        const done = together[i] ? (applied as Promise<void>) : Promise.race([this.receive(it, sender), patience()]);
        return done.then(
          () => null,
          (err: unknown) => {
            failed = true;
            return wireError(err);
          },
        );
      }),
    );
    if (timer !== undefined) clearTimeout(timer);
    return failed ? results : null;
  }

  /** Whether this node takes `frame` from `sender` by the table it has now. */
  private accepts(t: PartitionTable, frame: Pick<ReplItem, "part" | "pepoch">, sender: string): boolean {
    const self = this.ctx.selfId;
    return (
      t.primaryOf(frame.part) === sender &&
      t.pepochOf(frame.part) === frame.pepoch &&
      (t.isReplica(frame.part, self) || t.learnersOf(frame.part).includes(self))
    );
  }

  /**
   * Refuse a sender that is not the partition's primary at the partition epoch this node
   * knows: a deposed primary can then never get a write acknowledged. A sender ahead of it
   * makes it fetch the table first.
   */
  private async accept(frame: ReplItem, sender: string): Promise<void> {
    if ((this.ctx.table()?.pepochOf(frame.part) ?? -1) < frame.pepoch) await this.ctx.refreshTable().catch(() => {});
    const t = this.ctx.table();
    const self = this.ctx.selfId;
    if (!t || !this.accepts(t, frame, sender)) {
      throw new RetryableError(
        WireCode.WrongOwner,
        `${self} refuses replication of partition ${frame.part} from ${sender} at epoch ${frame.pepoch} (it knows ${t ? `${t.primaryOf(frame.part)} at ${t.pepochOf(frame.part)}` : "no table"})`,
      );
    }
    await this.ctx.apply([frame]);
  }
}
