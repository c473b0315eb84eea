/**
 * Recorded ops as text, one per line, for violation messages: shared by the register
 * checker (checker.ts), the counter checker and the version checks.
 */
import { FINAL_READ_PROCESS, type EntryResult, type Op, type ReadResult } from "./history.js";

export function fmtTime(t: number): string {
  return t === Infinity ? "∞" : Number.isInteger(t) ? String(t) : t.toFixed(3);
}

export function fmtRead(r: ReadResult | EntryResult | undefined): string {
  if (r === undefined) return "?";
  if (!r.found) return "absent";
  return "version" in r ? `${JSON.stringify(r.value)} @${r.version}` : JSON.stringify(r.value);
}

function fmtCall(o: Op): string {
  switch (o.op) {
    case "put":
    case "putIfAbsent":
      return `${o.op}(${JSON.stringify(o.key)}, ${JSON.stringify(o.value)})`;
    case "cas":
      return `cas(${JSON.stringify(o.key)}, ${JSON.stringify(o.value)}, @${o.ifVersion ?? "absent"})`;
    case "incr":
      return `incr(${JSON.stringify(o.key)}, ${o.delta})`;
    default:
      return `${o.op}(${JSON.stringify(o.key)})`;
  }
}

function fmtResult(o: Op): string {
  if (o.outcome !== "ok") return o.outcome;
  switch (o.op) {
    case "put":
      return "ok";
    case "putIfAbsent":
    case "cas":
    case "incr":
      return `→ ${String(o.result)}`;
    case "delete":
      return `→ ${o.result ?? "?"}`;
    case "get":
    case "pop":
    case "getEntry":
      return `→ ${fmtRead(o.result)}`;
  }
}

/** Invoke order; ties by completion (indeterminate last), then process. */
export function byInvoke(a: Op, b: Op): number {
  return a.invokeAt - b.invokeAt || (a.outcome === "ok" ? a.completeAt : Infinity) - (b.outcome === "ok" ? b.completeAt : Infinity) || a.process - b.process;
}

/** One op on one line: process, call, result or outcome, [invokeAt, completeAt]. */
export function formatOp(o: Op): string {
  const proc = o.process === FINAL_READ_PROCESS ? "final" : `p${o.process}`;
  const end = o.outcome === "indeterminate" ? "∞)" : `${fmtTime(o.completeAt)}]`;
  return `${proc.padEnd(5)} ${fmtCall(o).padEnd(34)} ${fmtResult(o).padEnd(16)} [${fmtTime(o.invokeAt)}, ${end}`;
}

/** The ops sorted by invoke time, one per line. */
export function formatHistory(ops: readonly Op[]): string {
  return ops
    .slice()
    .sort(byInvoke)
    .map((o) => "  " + formatOp(o))
    .join("\n");
}
