/**
 * Bytes of messages a node has begun to receive and not finished, per connection and over
 * all of them. `ws` buffers the fragments of one message up to the payload limit for as long
 * as the sender likes (answering pings keeps the connection alive), so without this a few
 * connections could hold gigabytes. Two bounds: a message must be finished within a timeout
 * of its first byte, and when the node-wide total passes its cap the largest holders are
 * dropped (a sender of one legitimate large message is never the largest for long).
 */
export interface UnfinishedLimits {
  /** Node-wide bytes of unfinished messages. */
  maxBytes: number;
  /** Longest a message may stay unfinished while its connection is read. */
  timeoutMs: number;
}

interface Held {
  bytes: number;
  /** When the message now unfinished began (as far as we saw), or undefined with none. */
  since: number | undefined;
}

export class UnfinishedInput<K> {
  private readonly held = new Map<K, Held>();
  private sum = 0;

  constructor(private readonly limits: UnfinishedLimits) {}

  /** Bytes held over all connections. */
  get total(): number {
    return this.sum;
  }

  bytesOf(key: K): number {
    return this.held.get(key)?.bytes ?? 0;
  }

  /**
   * What a connection holds unfinished now. Returns the connections to drop, largest first,
   * to get the node back under its cap (forgotten here already); usually none.
   */
  observe(key: K, bytes: number, now: number): K[] {
    let h = this.held.get(key);
    if (!h) {
      if (bytes === 0) return [];
      h = { bytes: 0, since: undefined };
      this.held.set(key, h);
    }
    this.sum += bytes - h.bytes;
    h.bytes = bytes;
    if (bytes === 0) this.held.delete(key);
    else h.since ??= now;
    return this.sum > this.limits.maxBytes ? this.shed() : [];
  }

  /** The connection finished a message: what it holds now belongs to a newer one. */
  completed(key: K): void {
    const h = this.held.get(key);
    if (h) h.since = undefined;
  }

  /**
   * The connection is not being read (back-pressure): its message cannot progress, so its
   * clock starts again once it is read.
   */
  notReading(key: K): void {
    const h = this.held.get(key);
    if (h) h.since = undefined;
  }

  remove(key: K): void {
    const h = this.held.get(key);
    if (!h) return;
    this.sum -= h.bytes;
    this.held.delete(key);
  }

  /** Connections whose message has stayed unfinished past the timeout (forgotten here already). */
  expired(now: number): K[] {
    const out: K[] = [];
    for (const [key, h] of this.held) {
      if (h.since === undefined) {
        h.since = now;
      } else if (now - h.since > this.limits.timeoutMs) {
        out.push(key);
      }
    }
    for (const key of out) this.remove(key);
    return out;
  }

  private shed(): K[] {
    const out: K[] = [];
    while (this.sum > this.limits.maxBytes) {
      let largest: K | undefined;
      let most = -1;
      for (const [key, h] of this.held) {
        if (h.bytes > most) {
          most = h.bytes;
          largest = key;
        }
      }
      if (largest === undefined) break;
      this.remove(largest);
      out.push(largest);
    }
    return out;
  }
}
