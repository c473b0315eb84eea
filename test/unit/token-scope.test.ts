/** The rules of scoped tokens (token-scope.ts), and the shard's checks on top of them (dict-access.ts). */
import { describe, expect, it } from "vitest";
import { AuthError, RetryableError } from "../../src/errors.js";
import { newSession } from "../../src/net/session.js";
import { anyAccessRefusal, dictRefusal, grantOf, nameMatches, nameRefusal, principalOf, type DictFacts, type TokenScope } from "../../src/net/token-scope.js";
import { DictAccess } from "../../src/shard/dict-access.js";

const scope = (s: { env?: string; dicts?: string[]; ops: ("read" | "write" | "admin")[] }, token = "some-token"): TokenScope => {
  const g = grantOf({ token, ...s });
  if (g.scope === undefined) throw new Error("no scope");
  return g.scope;
};
const named = (name: string, env = "main"): DictFacts => ({ id: `di-${name}-0000`, name, env, owner: null, ownerKey: null });

describe("name patterns", () => {
  it("match a name exactly, or by prefix with a trailing star", () => {
    expect(nameMatches("jobs", "jobs")).toBe(true);
    expect(nameMatches("jobs", "jobs-1")).toBe(false);
    expect(nameMatches("jobs-*", "jobs-1")).toBe(true);
    expect(nameMatches("jobs-*", "jobs-")).toBe(true);
    expect(nameMatches("jobs-*", "jobs")).toBe(false);
    expect(nameMatches("*", "anything")).toBe(true);
  });
});

describe("dictRefusal", () => {
  it("lets a scope do its ops on its dicts, and names the dict and op it refuses", () => {
    const s = scope({ dicts: ["jobs-*"], ops: ["read"] });
    expect(dictRefusal(s, "read", named("jobs-1"), "c1")).toBeUndefined();
    expect(dictRefusal(s, "write", named("jobs-1"), "c1")).toMatch(/may not write dict "jobs-1" in environment "main" \(its ops: read\)/);
    expect(dictRefusal(s, "read", named("secret"), "c1")).toMatch(/may not reach dict "secret"/);
    expect(dictRefusal(s, "admin", named("jobs-1"), "c1")).toMatch(/may not create or delete dict "jobs-1"/);
  });

  it("holds a scope to its environment, and an empty dict list reaches no named dict", () => {
    const s = scope({ env: "staging", ops: ["read", "write"] });
    expect(dictRefusal(s, "read", named("a", "staging"), "c")).toBeUndefined();
    expect(dictRefusal(s, "read", named("a", "main"), "c")).toMatch(/limited to environment "staging"/);
    expect(nameRefusal(scope({ dicts: [], ops: ["read"] }), "a", "main")).toMatch(/no named dict/);
  });

  it("gives an ephemeral dict only to the client and token that made it", () => {
    const s = scope({ ops: ["read", "write"] }, "maker-token");
    const eph: DictFacts = { id: "di-eph-0000", name: null, env: "main", owner: "client-1", ownerKey: principalOf("maker-token") };
    expect(dictRefusal(s, "read", eph, "client-1")).toBeUndefined();
    expect(dictRefusal(s, "admin", eph, "client-1")).toBeUndefined();
    expect(dictRefusal(s, "read", eph, "client-2")).toMatch(/belongs to another client/);
    expect(dictRefusal(scope({ ops: ["read", "write"] }, "other-token"), "read", eph, "client-1")).toMatch(/belongs to another client/);
    // Made with a token that may do everything (no principal recorded): no scoped token reaches it.
    expect(dictRefusal(s, "read", { ...eph, ownerKey: null }, "client-1")).toMatch(/belongs to another client/);
    expect(dictRefusal(scope({ ops: ["read"] }, "maker-token"), "write", eph, "client-1")).toMatch(/may not write/);
  });

  it("anyAccess needs read or write", () => {
    expect(anyAccessRefusal(scope({ ops: ["write"] }), named("a"), "c")).toBeUndefined();
    expect(anyAccessRefusal(scope({ ops: ["admin"] }), named("a"), "c")).toMatch(/may not read/);
  });

  it("a string entry has no scope; a principal is a digest that does not contain the token", () => {
    expect(grantOf("plain-token-1").scope).toBeUndefined();
    expect(principalOf("plain-token-1")).not.toContain("plain-token-1");
    expect(principalOf("plain-token-1")).toBe(principalOf("plain-token-1"));
    expect(principalOf("plain-token-1")).not.toBe(principalOf("plain-token-2"));
  });
});

describe("DictAccess (the shard's checks)", () => {
  const facts = new Map<string, DictFacts>([
    ["di-a-0000", { ...named("jobs-1"), id: "di-a-0000" }],
    ["di-b-0000", { ...named("secret"), id: "di-b-0000" }],
  ]);

  function access(): { access: DictAccess; asked: string[] } {
    const asked: string[] = [];
    const a = new DictAccess(async (id) => {
      asked.push(id);
      return facts.get(id);
    });
    return { access: a, asked };
  }

  it("skips everything for a connection without a scope", () => {
    const { access: a, asked } = access();
    expect(a.check(newSession(), "put", "di-b-0000")).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it("asks once per dict, then decides at once; reads and writes apart", async () => {
    const { access: a, asked } = access();
    const session = { ...newSession(), scope: scope({ dicts: ["jobs-*"], ops: ["read"] }) };
    await a.check(session, "get", "di-a-0000");
    expect(a.check(session, "scan", "di-a-0000")).toBeUndefined();
    expect(() => a.check(session, "put", "di-a-0000")).toThrow(AuthError);
    expect(() => a.check(session, "clear", "di-a-0000")).toThrow(AuthError);
    await expect(a.check(session, "get", "di-b-0000")).rejects.toBeInstanceOf(AuthError);
    expect(() => a.check(session, "hotKeys", "di-b-0000")).toThrow(/dict "secret"/);
    // Another connection with another scope decides for itself, from the kept facts.
    const other = { ...newSession(), scope: scope({ ops: ["read", "write"] }) };
    expect(a.check(other, "put", "di-b-0000")).toBeUndefined();
    expect(asked).toEqual(["di-a-0000", "di-b-0000"]);
  });

  it("lets a request for an unknown dict go on (it is answered not found), and a coordinator it cannot ask is retryable", async () => {
    const { access: a } = access();
    const session = { ...newSession(), scope: scope({ ops: ["read"] }) };
    await expect(a.check(session, "get", "di-none-0000")).resolves.toBeUndefined();
    const down = new DictAccess(() => Promise.reject(new Error("coordinator not connected")));
    await expect(down.check(session, "get", "di-a-0000")).rejects.toBeInstanceOf(RetryableError);
  });
});
