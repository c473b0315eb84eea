/**
 * Leases of ephemeral dicts: each client's heartbeats renew the lease of every ephemeral
 * dict it owns; when a client has been silent for the grace period, its dicts are expired.
 */
import type { Clock, TimerHandle } from "../util/clock.js";

export class EphemeralLeases {
  private readonly lastSeen = new Map<string, number>();
  private timer: TimerHandle | undefined;

  constructor(
    private readonly graceMs: number,
    private readonly clock: Clock,
    private readonly onExpired: (owner: string) => void,
  ) {}

  /** A heartbeat (or any request) from a client. */
  renew(owner: string): void {
    this.lastSeen.set(owner, this.clock.now());
  }

  /** Stop tracking a client (it owns nothing any more). */
  forget(owner: string): void {
    this.lastSeen.delete(owner);
  }

  /** Owners silent for longer than the grace period. */
  expired(now: number): string[] {
    const out: string[] = [];
    for (const [owner, seen] of this.lastSeen) if (now - seen > this.graceMs) out.push(owner);
    return out;
  }

  start(): void {
    const every = Math.max(50, Math.min(1000, Math.floor(this.graceMs / 4)));
    const tick = () => {
      for (const owner of this.expired(this.clock.now())) {
        this.lastSeen.delete(owner);
        this.onExpired(owner);
      }
      this.timer = this.clock.setTimer(tick, every);
    };
    this.timer = this.clock.setTimer(tick, every);
  }

  stop(): void {
    this.timer?.cancel();
  }
}
