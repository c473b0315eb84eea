/** The SDK side of watch, piece by piece: the clear barrier and the cursors. */
import { describe, expect, it } from "vitest";
import { ClearBarrier, type RawChange } from "../../src/client/watch/clear-barrier.js";
import { Positions, parseCursor } from "../../src/client/watch/watch-events.js";
import { CLEAR, PUT } from "../../src/store/change-history.js";
import { InvalidError } from "../../src/errors.js";

const put = (part: number, seq: number): RawChange => ({ part, seq, kind: PUT, key: Uint8Array.of(part), value: undefined });
const clear = (part: number, seq: number): RawChange => ({ part, seq, kind: CLEAR, key: undefined, value: undefined });

function barrier(parts: number, now = () => 0) {
  const out: string[] = [];
  const b = new ClearBarrier(parts, {
    change: (c) => out.push(`put ${c.part}@${c.seq}`),
    progress: (part, pos) => out.push(`at ${part}@${pos}`),
    clear: (at) => out.push(`clear ${[...at].map(([p, s]) => `${p}@${s}`).join(",")}`),
  }, now);
  return { b, out };
}

describe("ClearBarrier", () => {
  it("shows one clear once every partition's clear arrived, with the changes after it held until then", () => {
    const { b, out } = barrier(3);
    b.change(put(0, 1));
    b.change(clear(0, 2));
    b.change(put(0, 3)); // after the clear in partition 0: held
    b.progress(0, 5);
    b.change(put(1, 1)); // before the clear in partition 1: shown now
    b.change(clear(1, 4));
    expect(b.size).toBe(1);
    expect(out).toEqual(["put 0@1", "put 1@1"]);
    b.change(clear(2, 7));
    expect(out).toEqual(["put 0@1", "put 1@1", "clear 0@2,1@4,2@7", "put 0@3", "at 0@5"]);
    expect(b.size).toBe(0);
    expect(b.waitingSince).toBeUndefined();
  });

  it("a second clear among the held changes starts the next barrier", () => {
    const { b, out } = barrier(2);
    b.change(clear(0, 1));
    b.change(clear(0, 2));
    b.change(clear(1, 1));
    expect(out).toEqual(["clear 0@1,1@1"]);
    b.change(clear(1, 2));
    expect(out).toEqual(["clear 0@1,1@1", "clear 0@2,1@2"]);
  });

  it("a watch of one partition shows a clear at once", () => {
    const { b, out } = barrier(1);
    b.change(clear(5, 9));
    b.change(put(5, 10));
    expect(out).toEqual(["clear 5@9", "put 5@10"]);
  });

  it("abandoned (a partial clear): the held changes are shown, the clear is not", () => {
    let t = 100;
    const { b, out } = barrier(2, () => t);
    b.change(clear(0, 2));
    b.change(put(0, 3));
    t = 200;
    expect(b.waitingSince).toBe(100);
    expect(b.abandon()).toBe(true);
    expect(out).toEqual(["at 0@2", "put 0@3"]);
    expect(b.abandon()).toBe(false);
  });
});

describe("cursors", () => {
  it("a cursor holds every watched partition's position at its event, built when read", () => {
    const p = new Positions("di-abc", 8, [1, 3, 5], [10, 20, 30]);
    const a = p.move(3, 21);
    const b = p.move(5, 31);
    const c = p.now();
    expect(parseCursor(p.cursorOf(a), "di-abc", 8)).toEqual(new Map([[1, 10], [3, 21], [5, 30]]));
    expect(parseCursor(p.cursorOf(b), "di-abc", 8)).toEqual(new Map([[1, 10], [3, 21], [5, 31]]));
    expect(parseCursor(p.cursorOf(c), "di-abc", 8)).toEqual(new Map([[1, 10], [3, 21], [5, 31]]));
    // Positions only go forward.
    p.move(3, 5);
    expect(p.get(3)).toBe(21);
  });

  it("many moves: cursors taken along the way stay right across fresh copies", () => {
    const p = new Positions("di-abc", 2, [0, 1], [0, 0]);
    const refs = [];
    for (let i = 1; i <= 2_000; i++) refs.push({ i, ref: p.move(i % 2, i) });
    for (const { i, ref } of refs.filter((_, j) => j % 97 === 0)) {
      const at = parseCursor(p.cursorOf(ref), "di-abc", 2);
      expect(at.get(i % 2)).toBe(i);
      expect(at.get(1 - (i % 2))).toBe(i - 1);
    }
  });

  it("a whole-dict cursor names no partitions; a cursor of another dict or partition count is refused", () => {
    const all = new Positions("di-abc", 4, [0, 1, 2, 3], [1, 2, 3, 4]);
    const cur = all.cursorOf(all.now());
    expect(parseCursor(cur, "di-abc", 4)).toEqual(new Map([[0, 1], [1, 2], [2, 3], [3, 4]]));
    expect(() => parseCursor(cur, "di-other", 4)).toThrow(InvalidError);
    expect(() => parseCursor(cur, "di-abc", 8)).toThrow(InvalidError);
    for (const bad of ["", "!!!", "AAAA", 7, Buffer.from("[1]").toString("base64url")]) expect(() => parseCursor(bad, "di-abc", 4)).toThrow(InvalidError);
  });
});
