/** Group commit's delay: a small round waits for the next write, and a lone writer stops it. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CommitLinger, LINGER_BELOW, LINGER_MAX_MS, LINGER_PAUSE_MS } from "../../src/store/commit-linger.js";

describe("CommitLinger", () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_000;
  });
  afterEach(() => vi.useRealTimers());

  it("waits only for small rounds", () => {
    const l = new CommitLinger(clock);
    expect(l.shouldWait(0)).toBe(false);
    expect(l.shouldWait(1)).toBe(true);
    expect(l.shouldWait(LINGER_BELOW - 1)).toBe(true);
    expect(l.shouldWait(LINGER_BELOW)).toBe(false);
  });

  it("a write arriving ends the wait at once, and lingering goes on", async () => {
    const l = new CommitLinger(clock);
    let over = false;
    void l.wait().then(() => (over = true));
    l.arrived();
    await Promise.resolve();
    expect(over).toBe(true);
    expect(l.joined).toBe(1);
    expect(l.shouldWait(2)).toBe(true);
    // The timer of the wait that ended is gone: it neither fires nor pauses lingering.
    vi.advanceTimersByTime(10 * LINGER_MAX_MS);
    expect(l.ranOut).toBe(0);
    expect(l.shouldWait(2)).toBe(true);
  });

  it("a wait that runs out pauses lingering (a lone writer pays once per pause)", async () => {
    const l = new CommitLinger(clock);
    let over = false;
    void l.wait().then(() => (over = true));
    vi.advanceTimersByTime(LINGER_MAX_MS - 0.5);
    await Promise.resolve();
    expect(over).toBe(false);
    vi.advanceTimersByTime(1);
    await Promise.resolve();
    expect(over).toBe(true);
    expect(l.ranOut).toBe(1);
    expect(l.shouldWait(2)).toBe(false);
    now += LINGER_PAUSE_MS - 1;
    expect(l.shouldWait(2)).toBe(false);
    now += 1;
    expect(l.shouldWait(2)).toBe(true);
    // A write arriving when nobody waits changes nothing.
    l.arrived();
    expect(l.joined).toBe(0);
  });

  it("release ends a wait without counting it either way", async () => {
    const l = new CommitLinger(clock);
    let over = false;
    void l.wait().then(() => (over = true));
    l.release();
    await Promise.resolve();
    expect(over).toBe(true);
    vi.advanceTimersByTime(10);
    expect([l.joined, l.ranOut]).toEqual([0, 0]);
    expect(l.shouldWait(2)).toBe(true);
  });
});
