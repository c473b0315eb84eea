/** The request-latency histogram is formatted exactly as a Prometheus histogram. */
import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { FastHistogram } from "../../src/net/fast-histogram.js";

describe("FastHistogram", () => {
  it("counts into cumulative buckets with sum and count, per series", async () => {
    const registry = new Registry();
    const h = new FastHistogram("t_seconds", "test", [0.1, 1], registry);
    const a = h.child({ op: "get" });
    h.child({ op: "idle" }); // never observed: not printed
    for (const v of [0.05, 0.1, 0.5, 2]) a.observe(v);
    const text = await registry.metrics();
    expect(text).toContain("# TYPE t_seconds histogram");
    expect(text).toContain('t_seconds_bucket{op="get",le="0.1"} 2');
    expect(text).toContain('t_seconds_bucket{op="get",le="1"} 3');
    expect(text).toContain('t_seconds_bucket{op="get",le="+Inf"} 4');
    expect(text).toContain('t_seconds_sum{op="get"} 2.65');
    expect(text).toContain('t_seconds_count{op="get"} 4');
    expect(text).not.toContain("idle");
  });
});
