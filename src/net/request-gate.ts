/**
 * Back-pressure for the requests of one connection. They start in arrival order while fewer
 * than `maxRequestsInFlight` are being worked on and fewer than `maxReplyBytesInFlight` bytes
 * of replies wait to leave; the others wait here, and the owner stops reading the connection
 * meanwhile, so the peer's own socket fills and it has to slow down. A peer that asks for
 * large replies and never reads them costs its unsent replies, not everything it asked for.
 */
export interface GateLimits {
  maxRequestsInFlight: number;
  maxReplyBytesInFlight: number;
}

export class RequestGate<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private active = 0;
  /** Set while requests wait on replies the peer does not take: since the last progress. */
  private blockedSince: number | undefined;

  constructor(private readonly limits: GateLimits) {}

  /** Requests received and not started. */
  get waiting(): number {
    return this.items.length - this.head;
  }

  /** Requests started whose answer is not there yet. */
  get inFlight(): number {
    return this.active;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /**
   * The next request to start now, or undefined when none waits or the limits say wait.
   * `unsentReplyBytes` is what the connection's replies hold that its socket has not taken.
   */
  next(unsentReplyBytes: number, now: number): T | undefined {
    if (this.head === this.items.length) {
      this.blockedSince = undefined;
      return undefined;
    }
    if (unsentReplyBytes >= this.limits.maxReplyBytesInFlight) {
      this.blockedSince ??= now;
      return undefined;
    }
    this.blockedSince = undefined;
    if (this.active >= this.limits.maxRequestsInFlight) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** A started request answers later (its handler returned a promise). */
  began(): void {
    this.active++;
  }

  ended(): void {
    this.active--;
  }

  /** Some reply bytes left for the peer: one that reads, however slowly, is not stuck. */
  drained(now: number): void {
    if (this.blockedSince !== undefined) this.blockedSince = now;
  }

  /** How long requests have waited on replies that do not drain at all (0 if they do not wait on replies). */
  stalledFor(now: number): number {
    return this.blockedSince === undefined ? 0 : now - this.blockedSince;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.blockedSince = undefined;
  }
}
