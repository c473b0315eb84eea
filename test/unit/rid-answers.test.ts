import { describe, expect, it } from "vitest";
import { RidAnswers, type RidSlot } from "../../src/shard/rid-answers.js";
import { mulberry32 } from "../helpers/prng.js";

const never = new Promise<unknown>(() => {});

describe("RidAnswers", () => {
  it("keeps answers of rising ids in the ring and drops them at the floor, oldest first", () => {
    const r = new RidAnswers();
    for (let rid = 1; rid <= 100; rid++) expect(r.set(rid, rid, rid % 4, { r: rid }, undefined)).toBe(true);
    expect(r.size).toBe(100);
    expect(r.get(37)).toEqual({ at: 37, part: 1, answer: { r: 37 }, running: undefined });
    expect(r.get(101)).toBeUndefined();
    const parts: (number | undefined)[] = [];
    expect(r.dropBelow(51, (p) => parts.push(p))).toBe(50);
    expect(parts).toEqual(Array.from({ length: 50 }, (_, i) => (i + 1) % 4));
    expect(r.get(50)).toBeUndefined();
    expect(r.get(51)?.answer).toEqual({ r: 51 });
    expect(r.size).toBe(50);
  });

  it("settles a running id in place and replaces without counting twice", () => {
    const r = new RidAnswers();
    expect(r.set(5, 1, 0, undefined, never)).toBe(true);
    expect(r.get(5)?.running).toBe(never);
    expect(r.set(5, 1, 0, { r: true }, undefined)).toBe(false);
    expect(r.get(5)).toEqual({ at: 1, part: 0, answer: { r: true }, running: undefined });
    expect(r.size).toBe(1);
  });

  it("keeps an id that arrives below the newest beside the ring, and finds it there", () => {
    const r = new RidAnswers();
    r.set(10, 1, 0, { r: 10 }, undefined);
    r.set(12, 2, 0, { r: 12 }, undefined);
    expect(r.set(11, 3, 1, { r: 11 }, undefined)).toBe(true);
    expect(r.get(11)).toEqual({ at: 3, part: 1, answer: { r: 11 }, running: undefined });
    expect(r.size).toBe(3);
    expect(r.dropBelow(12, () => {})).toBe(2);
    expect(r.size).toBe(1);
    expect(r.get(11)).toBeUndefined();
  });

  it("finds a straggler once the ring has emptied, instead of keeping its id twice", () => {
    const r = new RidAnswers();
    r.set(10, 1, 0, { r: 10 }, undefined);
    r.set(12, 1, 0, { r: 12 }, undefined);
    r.set(3, 1, 0, undefined, never); // below the ring: a straggler, still running
    r.dropBelow(13, () => {});
    expect(r.size).toBe(1);
    expect(r.set(3, 1, 0, { r: 3 }, undefined)).toBe(false);
    expect(r.get(3)?.answer).toEqual({ r: 3 });
    expect(r.size).toBe(1);
  });

  it("moves a long-running oldest write aside so the answers behind it still go", () => {
    const r = new RidAnswers();
    r.set(1, 0, 0, undefined, never);
    for (let rid = 2; rid <= 9; rid++) r.set(rid, 0, 0, { r: rid }, undefined);
    expect(r.dropBelow(10, () => {})).toBe(8);
    expect(r.size).toBe(1);
    expect(r.get(1)?.running).toBe(never);
    // The time window, too: the running one stays, the settled ones after it go.
    for (let rid = 10; rid <= 20; rid++) r.set(rid, rid, 0, { r: rid }, undefined);
    expect(r.expire(16, false, Number.POSITIVE_INFINITY)).toBe(6);
    expect(r.get(15)).toBeUndefined();
    expect(r.get(16)?.answer).toEqual({ r: 16 });
    expect(r.get(1)?.running).toBe(never);
    r.set(1, 0, 0, { r: 1 }, undefined);
    expect(r.get(1)?.answer).toEqual({ r: 1 });
  });

  it("drops ids that came backwards in id order as the floor passes them, one by one", () => {
    const r = new RidAnswers();
    r.set(50_000, 0, 0, { r: "head" }, undefined);
    for (let rid = 20_000; rid >= 1; rid--) r.set(rid, 0, rid % 5, rid === 7 ? undefined : { r: rid }, rid === 7 ? never : undefined);
    expect(r.size).toBe(20_001);
    const parts: (number | undefined)[] = [];
    for (let floor = 2; floor <= 20_001; floor++) {
      // Each floor drops exactly the one id it passed (7 is still running, and stays).
      expect(r.dropBelow(floor, (p) => parts.push(p))).toBe(floor === 8 ? 0 : 1);
    }
    expect(parts.slice(0, 8)).toEqual([1, 2, 3, 4, 5, 6, 8, 9].map((rid) => rid % 5));
    expect(r.size).toBe(2);
    expect(r.get(7)?.running).toBe(never);
    expect(r.delete(7)).toBe(true);
    expect(r.get(50_000)?.answer).toEqual({ r: "head" });
  });

  it("ends a sweep at a young write still running at the front instead of moving it aside", () => {
    const r = new RidAnswers<unknown>();
    r.set(1, 100, 0, undefined, never);
    r.set(2, 100, 0, { r: 2 }, undefined);
    expect(r.expire(50, false, Number.POSITIVE_INFINITY)).toBe(0);
    expect((r as unknown as { stragglers: unknown }).stragglers).toBeUndefined();
    // An old one is moved aside so the answers behind it can go.
    expect(r.expire(150, false, Number.POSITIVE_INFINITY)).toBe(1);
    expect(r.get(1)?.running).toBe(never);
    expect(r.get(2)).toBeUndefined();
  });

  it("forgets an id (a failed write) so it can run again", () => {
    const r = new RidAnswers();
    for (let rid = 1; rid <= 4; rid++) r.set(rid, 0, 0, undefined, never);
    expect(r.delete(1)).toBe(true);
    expect(r.delete(3)).toBe(true);
    expect(r.delete(3)).toBe(false);
    expect(r.size).toBe(2);
    expect(r.get(3)).toBeUndefined();
    expect(r.set(3, 0, 0, undefined, never)).toBe(true);
    expect(r.size).toBe(3);
  });

  it("drops the older half when asked, and only old answers otherwise, within a budget", () => {
    const r = new RidAnswers();
    for (let rid = 1; rid <= 10; rid++) r.set(rid, rid * 10, 0, { r: rid }, undefined);
    expect(r.expire(35, false, 2)).toBe(2);
    expect(r.expire(35, false, Number.POSITIVE_INFINITY)).toBe(1);
    expect(r.size).toBe(7);
    expect(r.expire(0, true, Number.POSITIVE_INFINITY)).toBe(3);
    expect(r.size).toBe(4);
    expect(r.get(7)?.answer).toEqual({ r: 7 });
  });

  it("gives a burst's memory back once it has drained", () => {
    const r = new RidAnswers();
    for (let rid = 1; rid <= 5000; rid++) r.set(rid, 0, 0, { r: rid }, undefined);
    const full = (r as unknown as { cap: number }).cap;
    r.dropBelow(4990, () => {});
    // Not at the floor (it empties the ring many times a second): at the time window's sweeps.
    expect((r as unknown as { cap: number }).cap).toBe(full);
    r.expire(0, false, Number.POSITIVE_INFINITY);
    expect((r as unknown as { cap: number }).cap).toBeLessThan(full);
    for (let rid = 4990; rid <= 5000; rid++) expect(r.get(rid)?.answer).toEqual({ r: rid });
  });

  it("agrees with a map on random mixes of in-order, out-of-order and repeated ids (seeded)", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rand = mulberry32(seed);
      const r = new RidAnswers();
      const model = new Map<number, RidSlot<unknown>>();
      let next = 1;
      let floor = 0;
      for (let step = 0; step < 3000; step++) {
        const x = rand();
        if (x < 0.55) {
          // Mostly the next id; sometimes one from behind (a retry, a straggler).
          const rid = rand() < 0.85 ? next++ : Math.floor(rand() * next);
          const running = rand() < 0.3 ? never : undefined;
          const slot = { at: step, part: rid % 3, answer: running ? undefined : { r: rid }, running };
          expect(r.set(rid, slot.at, slot.part, slot.answer, slot.running)).toBe(!model.has(rid));
          model.set(rid, slot);
        } else if (x < 0.75) {
          // Settle one that is running.
          const running = [...model].filter(([, s]) => s.running);
          const pick = running[Math.floor(rand() * running.length)];
          if (pick) {
            const slot = { at: pick[1].at, part: pick[1].part, answer: { r: pick[0] }, running: undefined };
            expect(r.set(pick[0], slot.at, slot.part, slot.answer, undefined)).toBe(false);
            model.set(pick[0], slot);
          }
        } else if (x < 0.82) {
          const rid = Math.floor(rand() * next);
          expect(r.delete(rid)).toBe(model.delete(rid));
        } else if (x < 0.9) {
          floor = Math.max(floor, Math.floor(floor + rand() * 40));
          let expected = 0;
          for (const [rid, s] of model) {
            if (rid < floor && !s.running) {
              model.delete(rid);
              expected++;
            }
          }
          expect(r.dropBelow(floor, () => {})).toBe(expected);
        } else {
          const rid = Math.floor(rand() * (next + 2));
          expect(r.get(rid)).toEqual(model.get(rid));
        }
        expect(r.size).toBe(model.size);
      }
      const seen = new Map([...r.entries()]);
      expect(seen).toEqual(model);
    }
  });
});
