import { describe, expect, it } from "vitest";
import { ExpiryQueue } from "../../src/store/expiry-queue.js";
import { mulberry32 } from "../helpers/prng.js";


interface Item {
  scheduled: number;
  id: number;
}

function drain(q: ExpiryQueue<Item>): Item[] {
  const out: Item[] = [];
  for (let it = q.pop(); it !== undefined; it = q.pop()) out.push(it);
  return out;
}

function expectSorted(items: readonly Item[]): void {
  for (let i = 1; i < items.length; i++) {
    expect((items[i] as Item).scheduled).toBeGreaterThanOrEqual((items[i - 1] as Item).scheduled);
  }
}

describe("ExpiryQueue", () => {
  it("is empty to start with", () => {
    const q = new ExpiryQueue<Item>();
    expect(q.size).toBe(0);
    expect(q.peek()).toBeUndefined();
    expect(q.pop()).toBeUndefined();
    expect(q.size).toBe(0);
  });

  it("pops a single item", () => {
    const q = new ExpiryQueue<Item>();
    const a = { scheduled: 5, id: 1 };
    q.push(a);
    expect(q.size).toBe(1);
    expect(q.peek()).toBe(a);
    expect(q.pop()).toBe(a);
    expect(q.size).toBe(0);
    expect(q.pop()).toBeUndefined();
  });

  it("pops a seeded random sequence in deadline order, losing nothing", () => {
    const rand = mulberry32(7);
    const q = new ExpiryQueue<Item>();
    const items: Item[] = [];
    for (let i = 0; i < 5000; i++) {
      // Small range on purpose: many equal deadlines.
      const item = { scheduled: Math.floor(rand() * 500), id: i };
      items.push(item);
      q.push(item);
    }
    expect(q.size).toBe(5000);
    const out: Item[] = [];
    while (q.size > 0) {
      const top = q.peek();
      const popped = q.pop();
      expect(popped).toBe(top);
      out.push(popped as Item);
    }
    expectSorted(out);
    expect(out.map((x) => x.id).sort((a, b) => a - b)).toEqual(items.map((x) => x.id));
    expect(out.map((x) => x.scheduled)).toEqual(items.map((x) => x.scheduled).sort((a, b) => a - b));
  });

  it("matches a sorted-array model under interleaved pushes and pops", () => {
    const rand = mulberry32(99);
    const q = new ExpiryQueue<Item>();
    const model: number[] = []; // kept sorted, descending, so the minimum is at the end
    const mismatches: string[] = [];
    for (let step = 0; step < 20_000; step++) {
      if (rand() < 0.55) {
        const s = Math.floor(rand() * 10_000) - 5000;
        q.push({ scheduled: s, id: step });
        let i = model.length;
        while (i > 0 && (model[i - 1] as number) < s) i--;
        model.splice(i, 0, s);
      } else {
        const popped = q.pop();
        const expected = model.pop();
        if (popped?.scheduled !== expected) mismatches.push(`step ${step}: popped ${popped?.scheduled}, expected ${expected}`);
      }
      if (q.size !== model.length) mismatches.push(`step ${step}: size ${q.size}, expected ${model.length}`);
      if (q.peek()?.scheduled !== model[model.length - 1]) mismatches.push(`step ${step}: peek`);
    }
    expect(mismatches).toEqual([]);
  });

  it("handles ascending, descending and infinite deadlines", () => {
    const q = new ExpiryQueue<Item>();
    for (let i = 0; i < 100; i++) q.push({ scheduled: i, id: i });
    for (let i = 200; i > 100; i--) q.push({ scheduled: i, id: i });
    q.push({ scheduled: Number.POSITIVE_INFINITY, id: -1 });
    q.push({ scheduled: Number.NEGATIVE_INFINITY, id: -2 });
    const out = drain(q);
    expect(out).toHaveLength(202);
    expectSorted(out);
    expect(out[0]?.id).toBe(-2);
    expect(out[out.length - 1]?.id).toBe(-1);
  });

  describe("remove", () => {
    it("drops exactly the removed items and keeps heap order", () => {
      const rand = mulberry32(2024);
      const q = new ExpiryQueue<Item & { heapIndex?: number }>();
      const items: (Item & { heapIndex?: number })[] = [];
      for (let i = 0; i < 3000; i++) {
        const item = { scheduled: Math.floor(rand() * 100_000), id: i };
        items.push(item);
        q.push(item);
      }
      for (const x of items) if (x.id % 3 === 0) q.remove(x);
      const kept = items.filter((x) => x.id % 3 !== 0);
      expect(q.size).toBe(kept.length);
      const out = drain(q);
      expectSorted(out);
      expect(out.map((x) => x.id).sort((a, b) => a - b)).toEqual(kept.map((x) => x.id));
    });

    it("leaves a usable heap for later pushes, and ignores items not queued", () => {
      const rand = mulberry32(5);
      const q = new ExpiryQueue<Item & { heapIndex?: number }>();
      const first = Array.from({ length: 500 }, (_, i) => ({ scheduled: Math.floor(rand() * 1000), id: i }));
      for (const x of first) q.push(x);
      for (const x of first) if (x.scheduled < 500) q.remove(x);
      q.remove({ scheduled: 1, id: -1 });
      for (let i = 500; i < 700; i++) q.push({ scheduled: Math.floor(rand() * 1000), id: i });
      const out = drain(q);
      expectSorted(out);
      expect(out.filter((x) => x.id < 500).every((x) => x.scheduled >= 500)).toBe(true);
      expect(out.filter((x) => x.id >= 500)).toHaveLength(200);
    });
  });
});
