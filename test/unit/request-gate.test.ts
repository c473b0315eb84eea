/** Back-pressure for one connection's requests: when they may start, and when a peer counts as stuck. */
import { describe, expect, it } from "vitest";
import { RequestGate } from "../../src/net/request-gate.js";

const limits = { maxRequestsInFlight: 2, maxReplyBytesInFlight: 1000 };

function drain<T>(gate: RequestGate<T>, unsent: number, now = 0): T[] {
  const out: T[] = [];
  for (let x = gate.next(unsent, now); x !== undefined; x = gate.next(unsent, now)) out.push(x);
  return out;
}

describe("RequestGate", () => {
  it("starts requests in arrival order while replies are below the byte limit", () => {
    const gate = new RequestGate<number>(limits);
    for (let i = 0; i < 5; i++) gate.push(i);
    expect(drain(gate, 0)).toEqual([0, 1, 2, 3, 4]);
    expect(gate.waiting).toBe(0);
    expect(gate.next(0, 0)).toBeUndefined();
  });

  it("holds every request while the unsent reply bytes are at or over the limit, and resumes below it", () => {
    const gate = new RequestGate<number>(limits);
    gate.push(1);
    gate.push(2);
    expect(gate.next(1000, 0)).toBeUndefined();
    expect(gate.next(5000, 0)).toBeUndefined();
    expect(gate.waiting).toBe(2);
    expect(gate.next(999, 0)).toBe(1);
    expect(gate.next(999, 0)).toBe(2);
  });

  it("holds requests past maxRequestsInFlight until one of them ends", () => {
    const gate = new RequestGate<string>(limits);
    for (const x of ["a", "b", "c", "d"]) gate.push(x);
    expect(gate.next(0, 0)).toBe("a");
    gate.began();
    expect(gate.next(0, 0)).toBe("b");
    gate.began();
    expect(gate.inFlight).toBe(2);
    expect(gate.next(0, 0)).toBeUndefined();
    gate.ended();
    expect(gate.next(0, 0)).toBe("c");
    gate.began();
    expect(gate.next(0, 0)).toBeUndefined();
    gate.ended();
    expect(gate.next(0, 0)).toBe("d");
    // A request answered at once (no began) holds no place.
    gate.push("e");
    expect(gate.next(0, 0)).toBe("e");
  });

  it("counts a peer as stalled from when requests first waited on its replies, until some drain", () => {
    const gate = new RequestGate<number>(limits);
    expect(gate.stalledFor(100)).toBe(0);
    gate.push(1);
    expect(gate.next(2000, 100)).toBeUndefined();
    expect(gate.stalledFor(100)).toBe(0);
    expect(gate.next(2000, 400)).toBeUndefined();
    // The clock runs from the first wait, not the last look.
    expect(gate.stalledFor(700)).toBe(600);
    // Bytes leaving restart it: a slow reader that reads is not stuck.
    gate.drained(650);
    expect(gate.stalledFor(700)).toBe(50);
    expect(gate.next(10, 800)).toBe(1);
    expect(gate.stalledFor(5000)).toBe(0);
  });

  it("is not stalled while waiting only on its own requests in flight", () => {
    const gate = new RequestGate<number>({ maxRequestsInFlight: 1, maxReplyBytesInFlight: 1000 });
    gate.push(1);
    gate.push(2);
    expect(gate.next(0, 0)).toBe(1);
    gate.began();
    expect(gate.next(0, 10)).toBeUndefined();
    expect(gate.stalledFor(10_000)).toBe(0);
  });

  it("keeps order across many pushes and takes (the queue compacts without losing any)", () => {
    const gate = new RequestGate<number>({ maxRequestsInFlight: 10, maxReplyBytesInFlight: 1000 });
    const taken: number[] = [];
    let next = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 300; i++) gate.push(next++);
      for (let i = 0; i < 250; i++) taken.push(gate.next(0, 0) as number);
    }
    taken.push(...drain(gate, 0));
    expect(taken).toEqual(Array.from({ length: next }, (_, i) => i));
  });

  it("clear() forgets what waits", () => {
    const gate = new RequestGate<number>(limits);
    gate.push(1);
    gate.next(5000, 0);
    gate.clear();
    expect(gate.waiting).toBe(0);
    expect(gate.stalledFor(1000)).toBe(0);
  });
});
