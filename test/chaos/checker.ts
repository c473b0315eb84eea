/**
 * Per-key linearizability checker for chaos histories (see `history.ts`).
 *
 * Model: one register per key whose state is `absent | value`:
 * - put(v): state := v
 * - putIfAbsent(v): if absent { state := v; returns true } else returns false
 * - pop: returns the state (or absent); state := absent
 * - delete: if absent → KeyError, else state := absent (returns ok)
 * - get: returns the state
 * - getEntry: returns the state, with the version of the write that set it
 * - cas(v, ifVersion): if the state is the write `ifVersion` names { state := v; returns
 *   true } else returns false; `ifVersion: null` names "absent" (then it is putIfAbsent)
 *
 * Versions are opaque, so a version stands for the write whose value a getEntry returned
 * with it: every write's value is unique, so "the current version is v" is "the state is the
 * value read with v". That holds only if each version names one write and each write keeps
 * one version, which `version-checks.ts` verifies first (a key that fails it is reported as
 * such and not searched).
 *
 * A history is linearizable if every `ok` op can be given a point inside
 * [invokeAt, completeAt] such that running the ops in that order through the model yields the
 * recorded results. `failed` ops are ignored. `indeterminate` ops are optional: each either
 * takes effect at some point after its invokeAt (with any result) or never.
 *
 * Keys are independent registers, so a history is checked key by key (P-compositionality).
 * A key with `incr` ops is a counter, checked by `counter-checker.ts` instead.
 *
 * Algorithm: Wing & Gong / Lowe ("WGL", as in Knossos and Porcupine): depth-first search over
 * a doubly linked list of call/return events sorted by time; an op whose call comes before
 * the first remaining return event may be linearized next; a return event reached before its
 * op was linearized means backtrack. Visited (linearized set, state) pairs are memoized, the
 * ok ops of the set as a bitset. Indeterminate ops get special treatment to keep the search
 * small (see `search`): interchangeable ones are grouped, they are only linearized where an
 * ok op needs them, and a configuration is pruned if one with fewer of them was visited.
 */
import { FINAL_READ_PROCESS, type EntryResult, type GetOp, type Op, type ReadResult } from "./history.js";
import { byInvoke, fmtRead, formatHistory, formatOp } from "./history-format.js";
import { checkCounter, isCounterHistory } from "./counter-checker.js";
import { checkVersions, versionValues } from "./version-checks.js";

export { formatHistory, formatOp } from "./history-format.js";

export interface CheckOptions {
  /** Value of the key before the history starts; omitted or undefined = absent. */
  initial?: string | undefined;
  /** Shrink a failing history to a 1-minimal failing sub-history (default true). */
  minimize?: boolean;
  /** Stop shrinking after this long, keeping the smallest failing history so far (default 20 s). */
  shrinkTimeMs?: number;
  /**
   * Search steps allowed for one check before giving up (default 2e7, roughly 5-10 s). An
   * exhausted budget reports `inconclusive: true`; while shrinking, a removal whose check runs
   * out of budget is not made.
   */
  maxSteps?: number;
}

export type KeyCheckResult =
  | { ok: true }
  | {
      ok: false;
      /**
       * The failing sub-history, sorted by invoke time: 1-minimal, unless `minimize: false`,
       * inconclusive (then the whole history), or shrinking ran out of time (see message).
       */
      minimal: Op[];
      message: string;
      /** Set if the search budget ran out: not proven non-linearizable. */
      inconclusive?: true;
    };

export interface Violation {
  key: string;
  minimal: Op[];
  message: string;
  inconclusive?: true;
}

export interface HistoryCheckOptions {
  /** Per-key initial value (keys not in the map start absent). */
  initial?: ReadonlyMap<string, string | undefined>;
  minimize?: boolean;
  maxSteps?: number;
  shrinkTimeMs?: number;
}

const DEFAULT_MAX_STEPS = 20_000_000;
const DEFAULT_SHRINK_MS = 20_000;

// ---------------------------------------------------------------------------------------
// Compilation of a key's history to numbers

const PUT = 0;
const PIA = 1;
const POP = 2;
const DEL = 3;
const GET = 4;
const CAS = 5;

/** State ids: 0 = absent, 1 = some value no ok read returned, 2.. = values some read returned. */
const UNREAD = 1;

/** A key's ops that matter to the search: ok ops first (indices [0, nOk)), then indeterminate. */
interface Compiled {
  /** As searched: indeterminate writes that must have happened are turned into ok ops. */
  ops: Op[];
  /** The recorded op of each index, for messages. */
  orig: Op[];
  nOk: number;
  kind: Uint8Array;
  /** put/putIfAbsent/cas: the value id; pop/get/getEntry: expected value id (0 = absent); delete: 1 = "ok", 0 = KeyError; putIfAbsent/cas: see `written`. */
  val: Int32Array;
  written: Uint8Array;
  /** cas: the value id the state must be for it to write (0 = absent). */
  expect: Int32Array;
  values: string[];
  initial: number;
}

/** Failed ops never took effect; an indeterminate read has no effect and no known result. */
function isRelevant(o: Op): boolean {
  return o.outcome === "ok" || (o.outcome === "indeterminate" && o.op !== "get" && o.op !== "getEntry");
}

/** The value an op writes (if it writes). */
function writtenValue(o: Op): string | undefined {
  return o.op === "put" || o.op === "putIfAbsent" || o.op === "cas" ? o.value : undefined;
}

/** Whether an op may have written its value (an ok putIfAbsent or cas → false did not). */
function mayHaveWritten(o: Op): boolean {
  if (o.op === "put") return true;
  if (o.op === "putIfAbsent" || o.op === "cas") return !(o.outcome === "ok" && o.result === false);
  return false;
}

/** The value an ok read returned (undefined: absent, or not an ok read). */
function readValue(o: Op): string | undefined {
  if (o.outcome !== "ok" || (o.op !== "get" && o.op !== "pop" && o.op !== "getEntry")) return undefined;
  return o.result?.found === true ? o.result.value : undefined;
}

function validate(o: Op): void {
  if (o.outcome !== "ok" && o.outcome !== "failed" && o.outcome !== "indeterminate") {
    throw new TypeError(`bad outcome ${String(o.outcome)}: ${formatOp(o)}`);
  }
  if (Number.isNaN(o.invokeAt) || o.invokeAt === Infinity) throw new TypeError(`bad invokeAt: ${formatOp(o)}`);
  if (o.outcome !== "ok") return;
  if (!(o.completeAt >= o.invokeAt) || o.completeAt === Infinity) throw new TypeError(`ok op with completeAt not in [invokeAt, ∞): ${formatOp(o)}`);
  switch (o.op) {
    case "put":
      return;
    case "putIfAbsent":
    case "cas":
      if (typeof o.result !== "boolean") throw new TypeError(`ok ${o.op} without a boolean result: ${formatOp(o)}`);
      return;
    case "delete":
      if (o.result !== "ok" && o.result !== "KeyError") throw new TypeError(`ok delete without a result: ${formatOp(o)}`);
      return;
    case "get":
    case "pop":
    case "getEntry":
      if (o.result === undefined || typeof o.result.found !== "boolean") throw new TypeError(`ok ${o.op} without a result: ${formatOp(o)}`);
      if (o.op === "getEntry" && o.result.found && typeof o.result.version !== "string") throw new TypeError(`ok getEntry without a version: ${formatOp(o)}`);
      return;
    case "incr":
      throw new TypeError(`incr on a register key (a counter key has only incr and get): ${formatOp(o)}`);
    default:
      throw new TypeError(`unknown op ${(o as { op: unknown }).op}`);
  }
}

/**
 * `versions`: the value each version names (see `versionValues`), for the cas ops. Every
 * history searched has, for each cas with a version, an ok getEntry of that version (the
 * shrinker keeps one), so the writer of the value it expects is an ok op or made one below;
 * `search` relies on that (see its blocks).
 */
function compile(relevant: readonly Op[], initial: string | undefined, versions: ReadonlyMap<string, string>): Compiled {
  // Earliest completion of an ok read of each value.
  const readBy = new Map<string, number>();
  for (const o of relevant) {
    const v = readValue(o);
    if (v !== undefined) readBy.set(v, Math.min(readBy.get(v) ?? Infinity, o.completeAt));
  }
  const expectOf = (o: Op): string | undefined => {
    if (o.op !== "cas" || o.ifVersion === null) return undefined;
    const v = versions.get(o.ifVersion);
    if (v === undefined) throw new TypeError(`cas with a version no getEntry of the key returned: ${formatOp(o)}`);
    return v;
  };
  // An indeterminate write of a value that an ok op read, being its only possible source,
  // did take effect (a putIfAbsent or cas wrote), before that read completed: it is
  // equivalent to an ok op completing then. Fewer optional ops make the search much smaller.
  const writes = new Map<string, number>();
  for (const o of relevant) {
    const v = writtenValue(o);
    if (v !== undefined) writes.set(v, (writes.get(v) ?? 0) + 1);
  }
  const orig: Op[] = [];
  const add = (list: Op[], o: Op, as: Op): void => {
    list.push(as);
    origOf.set(as, o);
  };
  const origOf = new Map<Op, Op>();
  const okList: Op[] = [];
  const indList: Op[] = [];
  for (const o of relevant) {
    if (o.outcome === "ok") add(okList, o, o);
    else if ((o.op === "put" || o.op === "putIfAbsent" || o.op === "cas") && readBy.has(o.value) && writes.get(o.value) === 1 && o.value !== initial) {
      const completeAt = Math.max(o.invokeAt, readBy.get(o.value)!);
      add(okList, o, o.op === "put" ? { ...o, outcome: "ok", completeAt } : { ...o, outcome: "ok", completeAt, result: true });
    } else add(indList, o, o);
  }
  const ok = okList;
  const ops = okList.concat(indList);
  for (const o of ops) orig.push(origOf.get(o)!);
  const n = ops.length;
  // Values no ok read returned and no cas expects are indistinguishable by every op
  // (putIfAbsent and delete only test presence), so they all share one state, UNREAD: fewer
  // distinct states, more cache hits.
  const observed = new Set(readBy.keys());
  for (const o of ops) {
    const e = expectOf(o);
    if (e !== undefined) observed.add(e);
  }
  const values: string[] = ["", ""];
  const ids = new Map<string, number>();
  const id = (v: string): number => {
    if (!observed.has(v)) return UNREAD;
    let i = ids.get(v);
    if (i === undefined) {
      i = values.length;
      values.push(v);
      ids.set(v, i);
    }
    return i;
  };
  const readId = (r: ReadResult | EntryResult | undefined): number => (r !== undefined && r.found ? id(r.value) : 0);
  const kind = new Uint8Array(n);
  const val = new Int32Array(n);
  const written = new Uint8Array(n);
  const expect = new Int32Array(n);
  ops.forEach((o, i) => {
    switch (o.op) {
      case "put":
        kind[i] = PUT;
        val[i] = id(o.value);
        break;
      case "putIfAbsent":
        kind[i] = PIA;
        val[i] = id(o.value);
        written[i] = o.result === true ? 1 : 0;
        break;
      case "pop":
        kind[i] = POP;
        val[i] = readId(o.result);
        break;
      case "delete":
        kind[i] = DEL;
        val[i] = o.result === "ok" ? 1 : 0;
        break;
      case "get":
      case "getEntry":
        kind[i] = GET;
        val[i] = readId(o.result);
        break;
      case "cas": {
        kind[i] = CAS;
        val[i] = id(o.value);
        written[i] = o.result === true ? 1 : 0;
        const e = expectOf(o);
        expect[i] = e === undefined ? 0 : id(e);
        break;
      }
      case "incr":
        throw new TypeError(`incr on a register key: ${formatOp(o)}`);
    }
  });
  return { ops, orig, nOk: ok.length, kind, val, written, expect, values, initial: initial === undefined ? 0 : id(initial) };
}

/** The state after op `i` from `state` (0 = absent), or -1 if `i` cannot run there. */
function step(c: Compiled, i: number, state: number): number {
  const v = c.val[i]!;
  const isOk = i < c.nOk;
  switch (c.kind[i]) {
    case PUT:
      return v;
    case PIA:
      if (!isOk) return state === 0 ? v : state;
      if (c.written[i] === 1) return state === 0 ? v : -1;
      return state !== 0 ? state : -1;
    case POP:
      if (!isOk) return 0;
      return state === v ? 0 : -1;
    case DEL:
      if (!isOk) return 0;
      return (v === 1) === (state !== 0) ? 0 : -1;
    case GET:
      return state === v ? state : -1;
    case CAS: {
      const e = c.expect[i]!;
      if (!isOk) return state === e ? v : state;
      if (c.written[i] === 1) return state === e ? v : -1;
      return state !== e ? state : -1;
    }
    default:
      return -1;
  }
}

// ---------------------------------------------------------------------------------------
// WGL search

type SearchResult =
  | { kind: "ok" }
  | { kind: "budget" }
  | {
      kind: "fail";
      /** Longest linearization found, as op indices, and the state after it. */
      best: number[];
      bestState: number;
      /** The latest time the search got to: some ok op completing then was never linearized. */
      frontier: number;
    };

function search(c: Compiled, maxSteps: number): SearchResult {
  const n = c.ops.length;
  const nOk = c.nOk;
  if (nOk === 0) return { kind: "ok" };

  // The event list holds the ok ops only: call of op i = 2i, return = 2i+1. Sorted by time,
  // calls before returns at equal times (equal times are concurrent).
  const order = Array.from({ length: 2 * nOk }, (_, e) => e);
  const times = order.map((e) => ((e & 1) === 0 ? c.ops[e >> 1]!.invokeAt : c.ops[e >> 1]!.completeAt));
  order.sort((a, b) => times[a]! - times[b]! || (a & 1) - (b & 1) || a - b);
  const HEAD = 2 * nOk;
  const next = new Int32Array(2 * nOk + 1);
  const prev = new Int32Array(2 * nOk + 1);
  let p = HEAD;
  prev[HEAD] = -1;
  for (const e of order) {
    next[p] = e;
    prev[e] = p;
    p = e;
  }
  next[p] = -1;
  // lift/unlift the call event `e` and its return event (always after it in the list).
  const lift = (e: number): void => {
    next[prev[e]!] = next[e]!;
    prev[next[e]!] = prev[e]!;
    const r = e + 1;
    next[prev[r]!] = next[r]!;
    if (next[r] !== -1) prev[next[r]!] = prev[r]!;
  };
  const unlift = (e: number): void => {
    const r = e + 1;
    next[prev[r]!] = r;
    if (next[r] !== -1) prev[next[r]!] = r;
    next[prev[e]!] = e;
    prev[next[e]!] = e;
  };

  // Indeterminate ops never constrain the order (they "complete" at +infinity) and stay
  // available once invoked. Those with the same effect are interchangeable, so they are
  // grouped and always taken earliest-invoked first: the linearized ones of a group are a
  // prefix of it, and `used[g]` (how many) is all the search needs to know.
  const groupOf = new Map<string, number[]>();
  for (let i = nOk; i < n; i++) {
    const k = c.kind[i]!;
    const sig = k === POP || k === DEL ? "clear" : `${k}:${c.val[i]!}:${c.expect[i]!}`;
    let list = groupOf.get(sig);
    if (list === undefined) groupOf.set(sig, (list = []));
    list.push(i);
  }
  const groups = [...groupOf.values()].map((g) => g.sort((a, b) => c.ops[a]!.invokeAt - c.ops[b]!.invokeAt || a - b));
  const nGroups = groups.length;
  const used = new Int32Array(nGroups);

  // Memo of visited configurations: ok ops linearized (bitset), state, block (see below) and,
  // if there are indeterminate ops, `used`: a configuration is pruned if one with the same
  // key and componentwise fewer indeterminate ops used was visited (it can do anything this
  // one can, since indeterminate ops are optional and never constrain the others).
  const okBits = new Uint32Array(Math.ceil(nOk / 32));
  const flip = (i: number): void => {
    okBits[i >>> 5]! ^= 1 << (i & 31);
  };
  const seen = new Set<string>();
  const seenUsed = new Map<string, Int32Array[]>();
  const visit = (state: number, tag: number): boolean => {
    let k = `${state},${tag}`;
    for (let w = 0; w < okBits.length; w++) {
      const x = okBits[w]!;
      k += String.fromCharCode(x & 0xffff, x >>> 16);
    }
    if (nGroups === 0) {
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    }
    let list = seenUsed.get(k);
    if (list === undefined) seenUsed.set(k, (list = []));
    outer: for (const u of list) {
      for (let g = 0; g < nGroups; g++) if (u[g]! > used[g]!) continue outer;
      return false;
    }
    list.push(used.slice());
    return true;
  };

  // Candidates are tried in two phases: ok ops first (scanning the event list), then one per
  // group of indeterminate ops, so that a configuration is usually first reached with as few
  // indeterminate ops as possible and later arrivals are pruned as dominated.
  //
  // Indeterminate ops are only linearized in short "blocks" right before an ok op that could
  // not run in the state before the block (`blockStart`). Any linearization can be rewritten
  // that way: a block before an ok op that could run anyway is dropped (the op overwrites or
  // clears the state, so the block's effect is lost) or moved after it (the op leaves the
  // state as is), and moving an indeterminate op later is always allowed; a block at the end
  // is dropped. A block needs at most two ops to reach the state it reaches: its last
  // state-changing op, preceded by a clearing op if that is a putIfAbsent (or a cas on
  // "absent") that wrote. A cas on a version needs the state to be the value read with that
  // version, whose one writer is an ok op (see `compile`), so no op of the block can set it:
  // the state already is that value and the cas alone suffices. And an indeterminate op that
  // leaves the state as is can always be left out.
  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n);
  const stackPhase = new Uint8Array(n);
  const stackBlockStart = new Int32Array(n);
  const stackBlockLen = new Uint8Array(n);
  const stackGroup = new Int32Array(n);
  const stackBound = new Float64Array(n);
  let sp = 0;
  let state = c.initial;
  let phase = 0;
  let blockStart = -1;
  let blockLen = 0;
  let okCount = 0;
  let group = 0;
  let bound = 0; // in phase 1: indeterminate ops invoked up to this time are candidates
  let frontier = -Infinity;
  let best: number[] = [];
  let bestState = state;
  let steps = 0;
  let e = next[HEAD]!;

  /** Linearize op i (group g if indeterminate) leading to state ns, unless memoized. */
  const push = (i: number, ns: number, g: number): boolean => {
    const isOk = i < nOk;
    const nbStart = isOk ? -1 : blockLen === 0 ? state : blockStart;
    const nbLen = isOk ? 0 : blockLen + 1;
    if (isOk) flip(i);
    else used[g]!++;
    if (!visit(ns, nbStart * 4 + nbLen)) {
      if (isOk) flip(i);
      else used[g]!--;
      return false;
    }
    stackOp[sp] = i;
    stackState[sp] = state;
    stackPhase[sp] = phase;
    stackBlockStart[sp] = blockStart;
    stackBlockLen[sp] = blockLen;
    stackGroup[sp] = g;
    stackBound[sp] = bound;
    sp++;
    if (isOk) {
      okCount++;
      lift(2 * i);
    }
    state = ns;
    blockStart = nbStart;
    blockLen = nbLen;
    if (sp > best.length) {
      best = Array.from(stackOp.subarray(0, sp));
      bestState = state;
    }
    phase = 0;
    e = next[HEAD]!;
    return true;
  };

  for (;;) {
    if (++steps > maxSteps) return { kind: "budget" };
    if (phase === 0) {
      if (e !== -1 && (e & 1) === 0) {
        const i = e >> 1;
        e = next[e]!;
        if (blockLen !== 0 && step(c, i, blockStart) >= 0) continue;
        const ns = step(c, i, state);
        if (ns < 0) continue;
        if (okCount + 1 === nOk) return { kind: "ok" };
        push(i, ns, -1);
        continue;
      }
      // `e` is the first return event left (an op that must be linearized before anything
      // invoked later), or the end of the list.
      const t = e === -1 ? Infinity : c.ops[e >> 1]!.completeAt;
      if (t > frontier) frontier = t;
      if (nGroups > 0 && blockLen < 2) {
        phase = 1;
        group = 0;
        bound = t;
        continue;
      }
    } else if (group < nGroups) {
      const g = group++;
      const members = groups[g]!;
      const i = members[used[g]!];
      if (i === undefined || c.ops[i]!.invokeAt > bound) continue;
      if (blockLen === 1 && c.kind[i] !== PIA && !(c.kind[i] === CAS && c.expect[i] === 0)) continue;
      const ns = step(c, i, state);
      if (ns >= 0 && ns !== state) push(i, ns, g);
      continue;
    }
    // Backtrack.
    if (sp === 0) return { kind: "fail", best, bestState, frontier };
    sp--;
    const i = stackOp[sp]!;
    state = stackState[sp]!;
    phase = stackPhase[sp]!;
    blockStart = stackBlockStart[sp]!;
    blockLen = stackBlockLen[sp]!;
    bound = stackBound[sp]!;
    if (i < nOk) {
      okCount--;
      flip(i);
      unlift(2 * i);
      e = next[2 * i]!;
    } else {
      used[stackGroup[sp]!]!--;
      group = stackGroup[sp]! + 1;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Public API

function relevantOps(history: readonly Op[]): Op[] {
  for (const o of history) validate(o);
  return history.filter(isRelevant);
}

/**
 * Check one key's history (all ops must have the same key). On failure returns a 1-minimal
 * failing sub-history (removing any single op of it makes it linearizable, except the only
 * write of a value one of its reads returned, which is kept so the history makes sense) and
 * a message with that sub-history and the longest linearizable prefix the search found.
 * A counter key's history (one with `incr` ops) goes to `checkCounter`, whose witness is not
 * shrunk but picked (see there).
 */
export function checkKey(history: readonly Op[], opts: CheckOptions = {}): KeyCheckResult {
  return checkKeyPinned(history, opts, new Set());
}

/** `checkKey`, never shrinking away the ops of `pinned`. */
function checkKeyPinned(history: readonly Op[], opts: CheckOptions, pinned: ReadonlySet<Op>): KeyCheckResult {
  const key = history[0]?.key;
  for (const o of history) if (o.key !== key) throw new TypeError(`checkKey: mixed keys ${JSON.stringify(key)} and ${JSON.stringify(o.key)}`);
  if (isCounterHistory(history)) return checkCounter(history, { initial: opts.initial });
  const maxSteps = opts.maxSteps ?? DEFAULT_MAX_STEPS;
  const relevant = relevantOps(history);
  const what = `key ${JSON.stringify(key)}`;
  const minimized = opts.minimize !== false;

  // Fast path: an ok read of a value that no op wrote (nor the initial state).
  const written = new Set<string>();
  if (opts.initial !== undefined) written.add(opts.initial);
  for (const o of relevant) {
    const v = writtenValue(o);
    if (v !== undefined) written.add(v);
  }
  const ghost = relevant.find((o) => {
    const v = readValue(o);
    return v !== undefined && !written.has(v);
  });
  if (ghost !== undefined) {
    const minimal = minimized ? [ghost] : relevant.slice().sort(byInvoke);
    return { ok: false, minimal, message: `${what}: not linearizable: a read returned a value no op wrote\n${formatHistory(minimal)}` };
  }
  // Versions before the search: its model of cas needs each version to name one write.
  const versionCheck = checkVersions(relevant);
  if (!versionCheck.ok) {
    const minimal = [...new Set(versionCheck.witness)].sort(byInvoke);
    return { ok: false, minimal, message: `${what}: ${versionCheck.message}\n${formatHistory(minimal)}` };
  }
  const versions = versionValues(relevant);

  const compiled = compile(relevant, opts.initial, versions);
  const r = search(compiled, maxSteps);
  if (r.kind === "ok") return { ok: true };
  if (r.kind === "budget") {
    const minimal = relevant.slice().sort(byInvoke);
    return {
      ok: false,
      inconclusive: true,
      minimal,
      message: `${what}: linearizability check gave up after ${maxSteps} steps (${relevant.length} ops); inconclusive\n${formatHistory(minimal)}`,
    };
  }
  const check = (ops: readonly Op[]): number | null => {
    const x = search(compile(ops, opts.initial, versions), maxSteps);
    return x.kind === "fail" ? x.frontier : null;
  };
  const shrunk = minimized
    ? shrink(relevant, r.frontier, check, {
        deadline: performance.now() + (opts.shrinkTimeMs ?? DEFAULT_SHRINK_MS),
        pinned,
        hasInitial: opts.initial !== undefined,
      })
    : undefined;
  const minimal = (shrunk?.ops ?? relevant.slice()).sort(byInvoke);
  const mc = minimized ? compile(minimal, opts.initial, versions) : compiled;
  const mr = minimized ? search(mc, maxSteps) : r;
  const head =
    !minimized
      ? `${what}: not linearizable (${relevant.length} ops)`
      : shrunk?.complete === false
        ? `${what}: not linearizable (${relevant.length} relevant ops; shrinking stopped after ${opts.shrinkTimeMs ?? DEFAULT_SHRINK_MS} ms at a failing sub-history of ${minimal.length}, maybe not minimal:)`
        : `${what}: not linearizable (${relevant.length} relevant ops; a 1-minimal failing sub-history of ${minimal.length}:)`;
  let detail = "";
  if (mr.kind === "fail") detail = "\n" + describeStuck(mc, mr.best, mr.bestState);
  return { ok: false, minimal, message: `${head}\n${formatHistory(minimal)}${detail}` };
}

/** Split by key and check each; returns the violations (empty = linearizable). */
export function checkHistory(all: readonly Op[], opts: HistoryCheckOptions = {}): { violations: Violation[] } {
  const violations: Violation[] = [];
  for (const [key, ops] of groupByKey(all)) {
    const r = checkKey(ops, keyOptions(opts, key));
    if (!r.ok) violations.push(toViolation(key, r));
  }
  return { violations };
}

/**
 * After the cluster heals, each key of `finalState` was read once more (undefined = absent).
 * Check that read as one more `get` invoked after every op of the history was invoked and
 * every ok op completed (indeterminate ops may still take effect before it). Keys of the
 * history missing from `finalState` are not checked. Returns the violations: a key whose
 * history is linearizable but whose final value is not (e.g. an acknowledged write was lost),
 * or whose history itself is not.
 */
export function checkNoLostWrites(
  history: readonly Op[],
  finalState: ReadonlyMap<string, string | undefined>,
  opts: HistoryCheckOptions = {},
): { violations: Violation[] } {
  let last = 0;
  for (const o of history) {
    last = Math.max(last, o.invokeAt);
    if (o.outcome === "ok") last = Math.max(last, o.completeAt);
  }
  const at = last + 1;
  const groups = groupByKey(history);
  const violations: Violation[] = [];
  for (const [key, value] of finalState) {
    const ops = groups.get(key) ?? [];
    // A counter's final read is its value in decimal (see history.ts).
    const read: GetOp = {
      op: "get",
      process: FINAL_READ_PROCESS,
      key,
      invokeAt: at,
      completeAt: at,
      outcome: "ok",
      result: value === undefined ? { found: false } : { found: true, value },
    };
    const o = keyOptions(opts, key);
    const r = checkKeyPinned([...ops, read], o, new Set([read]));
    if (r.ok) continue;
    let prefix = "";
    if (!r.inconclusive) {
      const without = checkKey(ops, { ...o, minimize: false });
      const lost = isCounterHistory(ops) ? "lost or extra increments" : "lost or resurrected write";
      prefix = without.ok
        ? `final read of ${JSON.stringify(key)} → ${fmtRead(read.result)} is inconsistent with the history (${lost})\n`
        : `history of ${JSON.stringify(key)} is not linearizable even without the final read\n`;
    }
    violations.push(toViolation(key, { ...r, message: prefix + r.message }));
  }
  return { violations };
}

function groupByKey(all: readonly Op[]): Map<string, Op[]> {
  const byKey = new Map<string, Op[]>();
  for (const o of all) {
    let list = byKey.get(o.key);
    if (list === undefined) byKey.set(o.key, (list = []));
    list.push(o);
  }
  return byKey;
}

function keyOptions(opts: HistoryCheckOptions, key: string): CheckOptions {
  const o: CheckOptions = { initial: opts.initial?.get(key) };
  if (opts.minimize !== undefined) o.minimize = opts.minimize;
  if (opts.maxSteps !== undefined) o.maxSteps = opts.maxSteps;
  if (opts.shrinkTimeMs !== undefined) o.shrinkTimeMs = opts.shrinkTimeMs;
  return o;
}

function toViolation(key: string, r: Exclude<KeyCheckResult, { ok: true }>): Violation {
  const v: Violation = { key, minimal: r.minimal, message: r.message };
  if (r.inconclusive) v.inconclusive = true;
  return v;
}

// ---------------------------------------------------------------------------------------
// Shrinking

/**
 * Shrink a failing history (whose search got no further than `frontier`) to a 1-minimal
 * one: drop chunks of halving size, then single ops until no single removal keeps it failing.
 * After each successful removal the history is also cut at the search's frontier: nothing
 * invoked after it was ever a candidate, so without those ops the search fails the same way.
 *
 * Removals must keep the history "explained", so that the witness shows the real conflict
 * rather than an op stripped of its cause: a kept read of a value keeps (one of) the writes
 * of that value, and a kept putIfAbsent → false or delete → ok (which need the key present)
 * keeps one of the writes invoked before it completed (unless there is an initial value).
 * A kept cas on a version keeps a getEntry that returned that version: the search needs it
 * (see `compile`), and it says which write the version names.
 * `pinned` ops are never removed.
 *
 * Stops early (returning a failing, not necessarily 1-minimal history) at `deadline`.
 */
function shrink(
  ops: readonly Op[],
  frontier: number,
  check: (ops: readonly Op[]) => number | null,
  opts: { deadline: number; pinned: ReadonlySet<Op>; hasInitial: boolean },
): { ops: Op[]; complete: boolean } {
  let cur = ops.slice().sort(byInvoke);
  const writes = cur.filter(mayHaveWritten);
  // For each op that needs a write (or, for a cas, a getEntry): the ops that can explain it.
  const needs = new Map<Op, Op[]>();
  for (const o of cur) {
    let ws: Op[] = [];
    const read = readValue(o);
    if (o.op === "cas" && o.ifVersion !== null) {
      const version = o.ifVersion;
      ws = cur.filter((g) => g.op === "getEntry" && g.outcome === "ok" && g.result?.found === true && g.result.version === version);
    } else if (o.outcome !== "ok") {
      continue;
    } else if (read !== undefined) {
      ws = writes.filter((w) => writtenValue(w) === read);
    } else if (!opts.hasInitial && (((o.op === "putIfAbsent" || o.op === "cas") && o.result === false) || (o.op === "delete" && o.result === "ok"))) {
      ws = writes.filter((w) => w.invokeAt <= o.completeAt);
    }
    if (ws.length > 0) needs.set(o, ws);
  }
  /** The ops to add so that every op of `cand` that needs one has one, and so on for those. */
  const missing = (cand: readonly Op[]): Op[] => {
    const kept = new Set(cand);
    const add: Op[] = [];
    const todo = cand.slice();
    for (let o = todo.pop(); o !== undefined; o = todo.pop()) {
      const ws = needs.get(o);
      if (ws !== undefined && !ws.some((w) => kept.has(w))) {
        const w = ws.findLast((x) => x.invokeAt <= o.completeAt) ?? ws[0]!;
        kept.add(w);
        add.push(w);
        todo.push(w);
      }
    }
    return add;
  };
  const admissible = (cand: readonly Op[]): boolean => {
    if (cand.length === 0 || missing(cand).length > 0) return false;
    const kept = new Set(cand);
    for (const p of opts.pinned) if (!kept.has(p)) return false;
    return true;
  };
  const accept = (cand: Op[], f: number): void => {
    cur = cand;
    const cut = cand.filter((o) => o.invokeAt <= f);
    if (cut.length === cand.length || !admissible(cut)) return;
    cur = cut;
  };
  const tryCand = (cand: Op[]): boolean => {
    if (!admissible(cand)) return false;
    const f = check(cand);
    if (f === null) return false;
    accept(cand, f);
    return true;
  };
  const late = (): boolean => performance.now() > opts.deadline;

  accept(cur, frontier);
  if (cur.length === ops.length) {
    // The cut dropped writes that kept ops need, or pinned ops: put them back, if that
    // still fails.
    const cut = [...cur.filter((o) => o.invokeAt <= frontier), ...opts.pinned];
    const back = new Set([...cut, ...missing(cut)]);
    if (back.size < cur.length) tryCand(cur.filter((o) => back.has(o)));
  }
  for (let chunk = Math.floor(cur.length / 2); chunk > 1; chunk = Math.floor(chunk / 2)) {
    for (let i = 0; i < cur.length; ) {
      if (late()) return { ops: cur, complete: false };
      if (!tryCand(cur.slice(0, i).concat(cur.slice(i + chunk)))) i += chunk;
    }
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = cur.length - 1; i >= 0; i--) {
      if (late()) return { ops: cur, complete: false };
      if (i < cur.length && tryCand(cur.slice(0, i).concat(cur.slice(i + 1)))) changed = true;
    }
  }
  return { ops: cur, complete: true };
}

// ---------------------------------------------------------------------------------------
// Formatting

function fmtState(c: Compiled, s: number): string {
  return s === 0 ? "absent" : s === UNREAD ? "a value no read returned" : JSON.stringify(c.values[s]);
}

function describeStuck(c: Compiled, best: number[], bestState: number): string {
  let state = fmtState(c, bestState);
  if (bestState === UNREAD) {
    const last = best.map((i) => c.orig[i]!).findLast(mayHaveWritten);
    if (last !== undefined) state = JSON.stringify(writtenValue(last));
  }
  const lines = [`longest linearizable prefix found (${best.length} ops), leaving state ${state}:`];
  for (const i of best) lines.push("    " + formatOp(c.orig[i]!));
  const done = new Set(best);
  const pending = c.orig.filter((o, i) => i < c.nOk && !done.has(i));
  lines.push(`  ops that must still be linearized, none of which fits next:`);
  for (const o of pending.sort(byInvoke)) lines.push("    " + formatOp(o));
  return lines.join("\n");
}
