/**
 * Group commit's delay, adaptive (PostgreSQL's `commit_delay`, MySQL's
 * `binlog_group_commit_sync_delay`, but with no setting to tune).
 *
 * A log round syncs whatever was queued in one turn of the event loop. Under concurrent
 * writers on a fast disk that is a small batch: with 50 requests in flight over three shards
 * a round covered ~8 puts, and a round costs about as much CPU as 20 puts' own work (the
 * sync, its wake-ups, the reply message; README, Performance). A small round therefore
 * waits, at most {@link LINGER_MAX_MS}, for the next message that brings a write, and takes
 * it along: measured, syncs per put fell by ~40%.
 *
 * A lone writer must not pay for it: its next write comes only after this round's answer,
 * so the wait always runs out. A wait that runs out stops lingering for
 * {@link LINGER_PAUSE_MS}, so such a writer pays {@link LINGER_MAX_MS} once per pause at
 * most (under 1% of its rounds at a few hundred µs each), while concurrent writers, whose
 * next write comes during the wait, keep lingering.
 */

/** The longest a round waits for more writes (a timer's granularity: 1 ms). */
export const LINGER_MAX_MS = 1;
/** After a wait that ran out, rounds start at once for this long. */
export const LINGER_PAUSE_MS = 100;
/** A round with this many mutations (or more) starts at once: it is batch enough. */
export const LINGER_BELOW = 64;

export class CommitLinger {
  private wake: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pausedUntil = 0;
  /** Waits that ended with a write arriving, and that ran out (metrics, tests). */
  joined = 0;
  ranOut = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Whether a round holding `queued` mutations should wait for more first. */
  shouldWait(queued: number): boolean {
    return queued > 0 && queued < LINGER_BELOW && this.now() >= this.pausedUntil;
  }

  /**
   * Resolves when {@link arrived} or {@link release} is called, or after
   * {@link LINGER_MAX_MS} (then lingering pauses).
   */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.wake !== resolve) return;
        this.wake = undefined;
        this.ranOut++;
        this.pausedUntil = this.now() + LINGER_PAUSE_MS;
        resolve();
      }, LINGER_MAX_MS);
    });
  }

  /** A write arrived: a waiting round takes it along. */
  arrived(): void {
    if (this.wake === undefined) return;
    this.joined++;
    this.release();
  }

  /** End a wait now (closing, failing): nothing more will join. */
  release(): void {
    const wake = this.wake;
    if (wake === undefined) return;
    this.wake = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    wake();
  }
}
