/** Who a handshake is: node rights only for the cluster secret, and a client's token for its connection cap. */
import { describe, expect, it } from "vitest";
import type { IncomingMessage } from "node:http";
import { authenticate } from "../../src/net/auth.js";

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
const SECRET = "the-cluster-secret";

describe("authenticate", () => {
  it("a node without a cluster secret gives node rights to no header value", () => {
    for (const clientTokens of [[], ["token-aaaaaaaa"]]) {
      for (const value of ["", "anything", SECRET]) {
        const v = authenticate(req({ "x-shardict-secret": value }), { clientTokens, clusterSecret: undefined });
        expect(v, `${JSON.stringify(clientTokens)} ${value}`).toEqual({ refused: "this node has no cluster secret, so it accepts no node connections" });
      }
    }
  });

  it("node rights need the exact secret", () => {
    const policy = { clientTokens: [], clusterSecret: SECRET };
    expect(authenticate(req({ "x-shardict-secret": SECRET }), policy)).toEqual({ role: "node" });
    for (const value of ["", `${SECRET}x`, SECRET.slice(1), "x"]) {
      expect(authenticate(req({ "x-shardict-secret": value }), policy)).toEqual({ refused: "wrong cluster secret" });
    }
  });

  it("a client is told apart by its token (none without clientTokens)", () => {
    expect(authenticate(req({}), { clientTokens: [], clusterSecret: SECRET })).toEqual({ role: "client", token: undefined });
    const policy = { clientTokens: ["token-aaaaaaaa", "token-bbbbbbbb"], clusterSecret: SECRET };
    expect(authenticate(req({ authorization: "Bearer token-bbbbbbbb" }), policy)).toEqual({ role: "client", token: "token-bbbbbbbb", grant: { token: "token-bbbbbbbb", scope: undefined } });
    expect(authenticate(req({ authorization: "Bearer token-cccccccc" }), policy)).toEqual({ refused: "unknown client token" });
    expect(authenticate(req({}), policy)).toEqual({ refused: "a client token is required" });
  });

  it("a scoped entry gives its client the entry's scope; strings and objects mix", () => {
    const policy = { clientTokens: ["token-aaaaaaaa", { token: "token-scoped1", dicts: ["jobs-*"], ops: ["read" as const] }], clusterSecret: SECRET };
    const v = authenticate(req({ authorization: "Bearer token-scoped1" }), policy);
    expect(v).toMatchObject({ role: "client", token: "token-scoped1" });
    const scope = "grant" in v ? v.grant?.scope : undefined;
    expect(scope?.dicts).toEqual(["jobs-*"]);
    expect([...(scope?.ops ?? [])]).toEqual(["read"]);
    expect(scope?.principal).toMatch(/^tk-/);
    expect(scope?.principal).not.toContain("token-scoped1");
    expect(authenticate(req({ authorization: "Bearer token-aaaaaaaa" }), policy)).toMatchObject({ grant: { scope: undefined } });
    expect(authenticate(req({ authorization: "Bearer token-scoped" }), policy)).toEqual({ refused: "unknown client token" });
  });
});
