/** Group commit's delay: a small round waits for the next write; waits that run out stop it, joined ones keep it. */
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

  it("from the start, a wait that runs out pauses waiting (a lone writer pays once per pause)", async () => {
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

  /** One wait, ended by a write arriving (`join`) or by its timer. */
  async function waitOnce(l: CommitLinger, join: boolean): Promise<void> {
    const over = l.wait();
    if (join) l.arrived();
    else vi.advanceTimersByTime(LINGER_MAX_MS);
    await over;
  }

  it("concurrent writers (most waits joined) keep waiting through the odd wait that runs out", async () => {
    const l = new CommitLinger(clock);
    for (let i = 0; i < 10; i++) await waitOnce(l, true);
    await waitOnce(l, false);
    expect(l.shouldWait(2)).toBe(true);
    // Mostly running out: waiting stops, and tries again once per pause.
    for (let i = 0; i < 6; i++) await waitOnce(l, false);
    expect(l.shouldWait(2)).toBe(false);
    now += LINGER_PAUSE_MS;
    expect(l.shouldWait(2)).toBe(true);
    await waitOnce(l, false);
    expect(l.shouldWait(2)).toBe(false);
    expect([l.joined, l.ranOut]).toEqual([10, 8]);
  });

  it("after a pause every round tries again, and joined tries turn waiting back on", async () => {
    const l = new CommitLinger(clock);
    for (let i = 0; i < 20; i++) {
      now += LINGER_PAUSE_MS;
      await waitOnce(l, false);
    }
    expect(l.shouldWait(2)).toBe(false);
    now += LINGER_PAUSE_MS;
    for (let i = 0; i < 8; i++) {
      expect(l.shouldWait(2)).toBe(true);
      await waitOnce(l, true);
    }
    // Back on: a wait that runs out no longer stops it.
    await waitOnce(l, false);
    expect(l.shouldWait(2)).toBe(true);
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
