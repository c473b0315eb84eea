import { describe, expect, it } from "vitest";
import { runOrders } from "../../scripts/bench/measure.js";

describe("bench run orders", () => {
  it("runs the systems as given first, then puts each in another slot every run", () => {
    for (const n of [5, 6, 8]) {
      const runs = Math.min(n, 3);
      const orders = runOrders(n, runs);
      expect(orders).toHaveLength(runs);
      expect([...(orders[0] as Uint32Array)]).toEqual(Array.from({ length: n }, (_, i) => i));
      for (const o of orders) expect([...o].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      for (let sys = 0; sys < n; sys++) {
        const slots = orders.map((o) => o.indexOf(sys));
        expect(new Set(slots).size).toBe(runs);
      }
    }
  });

  it("runs each system both in the first third of a run and in the last", () => {
    for (const n of [6, 8]) {
      const orders = runOrders(n, 3);
      const third = Math.ceil(n / 3);
      for (let sys = 0; sys < n; sys++) {
        const slots = orders.map((o) => o.indexOf(sys));
        expect(Math.min(...slots)).toBeLessThan(third);
        expect(Math.max(...slots)).toBeGreaterThanOrEqual(n - third);
      }
    }
  });

  it("does not put a system after the same one twice when it can help it", () => {
    const orders = runOrders(8, 3);
    const pairs = new Set<string>();
    for (const o of orders) {
      for (let slot = 1; slot < o.length; slot++) {
        const pair = `${o[slot - 1]}>${o[slot]}`;
        expect(pairs.has(pair)).toBe(false);
        pairs.add(pair);
      }
    }
  });

  it("is the same in every invocation (seeded)", () => {
    expect(runOrders(8, 5).map((o) => [...o])).toEqual(runOrders(8, 5).map((o) => [...o]));
  });
});
