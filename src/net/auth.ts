/**
 * Who may connect. Clients present a token (`Authorization: Bearer …`) when the cluster
 * lists `clientTokens`; nodes present the cluster secret (`X-Shardict-Secret`).
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const SECRET_HEADER = "x-shardict-secret";

export type PeerRole = "client" | "node";

export interface AuthPolicy {
  clientTokens: readonly string[];
  clusterSecret: string | undefined;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The role a handshake earns, or a reason to refuse it. */
export function authenticate(req: IncomingMessage, policy: AuthPolicy): { role: PeerRole } | { refused: string } {
  const secret = req.headers[SECRET_HEADER];
  if (typeof secret === "string") {
    if (policy.clusterSecret === undefined) {
      // Without a secret, node rights are only for a node that also lets any client in.
      if (policy.clientTokens.length > 0) return { refused: "this node has no cluster secret, so it accepts no node connections" };
      return { role: "node" };
    }
    if (!safeEqual(secret, policy.clusterSecret)) return { refused: "wrong cluster secret" };
    return { role: "node" };
  }
  if (policy.clientTokens.length === 0) return { role: "client" };
  const auth = req.headers.authorization;
  const token = typeof auth === "string" && auth.startsWith("Bearer ") ? auth.slice(7) : undefined;
  if (token === undefined) return { refused: "a client token is required" };
  if (!policy.clientTokens.some((t) => safeEqual(t, token))) return { refused: "unknown client token" };
  return { role: "client" };
}

/** Headers a node sends when it connects to another node. */
export function nodeHeaders(clusterSecret: string | undefined): Record<string, string> {
  return { [SECRET_HEADER]: clusterSecret ?? "" };
}
