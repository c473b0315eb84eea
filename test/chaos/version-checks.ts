/**
 * What the getEntry reads of one register key say about versions: each version names one
 * write, and each write keeps one version. Every write's value is unique (history.ts), so a
 * write is named here by its value.
 *
 * The register checker needs both before it can model a cas: "the current version is v"
 * means "the state is the value read with v" only if v names one write (a version reused by
 * a later write would let a cas on the stale version succeed) and that write is always read
 * with v (a write whose version changed would refuse a cas on the version it was read with,
 * though nothing was written since).
 */
import type { GetEntryOp, Op } from "./history.js";

export type VersionCheck = { ok: true } | { ok: false; message: string; witness: Op[] };

type FoundEntry = GetEntryOp & { result: { found: true; value: string; version: string } };

function foundEntries(ops: readonly Op[]): FoundEntry[] {
  return ops.filter((o): o is FoundEntry => o.op === "getEntry" && o.outcome === "ok" && o.result?.found === true);
}

/** The value each version was read with (the first one, if the key fails `checkVersions`). */
export function versionValues(ops: readonly Op[]): Map<string, string> {
  const values = new Map<string, string>();
  for (const o of foundEntries(ops)) if (!values.has(o.result.version)) values.set(o.result.version, o.result.value);
  return values;
}

/** The key's ok getEntry reads: no version with two values, no value with two versions. */
export function checkVersions(ops: readonly Op[]): VersionCheck {
  const byVersion = new Map<string, FoundEntry>();
  const byValue = new Map<string, FoundEntry>();
  // The writes of a value, so the witness shows what the two reads read.
  const writersOf = (value: string): Op[] => ops.filter((w) => (w.op === "put" || w.op === "putIfAbsent" || w.op === "cas") && w.value === value);
  for (const o of foundEntries(ops)) {
    const { value, version } = o.result;
    const sameVersion = byVersion.get(version);
    if (sameVersion !== undefined && sameVersion.result.value !== value) {
      const other = sameVersion.result.value;
      return {
        ok: false,
        message: `version ${version} was read with two different writes (${JSON.stringify(other)} and ${JSON.stringify(value)}): a version was reused`,
        witness: [sameVersion, o, ...writersOf(other), ...writersOf(value)],
      };
    }
    const sameValue = byValue.get(value);
    if (sameValue !== undefined && sameValue.result.version !== version) {
      return {
        ok: false,
        message: `the write of ${JSON.stringify(value)} was read with two versions (${sameValue.result.version} and ${version}): a cas on the first would be refused while that write is current`,
        witness: [sameValue, o, ...writersOf(value)],
      };
    }
    byVersion.set(version, o);
    byValue.set(value, o);
  }
  return { ok: true };
}
