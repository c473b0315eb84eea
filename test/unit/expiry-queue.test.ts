import { describe, expect, it } from "vitest";
import { ExpiryQueue } from "../../src/store/expiry-queue.js";
import { mulberry32 } from "../helpers/prng.js";

interface Item {
  id: number;
  heapIndex: number;
  /** What the test scheduled it at (the queue keeps its own copy). */
  at: number;
}

const item = (id: number, at: number): Item => ({ id, at, heapIndex: -1 });

function push(q: ExpiryQueue<Item>, x: Item): void {
  q.push(x, x.at, x.at + 1000);
}

/** Pop everything, checking the reported scheduled time against the item's own. */
function drain(q: ExpiryQueue<Item>): Item[] {
  const out: Item[] = [];
  for (let s = q.peekScheduled(); s !== undefined; s = q.peekScheduled()) {
    const it = q.pop() as Item;
    expect(s).toBe(it.at);
    expect(it.heapIndex).toBe(-1);
    out.push(it);
  }
  return out;
}

function expectSorted(items: readonly Item[]): void {
  for (let i = 1; i < items.length; i++) expect((items[i] as Item).at).toBeGreaterThanOrEqual((items[i - 1] as Item).at);
}

describe("ExpiryQueue", () => {
  it("is empty to start with", () => {
    const q = new ExpiryQueue<Item>();
    expect(q.size).toBe(0);
    expect(q.peek()).toBeUndefined();
    expect(q.peekScheduled()).toBeUndefined();
    expect(q.pop()).toBeUndefined();
    expect(q.size).toBe(0);
  });

  it("pops a single item, and keeps its deadline while queued", () => {
    const q = new ExpiryQueue<Item>();
    const a = item(1, 5);
    q.push(a, 5, 7);
    expect(q.size).toBe(1);
    expect(q.peek()).toBe(a);
    expect(q.deadlineOf(a)).toBe(7);
    q.setDeadline(a, 9);
    expect(q.deadlineOf(a)).toBe(9);
    expect(q.scheduledOf(a)).toBe(5);
    expect(q.pop()).toBe(a);
    expect(q.size).toBe(0);
    expect(q.pop()).toBeUndefined();
    // Not queued: counts as expired, and setting its deadline does nothing.
    expect(q.deadlineOf(a)).toBe(Number.NEGATIVE_INFINITY);
    q.setDeadline(a, 100);
    expect(q.deadlineOf(a)).toBe(Number.NEGATIVE_INFINITY);
  });

  it("pops a seeded random sequence in order, losing nothing, each deadline moving with its item", () => {
    const rand = mulberry32(7);
    const q = new ExpiryQueue<Item>();
    const items: Item[] = [];
    for (let i = 0; i < 5000; i++) {
      // Small range on purpose: many equal times.
      const x = item(i, Math.floor(rand() * 500));
      items.push(x);
      q.push(x, x.at, x.id * 3);
    }
    expect(q.size).toBe(5000);
    for (const x of items) expect(q.deadlineOf(x)).toBe(x.id * 3);
    const out: Item[] = [];
    while (q.size > 0) {
      const top = q.peek() as Item;
      expect(q.deadlineOf(top)).toBe(top.id * 3);
      const popped = q.pop();
      expect(popped).toBe(top);
      out.push(top);
    }
    expectSorted(out);
    expect(out.map((x) => x.id).sort((a, b) => a - b)).toEqual(items.map((x) => x.id));
  });

  it("matches a sorted-array model under interleaved pushes and pops", () => {
    const rand = mulberry32(99);
    const q = new ExpiryQueue<Item>();
    const model: number[] = []; // kept sorted, descending, so the minimum is at the end
    const mismatches: string[] = [];
    for (let step = 0; step < 20_000; step++) {
      if (rand() < 0.55) {
        const s = Math.floor(rand() * 10_000) - 5000;
        push(q, item(step, s));
        let i = model.length;
        while (i > 0 && (model[i - 1] as number) < s) i--;
        model.splice(i, 0, s);
      } else {
        const popped = q.pop();
        const expected = model.pop();
        if (popped?.at !== expected) mismatches.push(`step ${step}: popped ${popped?.at}, expected ${expected}`);
      }
      if (q.size !== model.length) mismatches.push(`step ${step}: size ${q.size}, expected ${model.length}`);
      if (q.peekScheduled() !== model[model.length - 1]) mismatches.push(`step ${step}: peek`);
    }
    expect(mismatches).toEqual([]);
  });

  it("handles ascending, descending and infinite times", () => {
    const q = new ExpiryQueue<Item>();
    for (let i = 0; i < 100; i++) push(q, item(i, i));
    for (let i = 200; i > 100; i--) push(q, item(i, i));
    push(q, item(-1, Number.POSITIVE_INFINITY));
    push(q, item(-2, Number.NEGATIVE_INFINITY));
    const out = drain(q);
    expect(out).toHaveLength(202);
    expectSorted(out);
    expect(out[0]?.id).toBe(-2);
    expect(out[out.length - 1]?.id).toBe(-1);
  });

  it("reschedules the top later, keeping its deadline and the heap order", () => {
    const rand = mulberry32(11);
    const q = new ExpiryQueue<Item>();
    const items = Array.from({ length: 2000 }, (_, i) => item(i, Math.floor(rand() * 1000)));
    for (const x of items) q.push(x, x.at, x.id);
    for (let i = 0; i < 500; i++) {
      const top = q.peek() as Item;
      top.at += 1 + Math.floor(rand() * 2000);
      q.rescheduleTop(top.at);
      expect(q.deadlineOf(top)).toBe(top.id);
    }
    const out = drain(q);
    expectSorted(out);
    expect(out).toHaveLength(2000);
  });

  describe("remove", () => {
    it("drops exactly the removed items and keeps heap order", () => {
      const rand = mulberry32(2024);
      const q = new ExpiryQueue<Item>();
      const items: Item[] = [];
      for (let i = 0; i < 3000; i++) {
        const x = item(i, Math.floor(rand() * 100_000));
        items.push(x);
        q.push(x, x.at, x.id);
      }
      for (const x of items) if (x.id % 3 === 0) q.remove(x);
      const kept = items.filter((x) => x.id % 3 !== 0);
      expect(q.size).toBe(kept.length);
      for (const x of kept) expect(q.deadlineOf(x)).toBe(x.id);
      const out = drain(q);
      expectSorted(out);
      expect(out.map((x) => x.id).sort((a, b) => a - b)).toEqual(kept.map((x) => x.id));
    });

    it("leaves a usable heap for later pushes (also after it shrank), and ignores items not queued", () => {
      const rand = mulberry32(5);
      const q = new ExpiryQueue<Item>();
      const first = Array.from({ length: 5000 }, (_, i) => item(i, Math.floor(rand() * 1000)));
      for (const x of first) push(q, x);
      for (const x of first) if (x.at < 950) q.remove(x);
      q.remove(item(-1, 1));
      for (let i = 5000; i < 5200; i++) push(q, item(i, Math.floor(rand() * 1000)));
      for (const x of first) if (x.at >= 950) expect(q.deadlineOf(x)).toBe(x.at + 1000);
      const out = drain(q);
      expectSorted(out);
      expect(out.filter((x) => x.id < 5000).every((x) => x.at >= 950)).toBe(true);
      expect(out.filter((x) => x.id >= 5000)).toHaveLength(200);
    });
  });
});
