import { describe, expect, it } from "vitest";
import { FakeClock } from "../helpers/fake-clock.js";

describe("FakeClock", () => {
  it("starts where told and only moves on advance", () => {
    const c = new FakeClock(1000);
    expect(c.now()).toBe(1000);
    expect(c.now()).toBe(1000);
    c.advance(250);
    expect(c.now()).toBe(1250);
    c.advanceTo(2000);
    expect(c.now()).toBe(2000);
    expect(new FakeClock().now()).toBe(0);
  });

  it("refuses to go backwards", () => {
    const c = new FakeClock(10);
    expect(() => c.advance(-1)).toThrow(RangeError);
    expect(() => c.advanceTo(5)).toThrow(RangeError);
    expect(c.now()).toBe(10);
  });

  it("fires timers in deadline order, ties in the order they were set, with now() at the deadline", () => {
    const c = new FakeClock();
    const fired: string[] = [];
    const at = (name: string) => () => fired.push(`${name}@${c.now()}`);
    c.setTimer(at("c"), 30);
    c.setTimer(at("a"), 10);
    c.setTimer(at("b1"), 20);
    c.setTimer(at("b2"), 20);
    c.setTimer(at("late"), 100);
    c.advance(50);
    expect(fired).toEqual(["a@10", "b1@20", "b2@20", "c@30"]);
    expect(c.now()).toBe(50);
    expect(c.pendingTimers).toBe(1);
  });

  it("fires a timer due exactly at the end of the window, and not before", () => {
    const c = new FakeClock();
    let fired = 0;
    c.setTimer(() => fired++, 100);
    c.advance(99);
    expect(fired).toBe(0);
    c.advance(1);
    expect(fired).toBe(1);
    c.advance(1000);
    expect(fired).toBe(1);
  });

  it("fires timers set by callbacks when they fall within the window", () => {
    const c = new FakeClock();
    const ticks: number[] = [];
    const tick = () => {
      ticks.push(c.now());
      c.setTimer(tick, 100);
    };
    c.setTimer(tick, 100);
    c.advance(450);
    expect(ticks).toEqual([100, 200, 300, 400]);
    expect(c.pendingTimers).toBe(1);
    c.advance(50);
    expect(ticks).toEqual([100, 200, 300, 400, 500]);
  });

  it("runs zero-delay timers set during advance at the current instant", () => {
    const c = new FakeClock();
    const order: string[] = [];
    c.setTimer(() => {
      order.push(`outer@${c.now()}`);
      c.setTimer(() => order.push(`inner@${c.now()}`), 0);
    }, 10);
    c.setTimer(() => order.push(`other@${c.now()}`), 11);
    c.advance(20);
    expect(order).toEqual(["outer@10", "inner@10", "other@11"]);
  });

  it("does not fire cancelled timers, including ones cancelled by an earlier callback", () => {
    const c = new FakeClock();
    const fired: string[] = [];
    const a = c.setTimer(() => fired.push("a"), 10);
    a.cancel();
    let b = { cancel: () => {} };
    c.setTimer(() => {
      fired.push("first");
      b.cancel();
    }, 5);
    b = c.setTimer(() => fired.push("b"), 8);
    c.advance(100);
    expect(fired).toEqual(["first"]);
    expect(c.pendingTimers).toBe(0);
    a.cancel(); // cancelling twice is harmless
  });
});
