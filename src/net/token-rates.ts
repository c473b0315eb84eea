/**
 * Requests per second per client token, on one node: a token bucket per token (refilled at
 * the rate, holding at most one second of it), so a token's clients together get the rate
 * on average and a second's worth in a burst. Only listed tokens reach it, so the map is
 * bounded by the config. Nodes count alone: a token may get the rate from each node.
 */
export class TokenRates {
  private readonly buckets = new Map<string, { left: number; at: number }>();

  /** `perSecond` 0: no limit. */
  constructor(private readonly perSecond: number) {}

  get limited(): boolean {
    return this.perSecond > 0;
  }

  /** Whether a request of `token` may run now (and count it). */
  take(token: string, now: number): boolean {
    if (this.perSecond <= 0) return true;
    let b = this.buckets.get(token);
    if (b === undefined) this.buckets.set(token, (b = { left: this.perSecond, at: now }));
    b.left = Math.min(this.perSecond, b.left + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    if (b.left < 1) return false;
    b.left -= 1;
    return true;
  }
}
