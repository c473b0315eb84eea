/**
 * A client token carried in `Sec-WebSocket-Protocol`, for browsers: their WebSocket cannot
 * send an `Authorization` header, but it may offer subprotocols. A browser client offers
 * `shardict` and `shardict.bearer.<base64url of the token's UTF-8>`; the node selects
 * `shardict` (never echoing the token back). base64url keeps any token within the
 * characters a subprotocol name may use.
 */

/** The subprotocol a node selects for a client that offered it. */
export const SUBPROTOCOL = "shardict";
const BEARER_PREFIX = "shardict.bearer.";
/** Longer than any sane token's encoding; a longer offer is not decoded at all. */
const MAX_ENCODED = 4096;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The subprotocols a client offers: `shardict`, and its token if it has one. */
export function offeredProtocols(token: string | undefined): string[] {
  if (token === undefined || token === "") return [SUBPROTOCOL];
  let binary = "";
  for (const b of new TextEncoder().encode(token)) binary += String.fromCharCode(b);
  const encoded = btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return [SUBPROTOCOL, BEARER_PREFIX + encoded];
}

/**
 * The token a `Sec-WebSocket-Protocol` header offers, or undefined when it offers none or
 * offers one that is not well formed (several, bad base64url, not UTF-8, too long): such a
 * handshake is refused as one without a token, never with an exception.
 */
export function protocolToken(header: unknown): string | undefined {
  if (typeof header !== "string") return undefined;
  let found: string | undefined;
  for (const part of header.split(",")) {
    const p = part.trim();
    if (!p.startsWith(BEARER_PREFIX)) continue;
    // Two tokens in one handshake: neither is taken.
    if (found !== undefined) return undefined;
    found = p.slice(BEARER_PREFIX.length);
  }
  if (found === undefined || found.length > MAX_ENCODED || !BASE64URL.test(found)) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(found.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  } catch {
    // A length no base64 has (4n + 1).
    return undefined;
  }
  try {
    const token = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return token === "" ? undefined : token;
  } catch {
    return undefined;
  }
}
