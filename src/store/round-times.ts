/**
 * Where the log's time goes, round by round: the wall time of a log engine split into the
 * phases of its write loop. A round's latency is what every write in it waits for; the
 * phases say how much of it is the disk (`sync`), the engine's own work (`write`), waiting
 * on purpose (`linger`, `turn`) and waiting for writes at all (`idle`).
 *
 * Measured on the bench (README, Performance): at 50 requests in flight over three shards
 * a round of ~14 puts took ~1.0 ms: the sync ~330 µs, the linger ~365, `idle` ~230 (the
 * log waiting for the client's next requests, which come only after this round's answers).
 * In a closed loop the put rate is the puts per round ÷ that.
 */

/** The phases, in the order a round goes through them. */
export const ROUND_PHASES = ["idle", "turn", "linger", "write", "sync"] as const;
export type RoundPhase = (typeof ROUND_PHASES)[number];

/** Zero seconds in every phase. */
export function noRoundTime(): Record<RoundPhase, number> {
  return Object.fromEntries(ROUND_PHASES.map((phase) => [phase, 0])) as Record<RoundPhase, number>;
}

export class RoundTimes {
  /** Seconds spent in each phase since the engine opened. */
  readonly seconds = noRoundTime();
  /** Rounds written (one append and one sync each). */
  rounds = 0;
  private mark: number;
  private phase: RoundPhase = "idle";

  constructor(private readonly now: () => number = () => performance.now()) {
    this.mark = now();
  }

  /**
   * The time since the last change of phase goes to the phase it was in; `next` starts now.
   * Returns now (ms), so a caller timing a phase reads the same clock once.
   */
  enter(next: RoundPhase): number {
    const t = this.now();
    this.seconds[this.phase] += (t - this.mark) / 1000;
    this.mark = t;
    this.phase = next;
    return t;
  }

  /** A round was synced: its sync ends here (the loop goes on with what came meanwhile). Returns now (ms). */
  synced(next: RoundPhase): number {
    this.rounds++;
    return this.enter(next);
  }

  /** Every phase with the time of the one under way included (a scrape while it runs). */
  snapshot(): { seconds: Record<RoundPhase, number>; rounds: number } {
    const seconds = { ...this.seconds };
    seconds[this.phase] += (this.now() - this.mark) / 1000;
    return { seconds, rounds: this.rounds };
  }
}
