/**
 * The watch checker on hand-made histories: a faithful stream passes, and each kind of
 * violation (missed, duplicate, reordered, invented, wrong final state, version not
 * increasing, a state the stream cannot be in) is caught, and only that kind.
 */
import { describe, expect, it } from "vitest";
import { checkWatcher, type SeenEvent, type WatchCheckInput, type WatcherRecord } from "../chaos/watch-checker.js";
import type { Op } from "../chaos/history.js";

const put = (key: string, value: string, invokeAt: number, completeAt: number, outcome: Op["outcome"] = "ok"): Op => ({ op: "put", process: 0, key, value, invokeAt, completeAt, outcome });
const pia = (key: string, value: string, invokeAt: number, completeAt: number, result: boolean): Op => ({ op: "putIfAbsent", process: 1, key, value, invokeAt, completeAt, outcome: "ok", result });
const del = (key: string, invokeAt: number, completeAt: number, result: "ok" | "KeyError" = "ok"): Op => ({ op: "delete", process: 2, key, invokeAt, completeAt, outcome: "ok", result });
const incr = (key: string, invokeAt: number, completeAt: number, result: number | undefined, outcome: Op["outcome"] = "ok"): Op =>
  result === undefined ? { op: "incr", process: 3, key, delta: 1, invokeAt, completeAt, outcome } : { op: "incr", process: 3, key, delta: 1, invokeAt, completeAt, outcome, result };
const ev = (type: SeenEvent["type"], key: string | undefined, value: unknown, version: number | undefined, at: number): SeenEvent => ({
  type,
  key,
  value,
  version: version === undefined ? undefined : String(version),
  at,
});

/**
 * A key "a" written a1 (1-2), a2 (3-4), deleted (5-6), written a3 (7-8), a putIfAbsent that
 * was refused (9-10); counter "n" incremented to 1, 2 and 3; final reads at 50: "a3", 3.
 */
const history: Op[] = [
  put("a", "a1", 1, 2),
  put("a", "a2", 3, 4),
  del("a", 5, 6),
  put("a", "a3", 7, 8),
  pia("a", "refused", 9, 10, false),
  put("a", "never", 11, 12, "failed"),
  incr("n", 1, 2, 1),
  incr("n", 3, 4, 2),
  incr("n", 5, 6, 3),
];
const input: WatchCheckInput = { history, keys: ["a", "n"], final: { at: 50, state: new Map([["a", "a3"], ["n", "3"]]) } };
const noFinal: WatchCheckInput = { history, keys: input.keys };
const faithful: SeenEvent[] = [
  ev("put", "a", "a1", 10, 3),
  ev("put", "n", 1, 11, 3),
  ev("put", "a", "a2", 12, 5),
  ev("put", "n", 2, 13, 5),
  ev("delete", "a", undefined, 14, 7),
  ev("put", "n", 3, 15, 7),
  ev("put", "a", "a3", 16, 9),
];
const watcher = (events: SeenEvent[], more: Partial<WatcherRecord> = {}): WatcherRecord => ({ name: "w", startedAt: 0, events, ...more });
const kinds = (events: SeenEvent[], more: Partial<WatcherRecord> = {}, inp: WatchCheckInput = input) => checkWatcher(watcher(events, more), inp).violations.map((v) => `${v.key ?? "-"}:${v.kind}`);

describe("watch checker", () => {
  it("passes a faithful stream, and counts its events", () => {
    const r = checkWatcher(watcher(faithful), input);
    expect(r.violations).toEqual([]);
    expect(r).toMatchObject({ events: 7, resets: 0, missed: 0 });
  });

  it("missed: an acknowledged write, removal or increment that is not delivered", () => {
    const r = checkWatcher(watcher(faithful.filter((e) => e.value !== "a2")), input);
    expect(r.violations.map((v) => `${v.key}:${v.kind}`)).toEqual(["a:missed"]);
    expect(r.missed).toBe(1);
    expect(kinds(faithful.filter((e) => e.type !== "delete"))).toContain("a:missed");
    // The counter's middle value: a gap between 1 and 3, and increment → 2 never shown.
    const noTwo = checkWatcher(watcher(faithful.filter((e) => e.value !== 2)), input);
    expect(noTwo.violations.map((v) => `${v.key}:${v.kind}`)).toEqual(["n:missed", "n:missed"]);
    expect(noTwo.missed).toBe(2);
  });

  it("missed: only writes invoked after the start, or after the last reset, must be there", () => {
    // Started at 3.5: a1 was invoked before, so it may be absent.
    const late = faithful.filter((e) => e.value !== "a1" && e.value !== 1);
    expect(kinds(late, { startedAt: 3.5 })).toEqual([]);
    expect(kinds(late, { startedAt: 0.5 })).toEqual(["a:missed", "n:missed"]);
    // A reset received at 6.5 excuses what was invoked before it, not what came after.
    const reset = ev("reset", undefined, undefined, undefined, 6.5);
    const afterReset = [reset, ev("put", "n", 3, 15, 7), ev("put", "a", "a3", 16, 9)];
    expect(kinds(afterReset)).toEqual([]);
    expect(checkWatcher(watcher(afterReset), input).resets).toBe(1);
    expect(kinds([reset, ev("put", "n", 3, 15, 7)])).toEqual(["a:missed"]);
  });

  it("duplicate: one write delivered twice", () => {
    const twice = [...faithful.slice(0, 3), ev("put", "a", "a2", 17, 5.5), ...faithful.slice(3)];
    expect(kinds(twice)).toContain("a:duplicate");
    const counterTwice = [...faithful, ev("put", "n", 3, 18, 9)];
    expect(kinds(counterTwice)).toEqual(["n:duplicate"]);
  });

  it("reordered: a write completed before another was invoked, delivered after it", () => {
    // a2 before a1 (versions in the order received, so only the order is wrong).
    const swapped = [ev("put", "a", "a2", 10, 5), ev("put", "a", "a1", 12, 5), ...faithful.slice(3).filter((e) => e.key !== "n"), ...faithful.filter((e) => e.key === "n")];
    expect(kinds(swapped, {}, noFinal)).toEqual(["a:reordered"]);
    // Concurrent writes may come in either order.
    const concurrent: WatchCheckInput = { history: [put("a", "x", 1, 5), put("a", "y", 2, 6)], keys: ["a"] };
    expect(kinds([ev("put", "a", "y", 1, 7), ev("put", "a", "x", 2, 7)], {}, concurrent)).toEqual([]);
    // A counter going down.
    const down = [ev("put", "n", 2, 13, 5), ev("put", "n", 1, 14, 5)];
    expect(kinds(down, { keys: ["n"] }, noFinal)).toContain("n:reordered");
  });

  it("invented: a value never written, written by a failed op or a refused putIfAbsent, delivered before its write, or of another key", () => {
    const at = (e: SeenEvent) => [...faithful, e];
    expect(kinds(at(ev("put", "a", "ghost", 17, 20)))).toEqual(["a:invented", "a:final-state"]);
    expect(kinds(at(ev("put", "a", "never", 17, 20)))).toContain("a:invented");
    expect(kinds(at(ev("put", "a", "refused", 17, 20)))).toContain("a:invented");
    expect(kinds([ev("put", "a", "a1", 10, 0.5)], {}, noFinal)).toContain("a:invented");
    // A watcher of "n" given the events of "a" (three shown, the fourth counted).
    expect(kinds(faithful, { keys: ["n"] })).toEqual(Array(4).fill("a:invented"));
    // A removal with no delete or pop left to make it, an expire, a clear.
    expect(kinds([...faithful, ev("delete", "a", undefined, 17, 20)])).toContain("a:invented");
    expect(kinds([...faithful, ev("expire", "a", undefined, 17, 20)])).toContain("a:invented");
    expect(kinds([...faithful, ev("clear", undefined, undefined, 17, 20)])).toContain("-:invented");
    // A counter value beyond the increments invoked by then.
    expect(kinds([ev("put", "n", 3, 11, 4.5)], { keys: ["n"], startedAt: 5.5 }, noFinal)).toEqual(["n:invented"]);
  });

  it("version: not strictly increasing, or not the one getEntry showed", () => {
    const stale = faithful.map((e) => (e.value === "a2" ? { ...e, version: "9" } : e));
    expect(kinds(stale)).toEqual(["a:version"]);
    const withEntry: WatchCheckInput = {
      ...input,
      history: [...history, { op: "getEntry", process: 4, key: "a", invokeAt: 4.5, completeAt: 4.6, outcome: "ok", result: { found: true, value: "a2", version: "99" } }],
    };
    expect(kinds(faithful, {}, withEntry)).toEqual(["a:version"]);
  });

  it("final-state: the replayed stream does not end at the final read", () => {
    expect(kinds(faithful, {}, { ...input, final: { at: 50, state: new Map([["a", "a2"]]) } })).toEqual(["a:final-state"]);
    expect(kinds(faithful, {}, { ...input, final: { at: 50, state: new Map([["n", "4"]]) } })).toEqual(["n:final-state"]);
    // Events of writes made after the final read (to catch the watchers up) are not replayed.
    const marker = put("a", "marker", 60, 61);
    expect(kinds([...faithful, ev("put", "a", "marker", 20, 62)], {}, { ...input, history: [...history, marker] })).toEqual([]);
    // After a reset nothing is known until the next change.
    expect(kinds([...faithful.slice(0, 6), ev("reset", undefined, undefined, undefined, 9)])).toEqual([]);
  });

  it("state: a change that cannot follow the replayed state", () => {
    // A delete event while the stream has the key absent.
    const removed: Op[] = [put("a", "x", 1, 2), del("a", 3, 4), del("a", 5, 6)];
    const twice = [ev("put", "a", "x", 1, 7), ev("delete", "a", undefined, 2, 7), ev("delete", "a", undefined, 3, 7)];
    expect(kinds(twice, {}, { history: removed, keys: ["a"] })).toEqual(["a:state"]);
    // A putIfAbsent's write over a present value.
    const h: Op[] = [put("a", "x", 1, 2), pia("a", "y", 3, 4, true)];
    expect(kinds([ev("put", "a", "x", 1, 5), ev("put", "a", "y", 2, 5)], {}, { history: h, keys: ["a"] })).toEqual(["a:state"]);
  });

  it("indeterminate ops may or may not show up", () => {
    const h: Op[] = [put("a", "x", 1, 2), put("a", "maybe", 3, Infinity, "indeterminate"), incr("n", 1, Infinity, undefined, "indeterminate"), incr("n", 2, 3, 2)];
    const inp: WatchCheckInput = { history: h, keys: ["a", "n"] };
    expect(kinds([ev("put", "a", "x", 1, 5), ev("put", "a", "maybe", 2, 5), ev("put", "n", 1, 3, 5), ev("put", "n", 2, 4, 5)], {}, inp)).toEqual([]);
    expect(kinds([ev("put", "a", "x", 1, 5), ev("put", "n", 2, 4, 5)], {}, inp)).toEqual([]);
  });
});
