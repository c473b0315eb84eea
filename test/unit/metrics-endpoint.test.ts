/** Who may scrape `GET /metrics`, and which requests are for it. */
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { isMetricsRequest, metricsRefusal } from "../../src/net/metrics-endpoint.js";

const req = (url: string, authorization?: string): IncomingMessage => ({ url, headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

describe("metricsRefusal", () => {
  it("lets anyone scrape a cluster without tokens", () => {
    expect(metricsRefusal(req("/metrics"), { clientTokens: [] })).toBeUndefined();
  });
  it("requires a client token or the metrics token when either is configured", () => {
    const access = { clientTokens: ["client-token-1"], metricsToken: "scrape-token-1" };
    expect(metricsRefusal(req("/metrics"), access)).toMatch(/token is required/);
    expect(metricsRefusal(req("/metrics", "Basic abc"), access)).toMatch(/token is required/);
    expect(metricsRefusal(req("/metrics", "Bearer client-token-2"), access)).toBe("unknown token");
    expect(metricsRefusal(req("/metrics", "Bearer client-token-1"), access)).toBeUndefined();
    expect(metricsRefusal(req("/metrics", "Bearer scrape-token-1"), access)).toBeUndefined();
    expect(metricsRefusal(req("/metrics"), { clientTokens: [], metricsToken: "scrape-token-1" })).toMatch(/token is required/);
  });
});

describe("isMetricsRequest", () => {
  it("matches the path, with or without a query", () => {
    expect(isMetricsRequest(req("/metrics"))).toBe(true);
    expect(isMetricsRequest(req("/metrics?x=1"))).toBe(true);
    expect(isMetricsRequest(req("/metricsx"))).toBe(false);
    expect(isMetricsRequest(req("/"))).toBe(false);
  });
});
