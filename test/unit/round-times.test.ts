/**
 * The log's wall time by phase (round-times.ts): every moment belongs to the phase it was
 * in, a scrape mid-phase includes the part under way, and rounds count syncs.
 */
import { describe, expect, it } from "vitest";
import { RoundTimes } from "../../src/store/round-times.js";

describe("RoundTimes", () => {
  it("gives each stretch of time to the phase it was spent in", () => {
    let now = 1_000;
    const t = new RoundTimes(() => now);
    now += 500; // idle from the start
    t.enter("turn");
    now += 20;
    t.enter("linger");
    now += 300;
    t.enter("turn");
    now += 10;
    t.enter("write");
    now += 40;
    t.enter("sync");
    now += 250;
    t.synced("write");
    now += 5;
    // Each change of phase gives the time it read, for a caller timing a phase with the same clock.
    expect(t.enter("idle")).toBe(2_125);
    expect(t.rounds).toBe(1);
    const s = t.seconds;
    expect([s.idle, s.turn, s.linger, s.write, s.sync].map((x) => Math.round(x * 1e6))).toEqual([500_000, 30_000, 300_000, 45_000, 250_000]);
  });

  it("includes the phase under way in a snapshot, without moving it", () => {
    let now = 0;
    const t = new RoundTimes(() => now);
    t.enter("sync");
    now += 2_000;
    const first = t.snapshot();
    expect(first.seconds.sync).toBeCloseTo(2, 9);
    expect(t.seconds.sync).toBe(0);
    now += 1_000;
    expect(t.synced("idle")).toBe(3_000);
    expect(t.snapshot()).toEqual({ seconds: { idle: 0, turn: 0, linger: 0, write: 0, sync: 3 }, rounds: 1 });
  });
});
