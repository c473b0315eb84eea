/**
 * Self-clocked, batched replication to one replica. The frames queued for it (one per
 * partition at most: the replicator keeps one in flight per replica and partition) leave
 * together as one `replb` request, answered once; and a new batch leaves only when one of
 * the (at most two) before it has settled (answered, failed or timed out). Whatever comes up meanwhile waits
 * and leaves with the next batch. So the busier the primary, the more writes each message,
 * each replica sync and each acknowledgement covers, while an idle primary's frame leaves
 * at once (at the end of the turn). This is group commit applied to the network: before it,
 * a primary sent a `repl` frame per partition and replica every event-loop turn, and the
 * replica applied, synced and answered each on its own.
 *
 * Each item succeeds or fails on its own (a replica may refuse one partition's frame and
 * apply the others); a batch that fails as a whole (timeout, lost connection) fails every
 * item in it, and the replicator retries each.
 */
import { errorFromWire, RetryableError, WireCode } from "../errors.js";
import type { FrameOf, ReplItem } from "../protocol/frames.js";

export type { ReplItem };
import { replBytes } from "../encoding/mutation.js";



/**
 * Batches in flight to one replica at once. One would batch the most, but a batch whose
 * answer is slow (an item the replica cannot apply yet) would then hold up every partition;
 * with two, the other keeps going.
 */
export const BATCHES_IN_FLIGHT = 2;

/** Items' estimated bytes per request: a batch past it is split (a bigger item goes alone). */
export const BATCH_BYTES = 1024 * 1024;

/** How an item's delivery ends: without an error when the replica applied it durably. */
export type Settled = (err?: Error) => void;

interface Queued {
  item: ReplItem;
  bytes: number;
  settled: Settled;
}

/** The bytes an item's frame will take, about. */
export function itemBytes(item: ReplItem): number {
  let n = 32;
  for (const m of item.muts) n += replBytes(m);
  return n;
}

export class ReplicationBatches {
  private queued: Queued[] = [];
  private inFlight = 0;
  private readonly limit = BATCHES_IN_FLIGHT;
  private scheduled = false;

  /** `send`: one `replb` request to the replica, settling with its result. */
  constructor(private readonly send: (frame: Omit<FrameOf<"replb">, "rid">, bytes: number) => Promise<unknown>) {}

  /**
   * Deliver `item` (its itemBytes: `bytes`) with the next batch; `settled` is called once,
   * when the replica has applied it durably (no error) or refused it. A callback, not a
   * promise: on the replicator's live path a promise per item was most of what a replicated
   * write allocated.
   */
  submit(item: ReplItem, bytes: number, settled: Settled): void {
    this.queued.push({ item, bytes, settled });
    this.schedule();
  }

  /** Items waiting for the next batch. */
  get waiting(): number {
    return this.queued.length;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.limit || this.queued.length === 0) return;
    this.scheduled = true;
    // Once the writes of this message have all queued theirs (microtasks), and before this
    // node's own sync of them (a macrotask, which may block the thread): the replica syncs
    // its copy meanwhile.
    queueMicrotask(() => this.release());
  }

  private release(): void {
    this.scheduled = false;
    if (this.inFlight >= this.limit || this.queued.length === 0) return;
    this.inFlight++;
    const all = this.queued;
    this.queued = [];
    const requests: Promise<void>[] = [];
    for (let from = 0; from < all.length; ) {
      let to = from + 1;
      let bytes = (all[from] as Queued).bytes;
      while (to < all.length && bytes + (all[to] as Queued).bytes <= BATCH_BYTES) bytes += (all[to++] as Queued).bytes;
      requests.push(this.request(all.slice(from, to), bytes));
      from = to;
    }
    void Promise.all(requests).then(() => {
      this.inFlight--;
      this.schedule();
    });
  }

  /** One request for `group`; never rejects (each item gets its own outcome). */
  private request(group: Queued[], bytes: number): Promise<void> {
    let sent: Promise<unknown>;
    try {
      sent = this.send({ type: "replb", items: group.map((q) => q.item) }, bytes);
    } catch (err) {
      sent = Promise.reject(err as Error);
    }
    return sent.then(
      (result) => answered(group, result),
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const q of group) settle(q, e);
      },
    );
  }
}

/** Settle each item of a request by its answer. */
function answered(group: Queued[], result: unknown): void {
  if (result === null || result === undefined) {
    for (const q of group) settle(q, undefined);
    return;
  }
  // Per item: null (applied) or why it was refused. Anything else is a broken answer:
  // nothing can be taken as applied, and every item is tried again.
  const list = Array.isArray(result) && result.length === group.length ? (result as unknown[]) : undefined;
  for (let i = 0; i < group.length; i++) {
    const q = group[i] as Queued;
    const r = list?.[i];
    settle(q, list !== undefined && r === null ? undefined : itemError(r));
  }
}

/** A callback that throws must not keep the other items of its request from settling. */
function settle(q: Queued, err: Error | undefined): void {
  try {
    q.settled(err);
  } catch {
    // The caller's own fault; the batch's bookkeeping goes on.
  }
}

function itemError(r: unknown): Error {
  const o = r as { code?: unknown; message?: unknown; maybeApplied?: unknown } | null | undefined;
  if (typeof o === "object" && o !== null && typeof o.code === "string" && typeof o.message === "string") {
    return errorFromWire(o.code, o.message, { maybeApplied: o.maybeApplied === true });
  }
  return new RetryableError(WireCode.Unavailable, "the replica's answer to a replication batch was not understood");
}
