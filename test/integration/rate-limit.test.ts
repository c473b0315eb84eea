/**
 * `maxRequestsPerSecondPerToken`: one token's requests beyond the rate are refused before any
 * work (RATE_LIMITED, counted in the metrics); the SDK retries them with backoff and, past
 * its budget, rejects with RateLimitError; another token is not slowed down.
 */
import { describe, expect, it } from "vitest";
import { connect, Dict, RateLimitError } from "../../src/index.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { parseSamples, sumOf } from "../helpers/prom-text.js";

const A = "token-aaaaaaaa-rate";
const B = "token-bbbbbbbb-rate";
const RATE = 100;
let tc: TestCluster;
useTestCluster({ clientTokens: [A, B], clusterSecret: "rate-limit-cluster-secret", maxRequestsPerSecondPerToken: RATE }, (t) => {
  tc = t;
}, { token: A });

describe("requests per second per token", () => {
  it("past the rate a token's requests are refused (RateLimitError once the retry budget is spent); another token is served", async () => {
    const hasty = await connect({ url: tc.url, token: A, retryBudgetMs: 200 });
    const d = Dict.fromName("rated", { createIfMissing: true, client: hasty });
    await d.put("k", 1);
    const results = await Promise.allSettled(Array.from({ length: 1_000 }, () => d.get("k")));
    const refused = results.filter((r) => r.status === "rejected");
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(RateLimitError);
    expect(results.some((r) => r.status === "fulfilled" && r.value === 1)).toBe(true);
    // Another token has its own rate.
    const other = await connect({ url: tc.url, token: B });
    expect(await Dict.fromName("rated", { client: other }).get("k")).toBe(1);
    other.close();
    // Counted per outcome on the shards.
    let limited = 0;
    for (const s of tc.config.shards) {
      const res = await fetch(`${tc.cluster.urlOf(s.id)!.replace(/^ws:/, "http:")}/metrics`, { headers: { authorization: `Bearer ${B}` } });
      limited += sumOf(parseSamples(await res.text()), "shardict_requests_total", { outcome: "RATE_LIMITED" });
    }
    expect(limited).toBeGreaterThan(0);
    hasty.close();
  });

  it("with the default retry budget, a burst over the rate is slowed down, not failed", async () => {
    const patient = await connect({ url: tc.url, token: A });
    const d = Dict.fromName("rated", { client: patient });
    const got = await Promise.all(Array.from({ length: 3 * RATE }, () => d.get("k")));
    expect(got.every((v) => v === 1)).toBe(true);
    patient.close();
  });
});
