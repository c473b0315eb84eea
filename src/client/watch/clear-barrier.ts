/**
 * One `clear` event for a dict clear, however many partitions a watcher follows.
 *
 * A clear reaches each partition at its own place in that partition's sequence; a watcher
 * of several partitions must not show it before the changes that preceded it in some other
 * partition, nor after the changes that followed it. So a partition whose clear arrived is
 * held (its later changes queue up) until every watched partition's clear has arrived; then
 * `clear` is shown once and the held changes follow, in order. A clear that never reaches
 * every partition (its client gave up halfway) cannot be shown as one: after a while the
 * barrier gives up and the watcher gets a `reset` instead.
 */
import { CLEAR } from "../../store/change-history.js";

/** A change as a watch answer carries it, with its partition. */
export interface RawChange {
  part: number;
  seq: number;
  kind: number;
  key: Uint8Array | undefined;
  value: Uint8Array | undefined;
}

type Held = { change: RawChange } | { progress: number; part: number };

export interface BarrierSink {
  /** Show a change (never a clear). */
  change(c: RawChange): void;
  /** A partition was read up to `pos` with nothing more to show there. */
  progress(part: number, pos: number): void;
  /** Show one clear: each partition's position moves to its own clear's number. */
  clear(at: Map<number, number>): void;
}

/** How long a barrier waits for the last partitions' clears before it gives up. */
export const BARRIER_TIMEOUT_MS = 10_000;

export class ClearBarrier {
  /** Partitions whose clear arrived, with its number; their later changes are held. */
  private seen = new Map<number, number>();
  private held = new Map<number, Held[]>();
  private since = 0;
  private heldCount = 0;

  constructor(
    private readonly parts: number,
    private readonly sink: BarrierSink,
    private readonly now: () => number = Date.now,
  ) {}

  /** Changes held behind the barrier (they count against the watcher's buffer). */
  get size(): number {
    return this.heldCount;
  }

  /** Whether a clear is waiting for other partitions, and since when. */
  get waitingSince(): number | undefined {
    return this.seen.size > 0 ? this.since : undefined;
  }

  change(c: RawChange): void {
    const q = this.held.get(c.part);
    if (q) {
      q.push({ change: c });
      this.heldCount++;
      return;
    }
    if (c.kind !== CLEAR) {
      this.sink.change(c);
      return;
    }
    if (this.seen.size === 0) this.since = this.now();
    this.seen.set(c.part, c.seq);
    this.held.set(c.part, []);
    if (this.seen.size >= this.parts) this.release(true);
  }

  progress(part: number, pos: number): void {
    const q = this.held.get(part);
    if (q) q.push({ progress: pos, part });
    else this.sink.progress(part, pos);
  }

  /**
   * Give up the barrier (it timed out, or the watcher was reset): the held changes are
   * shown, the partial clear is not. Returns whether there was one.
   */
  abandon(): boolean {
    if (this.seen.size === 0) return false;
    this.release(false);
    return true;
  }

  private release(complete: boolean): void {
    const seen = this.seen;
    const held = this.held;
    this.seen = new Map();
    this.held = new Map();
    this.heldCount = 0;
    if (complete) this.sink.clear(seen);
    else for (const [part, seq] of seen) this.sink.progress(part, seq);
    // In partition order: within a partition, the held changes in their order (a later
    // clear among them starts the next barrier).
    for (const q of held.values()) for (const h of q) "change" in h ? this.change(h.change) : this.progress(h.part, h.progress);
  }
}
