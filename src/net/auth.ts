/**
 * Who may connect. Clients present a token (`Authorization: Bearer …`) when the cluster
 * lists `clientTokens`; nodes present the cluster secret (`X-Shardict-Secret`).
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { grantOf, tokenOf, type ClientGrant, type ClientTokenEntry } from "./token-scope.js";
import { protocolToken } from "./subprotocol-token.js";

export const SECRET_HEADER = "x-shardict-secret";

export type PeerRole = "client" | "node";

export interface AuthPolicy {
  clientTokens: readonly ClientTokenEntry[];
  clusterSecret: string | undefined;
}

/** Compare secrets in constant time (for equal lengths; a length mismatch is all it tells). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The role a handshake earns (and, for a client, the token it presented with its scope), or
 * a reason to refuse it.
 */
export function authenticate(req: IncomingMessage, policy: AuthPolicy): { role: "node" } | { role: "client"; token: string | undefined; grant?: ClientGrant } | { refused: string } {
  const secret = req.headers[SECRET_HEADER];
  if (typeof secret === "string") {
    // Node rights only ever come from a match: a node without a secret grants them to nobody.
    if (policy.clusterSecret === undefined) return { refused: "this node has no cluster secret, so it accepts no node connections" };
    if (!safeEqual(secret, policy.clusterSecret)) return { refused: "wrong cluster secret" };
    return { role: "node" };
  }
  if (policy.clientTokens.length === 0) return { role: "client", token: undefined };
  const token = bearerToken(req);
  if (token === undefined) return { refused: "a client token is required" };
  const known = findToken(policy.clientTokens, token);
  if (known === undefined) return { refused: "unknown client token" };
  const grant = grantOf(known);
  return { role: "client", token: grant.token, grant };
}

/**
 * The `clientTokens` entry whose token is `presented`, if any. Every entry is compared, in
 * constant time, so the time taken says nothing of which one matched.
 */
export function findToken(entries: readonly ClientTokenEntry[], presented: string): ClientTokenEntry | undefined {
  let known: ClientTokenEntry | undefined;
  for (const entry of entries) if (safeEqual(tokenOf(entry), presented) && known === undefined) known = entry;
  return known;
}

/**
 * The token of an `Authorization: Bearer …` header, if there is one; else the one a browser
 * offers as a subprotocol, which cannot set that header (subprotocol-token.ts).
 */
export function bearerToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === "string" && auth.startsWith("Bearer ")) return auth.slice(7);
  return protocolToken(req.headers["sec-websocket-protocol"]);
}

/** Headers a node sends when it connects to another node. */
export function nodeHeaders(clusterSecret: string | undefined): Record<string, string> {
  return { [SECRET_HEADER]: clusterSecret ?? "" };
}
