import { describe, expect, it } from "vitest";
import { runFor, warmUp } from "../../scripts/bench/measure.js";

/** An operation that records its indexes and how many ran at once. */
function recorder() {
  const seen: number[] = [];
  let open = 0;
  let most = 0;
  const op = async (i: number): Promise<void> => {
    seen.push(i);
    most = Math.max(most, ++open);
    await Promise.resolve();
    open--;
  };
  return { seen, op, most: () => most };
}

describe("bench lead-ins and warm-ups (runFor)", () => {
  it("runs at least one chunk of 2,000, each index once, at most `inFlight` at a time", async () => {
    const r = recorder();
    const done = await runFor(0, 7, r.op);
    expect(done).toBe(2_000);
    expect([...r.seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
    expect(r.most()).toBe(7);
  });

  it("runs whole chunks, numbered on from the last, until the time has passed", async () => {
    const r = recorder();
    const started = performance.now();
    const done = await runFor(0.03, 10, r.op);
    expect(performance.now() - started).toBeGreaterThanOrEqual(30);
    expect(done % 2_000).toBe(0);
    expect(done).toBe(r.seen.length);
    expect(new Set(r.seen).size).toBe(done);
    expect(Math.max(...r.seen)).toBe(done - 1);
  });

  it("warms up with puts, then gets of the keys those puts wrote only", async () => {
    const puts = recorder();
    const gets = recorder();
    const written = await warmUp(0, 5, puts.op, gets.op);
    expect(written).toBe(puts.seen.length);
    expect(gets.seen.length).toBeGreaterThan(0);
    for (const i of gets.seen) expect(i).toBeLessThan(written);
  });
});
