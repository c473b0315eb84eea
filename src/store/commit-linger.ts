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
 * so its waits always run out. Waiting goes on while at least half of the recent waits were
 * joined (a moving average over ~8); below that, a wait that runs out stops waiting for
 * {@link LINGER_PAUSE_MS}, after which rounds try again until one runs out (each joined wait
 * raises the average, so a load that came back turns waiting on). So such a writer pays
 * {@link LINGER_MAX_MS} about once per pause (under 1% of its rounds at a few hundred µs
 * each), while concurrent writers, whose next write usually comes during the wait, keep
 * waiting through the odd wait that runs out (measured at 50 requests in flight over three
 * shards: 95% of waits joined; stopping for a while after any wait that ran out left
 * waiting off three quarters of the time).
 */

/** The longest a round waits for more writes (a timer's granularity: 1 ms). */
export const LINGER_MAX_MS = 1;
/** While most waits run out, one round in this long tries waiting again. */
export const LINGER_PAUSE_MS = 100;
/** How much one outcome moves the average of joined waits. */
const WEIGHT = 1 / 8;
/** A round with this many mutations (or more) starts at once: it is batch enough. */
export const LINGER_BELOW = 64;

export class CommitLinger {
  private wake: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The recent share of waits that were joined (a moving average), from an even start. */
  private score = 0.5;
  /** While the share is under a half: no round waits before this (set by a wait that ran out). */
  private nextTry = 0;
  /** Waits that ended with a write arriving, and that ran out (metrics, tests). */
  joined = 0;
  ranOut = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Whether a round holding `queued` mutations should wait for more first. */
  shouldWait(queued: number): boolean {
    return queued > 0 && queued < LINGER_BELOW && (this.score >= 0.5 || this.now() >= this.nextTry);
  }

  /**
   * Resolves when {@link arrived} or {@link release} is called, or after
   * {@link LINGER_MAX_MS}.
   */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.wake !== resolve) return;
        this.wake = undefined;
        this.ranOut++;
        this.score -= this.score * WEIGHT;
        if (this.score < 0.5) this.nextTry = this.now() + LINGER_PAUSE_MS;
        resolve();
      }, LINGER_MAX_MS);
    });
  }

  /** A write arrived: a waiting round takes it along. */
  arrived(): void {
    if (this.wake === undefined) return;
    this.joined++;
    this.score += (1 - this.score) * WEIGHT;
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
