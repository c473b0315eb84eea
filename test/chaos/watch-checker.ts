/**
 * Checks what a watcher (`Dict.watch`) received against the recorded history of its keys.
 *
 * The guarantee: for every key, a watcher gets exactly the acknowledged changes after it
 * started (or after a `reset` it got), in the order they took effect, each once, with the
 * version getEntry would show; keys are independent (no order between them). What a stream
 * is checked for, per watcher and per key (a violation names its kind):
 *
 * - invented: a put of a value no op wrote to this key, or wrote only by a failed op or a
 *   refused putIfAbsent / cas; delivered before its write was invoked; a removal no delete or
 *   pop could have made; an expire or clear (nothing in the history sets a TTL or clears);
 *   a key the watch does not cover; a counter value no increments reach.
 * - duplicate: a register value twice; a counter value twice.
 * - version: versions not strictly increasing along the key's events; a put's version not
 *   the one a getEntry of the same write showed.
 * - reordered: write A completed before write B was invoked, but B's event came first
 *   (a counter: its values not increasing).
 * - state: an event that cannot follow the state the stream itself replays to (a delete of
 *   an absent key, a putIfAbsent's write over a present one, a cas's over another write).
 * - missed: an acknowledged write (putIfAbsent / cas: one that wrote), removal (delete → ok,
 *   pop of a value) or increment invoked after the watch started (after the last reset it
 *   got, if any) that is not in the stream; between two events of a counter, a value the
 *   increments in between cannot explain.
 * - final-state: replaying the stream (put sets, delete / expire / clear remove) up to the
 *   final read does not end at the value the final read returned.
 *
 * Times: `startedAt` is a time by which the watch had started (simplest: when it delivered
 * its first event: the SDK shows nothing before every watched partition's start is known);
 * an event's `at` is a time after it was delivered (a child process's events are stamped
 * when the parent reads them, later still). Both are on the history's clock. Counters are
 * assumed to start absent (0) with the history, as the chaos dict does.
 */
import type { IncrOp, Op } from "./history.js";
import { formatOp } from "./history-format.js";
import { isCounterHistory } from "./counter-checker.js";
import { versionValues } from "./version-checks.js";

export type SeenType = "put" | "delete" | "expire" | "clear" | "synced" | "reset";

/** One event as a watcher received it. */
export interface SeenEvent {
  type: SeenType;
  key?: string | undefined;
  value?: unknown;
  version?: string | undefined;
  /** When it was received (after it was delivered). */
  at: number;
}

export interface WatcherRecord {
  name: string;
  /** The keys it watches; undefined: the whole dict (every key of the input). */
  keys?: readonly string[] | undefined;
  /** A time by which the watch had started. */
  startedAt: number;
  events: readonly SeenEvent[];
}

export interface WatchCheckInput {
  /** Every op on the dict's keys (ok, failed and indeterminate). */
  history: readonly Op[];
  /** The dict's keys (what a whole-dict watcher covers). */
  keys: readonly string[];
  /**
   * The final reads: taken at `at`, after every op of the history but the ones made to let
   * the watchers catch up (invoked later). A counter's value in decimal; undefined: absent.
   */
  final?: { at: number; state: ReadonlyMap<string, string | undefined> };
}

export type WatchViolationKind = "invented" | "duplicate" | "version" | "reordered" | "state" | "missed" | "final-state";

export interface WatchViolation {
  watcher: string;
  key: string | undefined;
  kind: WatchViolationKind;
  message: string;
}

export interface WatcherCheck {
  watcher: string;
  /** Events received (resets included). */
  events: number;
  resets: number;
  /** Acknowledged changes not delivered (each also reported as a "missed" violation). */
  missed: number;
  violations: WatchViolation[];
}

/** Violations of one kind on one key shown in full; the rest are counted. */
const SHOWN_PER_KIND = 3;

type Item = { kind: "event"; e: SeenEvent; i: number } | { kind: "reset"; at: number } | { kind: "clear"; e: SeenEvent; i: number };
type State = { known: false } | { known: true; value: string | undefined };

/** Reports, at most SHOWN_PER_KIND per key and kind, the rest as a count. */
class Findings {
  readonly list: WatchViolation[] = [];
  private readonly counts = new Map<string, number>();
  missed = 0;

  constructor(private readonly watcher: string) {}

  add(key: string | undefined, kind: WatchViolationKind, message: string): void {
    const id = `${key ?? ""}\0${kind}`;
    const n = (this.counts.get(id) ?? 0) + 1;
    this.counts.set(id, n);
    if (n <= SHOWN_PER_KIND) this.list.push({ watcher: this.watcher, key, kind, message });
  }

  finish(): WatchViolation[] {
    for (const [id, n] of this.counts) {
      if (n <= SHOWN_PER_KIND) continue;
      const [key, kind] = id.split("\0") as [string, WatchViolationKind];
      this.list.push({ watcher: this.watcher, key: key || undefined, kind, message: `… and ${n - SHOWN_PER_KIND} more ${kind} on this key` });
    }
    return this.list;
  }
}

const fmtEvent = (e: SeenEvent, i: number) =>
  `event #${i} ${e.type}${e.key === undefined ? "" : ` ${JSON.stringify(e.key)}`}${e.value === undefined ? "" : ` = ${JSON.stringify(e.value)}`}${e.version === undefined ? "" : ` @${e.version}`} (received at ${e.at.toFixed(1)})`;

/** How many of `sorted` (ascending) are at most `x`. */
function countAtMost(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function parseVersion(v: string | undefined): number | undefined {
  return v !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(v) ? Number(v) : undefined;
}

/** Whether an op may have written its value: not failed, and not a refused putIfAbsent / cas. */
function mayHaveWritten(o: Op): boolean {
  if (o.outcome === "failed") return false;
  if (o.op === "put") return true;
  if (o.op === "putIfAbsent" || o.op === "cas") return !(o.outcome === "ok" && o.result === false);
  return false;
}

/** Whether an op certainly wrote (acknowledged, and a putIfAbsent / cas that says it wrote). */
function surelyWrote(o: Op): boolean {
  return o.outcome === "ok" && (o.op === "put" || ((o.op === "putIfAbsent" || o.op === "cas") && o.result === true));
}

/** Whether a delete / pop may have removed the key (not failed; not one that found it absent). */
function mayHaveRemoved(o: Op): boolean {
  if (o.outcome === "failed") return false;
  if (o.op === "delete") return o.outcome === "indeterminate" || o.result === "ok";
  if (o.op === "pop") return o.outcome === "indeterminate" || o.result?.found === true;
  return false;
}

function surelyRemoved(o: Op): boolean {
  return o.outcome === "ok" && mayHaveRemoved(o);
}

/** The key's items: its events and the watcher's resets and clears, in order. */
function splitByKey(w: WatcherRecord, universe: ReadonlySet<string>, f: Findings): Map<string, Item[]> {
  const items = new Map<string, Item[]>([...universe].map((k) => [k, []]));
  w.events.forEach((e, i) => {
    if (e.type === "reset") {
      for (const list of items.values()) list.push({ kind: "reset", at: e.at });
    } else if (e.type === "clear") {
      f.add(undefined, "invented", `${fmtEvent(e, i)}: no client cleared the dict`);
      for (const list of items.values()) list.push({ kind: "clear", e, i });
    } else if (e.type === "synced") {
      f.add(undefined, "invented", `${fmtEvent(e, i)}: synced, but the watch asked for no initial snapshot`);
    } else if (e.key === undefined || !universe.has(e.key)) {
      f.add(e.key, "invented", `${fmtEvent(e, i)}: a key the watch does not cover`);
    } else items.get(e.key)!.push({ kind: "event", e, i });
  });
  return items;
}

/** Versions strictly increase along a key's events (clears have their own partition's number). */
function checkVersion(e: SeenEvent, i: number, last: { v: number }, key: string, f: Findings): void {
  const v = parseVersion(e.version);
  if (v === undefined) {
    f.add(key, "version", `${fmtEvent(e, i)}: version ${JSON.stringify(e.version)} is not a version`);
    return;
  }
  if (v <= last.v) f.add(key, "version", `${fmtEvent(e, i)}: version ${v} after version ${last.v}: versions must strictly increase`);
  last.v = Math.max(last.v, v);
}

function checkRegister(key: string, items: readonly Item[], ops: readonly Op[], w: WatcherRecord, input: WatchCheckInput, f: Findings): void {
  const writers = new Map<string, Op>();
  for (const o of ops) if (o.op === "put" || o.op === "putIfAbsent" || o.op === "cas") writers.set(o.value, o);
  // The version a getEntry showed each write with (checked consistent by the register checker).
  const versionOf = new Map<string, string>();
  for (const [version, value] of versionValues(ops)) versionOf.set(value, version);
  const valueOf = versionValues(ops);
  const removals = ops.filter(mayHaveRemoved).map((o) => o.invokeAt).sort((a, b) => a - b);

  let state: State = { known: false };
  const lastVersion = { v: -1 };
  const seen = new Set<string>();
  let latest: Op | undefined; // the writer of a delivered event invoked last
  let deletes = 0;
  let deletesSinceReset = 0;
  let lastReset = -Infinity;
  let finalState: State | undefined;
  const cutAt = input.final?.at ?? Infinity;
  for (const it of items) {
    if (it.kind === "reset") {
      state = { known: false };
      deletesSinceReset = 0;
      lastReset = it.at;
      continue;
    }
    const { e, i } = it;
    if (it.kind === "clear") {
      state = { known: true, value: undefined };
      continue;
    }
    checkVersion(e, i, lastVersion, key, f);
    if (e.type === "put") {
      const value = e.value;
      const writer = typeof value === "string" ? writers.get(value) : undefined;
      if (writer !== undefined && writer.invokeAt >= cutAt && finalState === undefined) finalState = state;
      if (typeof value !== "string" || writer === undefined) {
        f.add(key, "invented", `${fmtEvent(e, i)}: no op wrote this value to ${JSON.stringify(key)}`);
      } else if (!mayHaveWritten(writer)) {
        f.add(key, "invented", `${fmtEvent(e, i)}: written only by an op that did not write:\n    ${formatOp(writer)}`);
      } else if (writer.invokeAt > e.at) {
        f.add(key, "invented", `${fmtEvent(e, i)}: received before its write was invoked:\n    ${formatOp(writer)}`);
      }
      if (typeof value === "string") {
        if (seen.has(value)) f.add(key, "duplicate", `${fmtEvent(e, i)}: this write was delivered before`);
        seen.add(value);
        const shown = versionOf.get(value);
        if (shown !== undefined && e.version !== shown) f.add(key, "version", `${fmtEvent(e, i)}: getEntry showed this write with version ${shown}`);
      }
      if (writer !== undefined) {
        if (writer.outcome === "ok" && latest !== undefined && writer.completeAt < latest.invokeAt) {
          f.add(key, "reordered", `${fmtEvent(e, i)} came after the event of a write invoked once this one had completed:\n    ${formatOp(writer)}\n    ${formatOp(latest)}`);
        }
        if (latest === undefined || writer.invokeAt > latest.invokeAt) latest = writer;
        // The write's condition must hold in the state the stream replays to.
        if (state.known && (writer.op === "putIfAbsent" || (writer.op === "cas" && writer.ifVersion === null)) && state.value !== undefined) {
          f.add(key, "state", `${fmtEvent(e, i)}: written only if absent, but the stream had ${JSON.stringify(state.value)}:\n    ${formatOp(writer)}`);
        } else if (state.known && writer.op === "cas" && writer.ifVersion !== null) {
          const expected = valueOf.get(writer.ifVersion);
          if (expected !== undefined && state.value !== expected) {
            f.add(key, "state", `${fmtEvent(e, i)}: written only over ${JSON.stringify(expected)}, but the stream had ${JSON.stringify(state.value ?? "absent")}:\n    ${formatOp(writer)}`);
          }
        }
      }
      state = { known: true, value: typeof value === "string" ? value : undefined };
    } else if (e.type === "delete" || e.type === "expire") {
      if (e.type === "expire") f.add(key, "invented", `${fmtEvent(e, i)}: nothing in the history sets a TTL`);
      else {
        deletes++;
        deletesSinceReset++;
        // Each delete event is its own change, made by its own delete or pop.
        const possible = countAtMost(removals, e.at);
        if (deletes > possible) f.add(key, "invented", `${fmtEvent(e, i)}: delete event ${deletes} of this key, but only ${possible} delete / pop ops that may have removed it were invoked by then`);
      }
      if (state.known && state.value === undefined) f.add(key, "state", `${fmtEvent(e, i)}: the key was already absent in the stream`);
      state = { known: true, value: undefined };
    }
  }
  finalState ??= state;

  // Completeness, after the watch started and its last reset.
  const from = Math.max(w.startedAt, lastReset);
  const missedWrites = ops.filter((o) => surelyWrote(o) && o.invokeAt > from && !seen.has((o as { value: string }).value));
  if (missedWrites.length > 0) {
    f.missed += missedWrites.length;
    const shown = missedWrites.slice(0, 5).map((o) => `    ${formatOp(o)}`);
    f.add(key, "missed", `${missedWrites.length} acknowledged writes invoked after ${lastReset > w.startedAt ? "the last reset" : "the watch started"} (${from.toFixed(1)}) were not delivered:\n${shown.join("\n")}`);
  }
  const required = ops.filter((o) => surelyRemoved(o) && o.invokeAt > from).length;
  if (deletesSinceReset < required) {
    f.missed += required - deletesSinceReset;
    f.add(key, "missed", `${required} acknowledged removals (delete → ok, pop of a value) invoked after ${from.toFixed(1)}, but ${deletesSinceReset} delete events`);
  }
  checkFinal(key, finalState, input, f, (s) => JSON.stringify(s ?? "absent"));
}

function checkFinal(key: string, st: State, input: WatchCheckInput, f: Findings, show: (v: string | undefined) => string): void {
  if (!st.known || input.final === undefined || !input.final.state.has(key)) return;
  const want = input.final.state.get(key);
  if (st.value !== want) f.add(key, "final-state", `replaying the stream up to the final read gives ${show(st.value)}, the final read returned ${show(want)}`);
}

function checkCounter(key: string, items: readonly Item[], ops: readonly Op[], w: WatcherRecord, input: WatchCheckInput, f: Findings): void {
  const incrs = ops.filter((o): o is IncrOp => o.op === "incr" && o.outcome !== "failed");
  // The increments that may have been applied, by invocation: how far they reach by a time.
  const byInvoke = incrs.slice().sort((a, b) => a.invokeAt - b.invokeAt);
  const invokedAt = byInvoke.map((o) => o.invokeAt);
  const reachBy = [0];
  for (const o of byInvoke) reachBy.push(reachBy.at(-1)! + o.delta);
  const deltas = new Set(incrs.map((o) => o.delta));
  const steps = incrs.filter((o) => o.outcome === "ok").map((o) => ({ from: o.result! - o.delta, to: o.result! }));
  const finalValue = input.final?.state.get(key);
  const cut = finalValue === undefined ? Infinity : Number(finalValue);

  let state: State = { known: false };
  let last: number | undefined; // the last value delivered
  let contiguous = false; // no reset since `last`
  const lastVersion = { v: -1 };
  const seen = new Set<number>();
  let lastReset = -Infinity;
  let finalState: State | undefined;
  for (const it of items) {
    if (it.kind === "reset") {
      state = { known: false };
      contiguous = false;
      lastReset = it.at;
      continue;
    }
    const { e, i } = it;
    if (it.kind === "clear") {
      state = { known: true, value: undefined };
      contiguous = false;
      continue;
    }
    checkVersion(e, i, lastVersion, key, f);
    if (e.type !== "put") {
      f.add(key, "invented", `${fmtEvent(e, i)}: nothing removes a counter`);
      state = { known: true, value: undefined };
      continue;
    }
    const v = e.value;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) {
      f.add(key, "invented", `${fmtEvent(e, i)}: not a counter value`);
      continue;
    }
    if (v > cut && finalState === undefined) finalState = state;
    // The counter's value at any time is at most the increments invoked by then.
    const reach = reachBy[countAtMost(invokedAt, e.at)]!;
    const inside = steps.find((s) => s.from < v && v < s.to);
    if (v < 1 || v > reach) f.add(key, "invented", `${fmtEvent(e, i)}: the increments invoked by then reach at most ${reach}`);
    else if (inside !== undefined) f.add(key, "invented", `${fmtEvent(e, i)}: inside the step ${inside.from}→${inside.to} of an acknowledged incr`);
    if (seen.has(v)) f.add(key, "duplicate", `${fmtEvent(e, i)}: this value was delivered before`);
    else if (last !== undefined && v < last) f.add(key, "reordered", `${fmtEvent(e, i)}: after ${last}, but a counter only grows`);
    else if (contiguous && last !== undefined && !deltas.has(v - last)) {
      // Every increment is its own change: from one event to the next, exactly one was applied.
      const gap = deltas.size === 1 && deltas.has(1) ? v - last - 1 : 1;
      f.missed += gap;
      f.add(key, "missed", `${fmtEvent(e, i)}: right after ${last}, but no increment adds ${v - last} (${gap} change(s) in between not delivered)`);
    }
    seen.add(v);
    last = Math.max(last ?? v, v);
    contiguous = true;
    state = { known: true, value: String(v) };
  }
  finalState ??= state;
  const from = Math.max(w.startedAt, lastReset);
  const missed = incrs.filter((o) => o.outcome === "ok" && o.invokeAt > from && !seen.has(o.result!));
  if (missed.length > 0) {
    f.missed += missed.length;
    const shown = missed.slice(0, 5).map((o) => `    ${formatOp(o)}`);
    f.add(key, "missed", `${missed.length} acknowledged increments invoked after ${from.toFixed(1)} were not delivered:\n${shown.join("\n")}`);
  }
  checkFinal(key, finalState, input, f, (s) => s ?? "absent");
}

/** Check one watcher's stream. */
export function checkWatcher(w: WatcherRecord, input: WatchCheckInput): WatcherCheck {
  const f = new Findings(w.name);
  const universe = new Set(w.keys ?? input.keys);
  const byKey = new Map<string, Op[]>();
  for (const o of input.history) {
    let list = byKey.get(o.key);
    if (list === undefined) byKey.set(o.key, (list = []));
    list.push(o);
  }
  for (const [key, items] of splitByKey(w, universe, f)) {
    const ops = byKey.get(key) ?? [];
    if (isCounterHistory(ops)) checkCounter(key, items, ops, w, input, f);
    else checkRegister(key, items, ops, w, input, f);
  }
  return { watcher: w.name, events: w.events.length, resets: w.events.filter((e) => e.type === "reset").length, missed: f.missed, violations: f.finish() };
}

export function checkWatchers(ws: readonly WatcherRecord[], input: WatchCheckInput): WatcherCheck[] {
  return ws.map((w) => checkWatcher(w, input));
}
