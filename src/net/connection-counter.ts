/**
 * How many client connections a node holds, in all and per client token, and whether it
 * may take one more. Connections with the cluster secret are not counted: a node full of
 * clients still lets the cluster's own nodes in.
 */
export interface ConnectionCaps {
  maxConnections: number;
  /** Applies to clients that present a token (a cluster with `clientTokens`). */
  maxConnectionsPerToken: number;
}

export type Admission = { ok: true } | { ok: false; status: 429 | 503; reason: string };

export class ConnectionCounter {
  private total = 0;
  private readonly perToken = new Map<string, number>();

  constructor(private readonly caps: ConnectionCaps) {}

  get count(): number {
    return this.total;
  }

  /** Whether one more client connection, with this token if any, may be accepted. */
  check(token: string | undefined): Admission {
    if (this.total >= this.caps.maxConnections) {
      return { ok: false, status: 503, reason: `too many connections: this node takes at most ${this.caps.maxConnections} clients (maxConnections)` };
    }
    if (token !== undefined && (this.perToken.get(token) ?? 0) >= this.caps.maxConnectionsPerToken) {
      return {
        ok: false,
        status: 429,
        reason: `too many connections with this client token: at most ${this.caps.maxConnectionsPerToken} per node (maxConnectionsPerToken)`,
      };
    }
    return { ok: true };
  }

  add(token: string | undefined): void {
    this.total++;
    if (token !== undefined) this.perToken.set(token, (this.perToken.get(token) ?? 0) + 1);
  }

  remove(token: string | undefined): void {
    this.total--;
    if (token === undefined) return;
    const n = (this.perToken.get(token) ?? 1) - 1;
    if (n > 0) this.perToken.set(token, n);
    else this.perToken.delete(token);
  }
}
