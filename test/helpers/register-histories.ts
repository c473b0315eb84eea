/**
 * Register histories for the checker's unit tests: a generator of linearizable ones from a
 * simulated register (versions included), and a brute-force reference that tries every
 * order (small histories only).
 */
import { ABSENT, present, type GetEntryOp, type Op, type Outcome, type ReadResult } from "../chaos/history.js";

export const rr = (v: string | undefined): ReadResult => (v === undefined ? ABSENT : present(v));

/**
 * Whether the history is linearizable, by trying every order. A cas on a version expects the
 * value some ok getEntry of the history returned with that version (the checker's model).
 */
export function bruteForce(history: Op[], initial?: string): boolean {
  const ops = history.filter((o) => o.outcome === "ok" || (o.outcome === "indeterminate" && o.op !== "get" && o.op !== "getEntry"));
  const versions = new Map<string, string>();
  for (const o of history) if (o.op === "getEntry" && o.outcome === "ok" && o.result?.found === true) versions.set(o.result.version, o.result.value);
  const apply = (o: Op, s: string | undefined): { s: string | undefined } | null => {
    const ok = o.outcome === "ok";
    const same = (r: ReadResult | undefined) => !ok || (r !== undefined && (r.found ? r.value === s : s === undefined));
    switch (o.op) {
      case "put":
        return { s: o.value };
      case "putIfAbsent":
        if (!ok) return { s: s ?? o.value };
        return o.result === (s === undefined) ? { s: s ?? o.value } : null;
      case "pop":
        return same(o.result) ? { s: undefined } : null;
      case "delete":
        return !ok || (o.result === "ok") === (s !== undefined) ? { s: undefined } : null;
      case "get":
      case "getEntry":
        return same(o.result) ? { s } : null;
      case "cas": {
        const holds = o.ifVersion === null ? s === undefined : s !== undefined && versions.get(o.ifVersion) === s;
        if (!ok) return { s: holds ? o.value : s };
        return o.result === holds ? { s: holds ? o.value : s } : null;
      }
      case "incr":
        throw new TypeError("bruteForce: incr on a register");
    }
  };
  return someOrder(ops, initial, apply);
}

/**
 * Whether some order of `ops` that respects real time (an ok op that finished before
 * another began comes first) is accepted by `apply` from `initial`, with every ok op in it
 * (indeterminate ops may be left out). Exponential: small histories only.
 */
export function someOrder<S>(ops: readonly Op[], initial: S, apply: (o: Op, s: S) => { s: S } | null): boolean {
  const nOk = ops.filter((o) => o.outcome === "ok").length;
  const used = new Array<boolean>(ops.length).fill(false);
  const end = (o: Op) => (o.outcome === "ok" ? o.completeAt : Infinity);
  const dfs = (s: S, done: number): boolean => {
    if (done === nOk) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      const o = ops[i]!;
      // Every unused ok op that finished strictly before o was invoked must come first.
      if (ops.some((x, j) => !used[j] && j !== i && end(x) < o.invokeAt)) continue;
      const r = apply(o, s);
      if (!r) continue;
      used[i] = true;
      const found = dfs(r.s, done + (o.outcome === "ok" ? 1 : 0));
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return dfs(initial, 0);
}

export interface GenOpts {
  processes: number;
  opsPerProcess: number;
  indeterminateRate?: number;
  failRate?: number;
  /** Widen intervals to integer times, producing ties (equal times are concurrent). */
  integerTimes?: boolean;
  key?: string;
  /**
   * Also getEntry and cas ops; a cas uses the version its process's last getEntry returned
   * (null if that found nothing, or did not complete), as the chaos workload does.
   */
  cas?: boolean;
}

/** A linearizable history: each op takes effect at a random point inside its interval. */
export function generate(rand: () => number, g: GenOpts): Op[] {
  const key = g.key ?? "k";
  const planned: { op: Op; lin: number; effective: boolean }[] = [];
  // For each cas: the getEntry its version comes from (its process's last before it).
  const entryOf = new Map<Op, GetEntryOp | undefined>();
  let seq = 0;
  for (let p = 0; p < g.processes; p++) {
    let t = rand() * 5;
    let lastEntry: GetEntryOp | undefined;
    for (let j = 0; j < g.opsPerProcess; j++) {
      const dur = 0.5 + rand() * 8;
      let invokeAt = t;
      let completeAt = t + dur;
      let lin = invokeAt + rand() * dur;
      if (g.integerTimes) {
        invokeAt = Math.floor(invokeAt);
        completeAt = Math.ceil(completeAt);
      }
      const r = rand();
      const outcome: Outcome = r < (g.failRate ?? 0) ? "failed" : r < (g.failRate ?? 0) + (g.indeterminateRate ?? 0) ? "indeterminate" : "ok";
      // An indeterminate op may take effect long after the client gave up, or never.
      let effective = outcome !== "failed";
      if (outcome === "indeterminate") {
        lin = invokeAt + rand() * dur * 4;
        effective = rand() < 0.5;
      }
      const k = rand();
      const b = { process: p, key, invokeAt, completeAt, outcome };
      const value = `c${p}-${seq++}`;
      let op: Op;
      // With cas, a getEntry is mostly followed by a cas, as in a read-modify-write.
      const followUp = g.cas === true && planned.at(-1)?.op === lastEntry && lastEntry !== undefined && rand() < 0.7;
      if (followUp) {
        op = { op: "cas", value, ifVersion: null, ...b };
        entryOf.set(op, lastEntry);
      } else if (!g.cas) {
        op = k < 0.35 ? { op: "put", value, ...b } : k < 0.5 ? { op: "putIfAbsent", value, ...b } : k < 0.6 ? { op: "pop", ...b } : k < 0.7 ? { op: "delete", ...b } : { op: "get", ...b };
      } else if (k < 0.2) op = { op: "put", value, ...b };
      else if (k < 0.3) op = { op: "putIfAbsent", value, ...b };
      else if (k < 0.37) op = { op: "pop", ...b };
      else if (k < 0.44) op = { op: "delete", ...b };
      else if (k < 0.55) op = { op: "get", ...b };
      else if (k < 0.75) op = lastEntry = { op: "getEntry", ...b };
      else {
        op = { op: "cas", value, ifVersion: null, ...b };
        entryOf.set(op, lastEntry);
      }
      planned.push({ op, lin, effective });
      t = completeAt + rand() * 3;
    }
  }
  // The version a cas names, once its getEntry has run (it completed before the cas began).
  const versionFor = (o: Op): string | null => {
    const e = entryOf.get(o);
    return e?.outcome === "ok" && e.result?.found === true ? e.result.version : null;
  };
  let state: { value: string; version: string } | undefined;
  let versions = 0;
  const write = (value: string) => (state = { value, version: `v${++versions}` });
  for (const { op, effective } of planned.slice().sort((a, b) => a.lin - b.lin)) {
    if (!effective) continue;
    const ok = op.outcome === "ok";
    switch (op.op) {
      case "put":
        write(op.value);
        break;
      case "putIfAbsent":
        if (ok) op.result = state === undefined;
        if (state === undefined) write(op.value);
        break;
      case "pop":
        if (ok) op.result = rr(state?.value);
        state = undefined;
        break;
      case "delete":
        if (ok) op.result = state === undefined ? "KeyError" : "ok";
        state = undefined;
        break;
      case "get":
        if (ok) op.result = rr(state?.value);
        break;
      case "getEntry":
        if (ok) op.result = state === undefined ? { found: false } : { found: true, ...state };
        break;
      case "cas": {
        op.ifVersion = versionFor(op);
        const holds = op.ifVersion === null ? state === undefined : state?.version === op.ifVersion;
        if (ok) op.result = holds;
        if (holds) write(op.value);
        break;
      }
      case "incr":
        break;
    }
  }
  for (const { op } of planned) if (op.op === "cas") op.ifVersion = versionFor(op);
  return planned.map((x) => x.op);
}
