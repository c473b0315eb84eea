/**
 * RidTable (src/net/rid-table.ts), the requests a connection waits on, by id: what a Map gave
 * (get, set, delete, size, every entry), and AwaitedReplies on it: replies, failures, a
 * closed connection and timeouts each settle a request once.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { RidTable } from "../../src/net/rid-table.js";
import { AwaitedReplies } from "../../src/net/awaited-replies.js";
import { ConnectionError } from "../../src/errors.js";

describe("RidTable", () => {
  it("holds a value per id, counts them, and gives each back once", () => {
    const t = new RidTable<{ n: number }>();
    expect(t.size).toBe(0);
    expect(t.get(1)).toBeUndefined();
    t.set(1, { n: 1 });
    t.set(2 ** 40, { n: 2 });
    t.set(1, { n: 11 });
    expect(t.size).toBe(2);
    expect(t.get(1)).toEqual({ n: 11 });
    expect(t.get(2 ** 40)).toEqual({ n: 2 });
    expect(t.delete(1)).toEqual({ n: 11 });
    expect(t.delete(1)).toBeUndefined();
    expect(t.size).toBe(1);
    expect(t.drain()).toEqual([{ n: 2 }]);
    expect(t.size).toBe(0);
    expect(t.get(2 ** 40)).toBeUndefined();
  });

  it("stays right under the churn it is for: ids rising, a window of them open", () => {
    const t = new RidTable<number>();
    const open = new Set<number>();
    for (let rid = 1; rid <= 20_000; rid++) {
      t.set(rid, rid * 2);
      open.add(rid);
      // The oldest closes once 50 are open, and now and then one out of order.
      if (open.size > 50) {
        const oldest = open.values().next().value as number;
        expect(t.delete(oldest)).toBe(oldest * 2);
        open.delete(oldest);
      }
      if (rid % 97 === 0) {
        expect(t.delete(rid - 3)).toBe((rid - 3) * 2);
        open.delete(rid - 3);
      }
      expect(t.size).toBe(open.size);
    }
    const seen: number[] = [];
    t.forEach((v, rid) => {
      expect(v).toBe(rid * 2);
      seen.push(rid);
    });
    expect(seen.sort((a, b) => a - b)).toEqual([...open].sort((a, b) => a - b));
  });

  it("lets forEach delete the entry it visits, and visits every other once", () => {
    const t = new RidTable<string>();
    for (let rid = 1; rid <= 10; rid++) t.set(rid, `r${rid}`);
    const visited: number[] = [];
    t.forEach((_, rid) => {
      visited.push(rid);
      if (rid % 2 === 0) t.delete(rid);
    });
    expect(visited).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(t.size).toBe(5);
    expect(t.get(2)).toBeUndefined();
    expect(t.get(3)).toBe("r3");
  });
});

describe("AwaitedReplies over a RidTable", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function waiter(a: AwaitedReplies, rid: number, timeoutMs?: number): { settled: Promise<unknown> } {
    const settled = new Promise((resolve, reject) => a.add(rid, "get", timeoutMs, resolve, reject));
    return { settled: settled.then((v) => ({ ok: v }), (e: unknown) => ({ err: e })) };
  }

  it("settles each request once: by its reply, its failure, or the connection closing", async () => {
    const counts: number[] = [];
    const a = new AwaitedReplies("test", () => counts.push(a.size));
    // Told of each change of the count while the connection lives (it refs and unrefs the socket).
    const one = waiter(a, 1);
    const two = waiter(a, 2);
    const three = waiter(a, 3);
    expect(a.size).toBe(3);
    expect(a.settle({ type: "ok", rid: 1, result: "a" })).toBe(true);
    expect(a.settle({ type: "ok", rid: 1, result: "again" })).toBe(false);
    a.fail(2, new ConnectionError("could not send"));
    a.failAll(new ConnectionError("closed"));
    expect(a.size).toBe(0);
    expect(await one.settled).toEqual({ ok: "a" });
    expect(((await two.settled) as { err: Error }).err.message).toBe("could not send");
    expect(((await three.settled) as { err: Error }).err.message).toBe("closed");
    expect(counts).toEqual([1, 2, 3, 2, 1]);
  });

  it("fails the requests past their timeout at the next sweep, and keeps the others", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] });
    const a = new AwaitedReplies("test", () => {});
    const quick = waiter(a, 10, 100);
    const patient = waiter(a, 11, 10_000);
    const forever = waiter(a, 12);
    // A reply after the sweep finds nobody waiting; one before is delivered.
    vi.advanceTimersByTime(160);
    expect(((await quick.settled) as { err: Error }).err.message).toBe("test: no reply to get within 100 ms");
    expect(a.settle({ type: "ok", rid: 10, result: "late" })).toBe(false);
    expect(a.settle({ type: "ok", rid: 11, result: "in time" })).toBe(true);
    expect(await patient.settled).toEqual({ ok: "in time" });
    expect(a.size).toBe(1);
    a.failAll(new ConnectionError("closed"));
    expect(((await forever.settled) as { err: Error }).err.message).toBe("closed");
  });
});
