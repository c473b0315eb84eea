/** The connection caps of a node: in all (503) and per client token (429). */
import { describe, expect, it } from "vitest";
import { ConnectionCounter } from "../../src/net/connection-counter.js";

describe("ConnectionCounter", () => {
  it("admits up to maxConnections, then refuses with 503 naming the field", () => {
    const c = new ConnectionCounter({ maxConnections: 3, maxConnectionsPerToken: 10 });
    for (let i = 0; i < 3; i++) {
      expect(c.check(undefined)).toEqual({ ok: true });
      c.add(undefined);
    }
    const refused = c.check(undefined);
    expect(refused).toMatchObject({ ok: false, status: 503 });
    expect(!refused.ok && refused.reason).toMatch(/at most 3 clients \(maxConnections\)/);
    c.remove(undefined);
    expect(c.check(undefined)).toEqual({ ok: true });
    expect(c.count).toBe(2);
  });

  it("admits up to maxConnectionsPerToken per token, then refuses that token with 429; other tokens still get in", () => {
    const c = new ConnectionCounter({ maxConnections: 10, maxConnectionsPerToken: 2 });
    c.add("a");
    c.add("a");
    const refused = c.check("a");
    expect(refused).toMatchObject({ ok: false, status: 429 });
    expect(!refused.ok && refused.reason).toMatch(/at most 2 per node \(maxConnectionsPerToken\)/);
    expect(c.check("b")).toEqual({ ok: true });
    c.remove("a");
    expect(c.check("a")).toEqual({ ok: true });
  });

  it("the node cap comes first when both are reached", () => {
    const c = new ConnectionCounter({ maxConnections: 2, maxConnectionsPerToken: 2 });
    c.add("a");
    c.add("a");
    expect(c.check("a")).toMatchObject({ ok: false, status: 503 });
  });

  it("clients without a token count only toward the node cap", () => {
    const c = new ConnectionCounter({ maxConnections: 5, maxConnectionsPerToken: 1 });
    for (let i = 0; i < 5; i++) {
      expect(c.check(undefined).ok).toBe(true);
      c.add(undefined);
    }
    expect(c.check(undefined)).toMatchObject({ ok: false, status: 503 });
  });
});
