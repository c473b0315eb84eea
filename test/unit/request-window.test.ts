import { describe, expect, it } from "vitest";
import { RequestWindow } from "../../src/client/request-window.js";

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
});
