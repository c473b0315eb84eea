/**
 * Sliding expiry end to end, with a short entryTtlMs. The exact timing rules are unit-tested
 * with a fake clock (test/unit); here real processes show reads refresh and idle entries go.
 */
import { describe, expect, it } from "vitest";
import { Dict, type Client } from "../../src/index.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";

const TTL = 1500;
let tc: TestCluster;
let client: Client;
useTestCluster({ entryTtlMs: TTL }, (t, c) => {
  tc = t;
  client = c;
});

describe("expiry", () => {
  it("an idle entry is never gone before its TTL and is gone after it", async () => {
    const d = Dict.fromName("idle", { createIfMissing: true, client });
    await d.hydrate();
    const beforePut = Date.now();
    await d.put("k", "v");
    // len() does not refresh entries, so it can watch one expire. The server decided "gone"
    // before its answer arrived, so an answer of 0 must arrive no earlier than put + TTL.
    let answeredAt = 0;
    await waitUntil(
      async () => {
        const n = await d.len();
        answeredAt = Date.now();
        return n === 0;
      },
      { what: "the idle entry to expire", timeoutMs: 10 * TTL, intervalMs: 25 },
    );
    expect(answeredAt).toBeGreaterThanOrEqual(beforePut + TTL);
    expect(await d.get("k")).toBeUndefined();
    expect(await d.contains("k")).toBe(false);
  });

  it("reads keep an entry alive; len and iteration skip expired entries", async () => {
    const d = Dict.fromName("busy", { createIfMissing: true, client });
    await d.update(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`idle-${i}`, i])));
    await d.put("hot", "kept");
    const until = Date.now() + 3 * TTL;
    while (Date.now() < until) {
      expect(await d.get("hot")).toBe("kept");
      await new Promise((r) => setTimeout(r, TTL / 8));
    }
    // The idle ones are past their deadline by now, the hot one is not.
    expect(await d.len()).toBe(1);
    const keys: unknown[] = [];
    for await (const k of d.keys()) keys.push(k);
    expect(keys).toEqual(["hot"]);
    expect(await d.put("idle-0", "again", { skipIfExists: true })).toBe(true);
  });

  it("contains and pop refresh too, writes restart the clock", async () => {
    const d = Dict.fromName("refresh-kinds", { createIfMissing: true, client });
    await d.put("c", 1);
    const until = Date.now() + 2 * TTL;
    while (Date.now() < until) {
      expect(await d.contains("c")).toBe(true);
      await new Promise((r) => setTimeout(r, TTL / 8));
    }
    expect(await d.pop("c")).toBe(1);
  });
});
