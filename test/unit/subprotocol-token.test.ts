/** A browser's token in Sec-WebSocket-Protocol: read back exactly, and anything malformed refused as "no token", never thrown. */
import { describe, expect, it } from "vitest";
import type { IncomingMessage } from "node:http";
import { authenticate, bearerToken } from "../../src/net/auth.js";
import { offeredProtocols, protocolToken, SUBPROTOCOL } from "../../src/net/subprotocol-token.js";

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
/** What a browser sends for `new WebSocket(url, protocols)`. */
const header = (protocols: string[]) => protocols.join(", ");

describe("subprotocol token", () => {
  it("round-trips any token, in characters a subprotocol name may use", () => {
    for (const token of ["token-aaaaaaaa", "ünïcødé ✓ 🔑", "a", "+/=?&\"'<>\\ \t", "x".repeat(1000)]) {
      const offered = offeredProtocols(token);
      expect(offered[0]).toBe(SUBPROTOCOL);
      // RFC 6455: a subprotocol is an RFC 2616 token (no separators, no spaces).
      for (const p of offered) expect(p).toMatch(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/);
      expect(protocolToken(header(offered))).toBe(token);
    }
    expect(offeredProtocols(undefined)).toEqual([SUBPROTOCOL]);
    expect(offeredProtocols("")).toEqual([SUBPROTOCOL]);
  });

  it("refuses malformed offers as no token, without throwing", () => {
    const valid = offeredProtocols("token-aaaaaaaa")[1] as string;
    const garbage: unknown[] = [
      undefined,
      "",
      ",,,",
      "shardict",
      "shardict.bearer.",
      "shardict.bearer.!!!!",
      "shardict.bearer.a", // a base64 length no encoding has
      "shardict.bearer.a b",
      "shardict.bearer.%41%41",
      `shardict.bearer.${"A".repeat(5000)}`,
      "shardict.bearer.gA", // 0x80: not UTF-8
      "shardict.bearer.AA", // a lone NUL decodes, but see below: it is a token like any other
      `${valid}, ${valid}`, // two tokens: neither
      `${valid}, shardict.bearer.dG9rZW4tYmJiYmJiYmI`,
      ["shardict", valid],
      42,
      { toString: () => valid },
    ];
    for (const h of garbage) {
      expect(() => protocolToken(h), JSON.stringify(h)).not.toThrow();
      const t = protocolToken(h);
      if (h === "shardict.bearer.AA") expect(t).toBe("\0");
      else expect(t, JSON.stringify(h)).toBeUndefined();
    }
  });

  it("authenticates a browser's handshake by its offered token; a bad offer is a typed refusal", () => {
    const policy = { clientTokens: ["token-aaaaaaaa", "token-bbbbbbbb"], clusterSecret: "the-cluster-secret" };
    const offer = (token: string) => req({ "sec-websocket-protocol": header(offeredProtocols(token)) });
    expect(authenticate(offer("token-bbbbbbbb"), policy)).toMatchObject({ role: "client", token: "token-bbbbbbbb" });
    expect(authenticate(offer("token-cccccccc"), policy)).toEqual({ refused: "unknown client token" });
    for (const h of ["shardict", "shardict.bearer.!!", "shardict.bearer.gA", "garbage, , ,", "\u0000"]) {
      expect(authenticate(req({ "sec-websocket-protocol": h }), policy)).toEqual({ refused: "a client token is required" });
    }
  });

  it("an Authorization header is still read first", () => {
    const both = req({ authorization: "Bearer token-aaaaaaaa", "sec-websocket-protocol": header(offeredProtocols("token-bbbbbbbb")) });
    expect(bearerToken(both)).toBe("token-aaaaaaaa");
  });
});
