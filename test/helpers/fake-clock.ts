/**
 * A manually driven {@link Clock} for unit tests: time moves only when `advance` is called,
 * and timers fire synchronously, in deadline order, as time passes them.
 */
import type { Clock, TimerHandle } from "../../src/util/clock.js";

interface PendingTimer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class FakeClock implements Clock {
  private current: number;
  private nextId = 0;
  private timers: PendingTimer[] = [];

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    // Like setTimeout: a negative or NaN delay means "as soon as possible".
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: PendingTimer = { id: this.nextId++, at: this.current + delay, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
        this.timers = this.timers.filter((t) => t !== timer);
      },
    };
  }

  /** Timers scheduled and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /**
   * Move time forward by `ms`, firing every timer whose deadline falls within the window, in
   * deadline order (ties in the order they were set). While a timer runs, `now()` is its
   * deadline; timers set by callbacks fire too when they fall within the window.
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms} ms`);
    const end = this.current + ms;
    for (;;) {
      const next = this.earliestDue(end);
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = next.at;
      next.fn();
    }
    this.current = end;
  }

  /** Advance to an absolute time (not before now). */
  advanceTo(time: number): void {
    this.advance(time - this.current);
  }

  private earliestDue(end: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.timers) {
      if (t.cancelled || t.at > end) continue;
      if (best === undefined || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    }
    return best;
  }
}
