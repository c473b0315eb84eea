import { describe, expect, it } from "vitest";
import { RequestWindow } from "../../src/client/request-window.js";
import { mulberry32 } from "../helpers/prng.js";

describe("RequestWindow", () => {
  it("has its floor at the oldest open request, or just above the newest when none is open", () => {
    const w = new RequestWindow();
    expect(w.floor).toBe(1);
    for (const rid of [3, 4, 7]) w.opened(rid);
    expect(w.floor).toBe(3);
    w.closed(4);
    expect(w.floor).toBe(3);
    w.closed(3);
    expect(w.floor).toBe(7);
    w.closed(7);
    // Ids handed to other requests (8, 9: hellos, watch polls) do not count.
    expect(w.floor).toBe(8);
    w.closed(99);
    expect(w.floor).toBe(8);
  });

  it("tells each connection a floor once, and again only when it moved", () => {
    const w = new RequestWindow();
    const a = {};
    const b = {};
    w.opened(5);
    w.opened(6);
    expect(w.news(a)).toBe(5);
    expect(w.news(a)).toBeUndefined();
    expect(w.news(b)).toBe(5);
    w.closed(6);
    expect(w.news(a)).toBeUndefined();
    w.closed(5);
    expect(w.news(a)).toBe(7);
    expect(w.news(b)).toBe(7);
    expect(w.news(a)).toBeUndefined();
  });

  it("keeps its floor at an old request while many thousands after it open and close", () => {
    const w = new RequestWindow();
    w.opened(1);
    for (let rid = 2; rid <= 100_000; rid++) {
      w.opened(rid);
      if (rid > 60) w.closed(rid - 50);
      if (rid % 1000 === 0) expect(w.floor).toBe(1);
    }
    w.closed(1);
    expect(w.floor).toBe(2);
    for (let rid = 2; rid <= 100_000; rid++) w.closed(rid);
    expect(w.floor).toBe(100_001);
    // Nothing open: it starts over small at the next id.
    w.opened(100_005);
    expect(w.floor).toBe(100_005);
    expect((w as unknown as { flags: Uint8Array }).flags.length).toBeLessThanOrEqual(256);
  });

  it("takes an id below its oldest open one (ids rise, but nothing breaks if one does not)", () => {
    const w = new RequestWindow();
    w.opened(10);
    w.opened(11);
    w.opened(5);
    expect(w.floor).toBe(5);
    w.closed(5);
    expect(w.floor).toBe(10);
    w.closed(10);
    w.closed(11);
    expect(w.floor).toBe(12);
  });

  it("agrees with a set of open ids on seeded random opens, closes and gaps", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rand = mulberry32(seed);
      const w = new RequestWindow();
      const open = new Set<number>();
      let next = 0;
      let highest = 0;
      for (let step = 0; step < 5000; step++) {
        const x = rand();
        if (x < 0.5) {
          // Ids rise; some go to requests outside the window (gaps).
          next += rand() < 0.2 ? 1 + Math.floor(rand() * 300) : 1;
          w.opened(next);
          open.add(next);
          highest = next;
        } else if (x < 0.95) {
          // Mostly recent ones close; now and then an old one, or one never opened.
          const rid = rand() < 0.9 ? next - Math.floor(rand() * 40) : Math.floor(rand() * (next + 10));
          w.closed(rid);
          open.delete(rid);
        } else {
          expect(w.floor).toBe(open.size === 0 ? highest + 1 : Math.min(...open));
        }
      }
      expect(w.floor).toBe(open.size === 0 ? highest + 1 : Math.min(...open));
    }
  });
});
