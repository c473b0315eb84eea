/**
 * `shardict cluster status` as text: the shards with their state and counts, the
 * rebalancing progress, and the moves running now, each with a progress bar.
 */
import cliProgress from "cli-progress";
import type { ClusterStatus } from "../coordinator/coordinator-node.js";

const BAR = 24;

/** A bar like `████████░░░░` for a fraction from 0 to 1 (cli-progress's own formatter). */
export function bar(fraction: number, size = BAR): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  return cliProgress.Format.BarFormat(f, { barsize: size, barCompleteString: "█".repeat(size), barIncompleteString: "░".repeat(size), barGlue: "" });
}

function pad(s: string | number, n: number, right = false): string {
  const t = String(s);
  return right ? t.padStart(n) : t.padEnd(n);
}

export function renderStatus(s: ClusterStatus): string {
  const out: string[] = [];
  out.push(`epoch ${s.epoch}, ${s.partitions} partitions, replication factor ${s.replicationFactor}, ${s.dicts} dicts`);
  const { done, pending, moving } = s.rebalance;
  if (pending === 0) out.push("partitions: all in place");
  else out.push(`rebalancing: ${bar(done / s.partitions)} ${Math.floor((100 * done) / s.partitions)}%  ${done}/${s.partitions} partitions in place, ${moving} moving`);
  out.push("");
  const idW = Math.max(5, ...s.shards.map((x) => x.id.length));
  out.push(`  ${pad("SHARD", idW)}  ${pad("STATE", 11)}  ${pad("HEALTH", 12)}  ${pad("PRIMARIES", 9, true)}  ${pad("REPLICAS", 8, true)}  ${pad("ENTRIES", 10, true)}  URL`);
  for (const x of s.shards) {
    const entries = x.entries === null ? "?" : String(x.entries);
    out.push(`  ${pad(x.id, idW)}  ${pad(x.state, 11)}  ${pad(x.health, 12)}  ${pad(x.partitions, 9, true)}  ${pad(x.replicas, 8, true)}  ${pad(entries, 10, true)}  ${x.url}`);
  }
  if (s.moves.length > 0) {
    out.push("", "moves in progress:");
    for (const m of s.moves) {
      const frac = m.total > 0 ? m.done / m.total : m.phase === "handing off" ? 1 : 0;
      const what = m.phase === "copying" ? `${m.done}/${m.total} entries` : "waiting for the flip";
      out.push(`  partition ${pad(m.part, 5, true)}  ${pad(m.from, idW)} → ${pad(m.to, idW)}  ${pad(m.phase, 11)}  ${bar(frac, 16)}  ${what}`);
    }
  }
  return out.join("\n");
}
