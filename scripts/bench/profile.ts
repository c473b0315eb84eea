/**
 * `--profile`: summarise the .cpuprofile files the nodes wrote (V8's `--cpu-prof`), as the
 * functions with the most self time per node.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  node: string;
  files: string[];
  /** Wall time covered by the profiles, ms (summed over runs). */
  totalMs: number;
  /** Time not idle (everything but "(idle)"), ms. */
  busyMs: number;
  top: { fn: string; where: string; selfMs: number; pctOfBusy: number }[];
  /** Self time per area: a package under node_modules, a folder of dist/src, node internals, native. */
  areas: { area: string; selfMs: number; pctOfBusy: number }[];
}

function areaOf(where: string, fn: string): string {
  if (where === "") return fn.startsWith("(") ? fn : "native (C++ / syscalls)";
  if (where.startsWith("node:")) return "node internals";
  const src = where.match(/^dist\/src\/([^/:]+)/);
  if (src) return `shardict ${src[1]}`;
  if (/^(@[^/]+\/)?[^/:]+\//.test(where) && !where.startsWith("/")) return where.match(/^((?:@[^/]+\/)?[^/:]+)/)?.[1] ?? where;
  return "other";
}

/** The .cpuprofile files in `dir` whose pid is one of `pids` (file names carry the pid). */
export function profilesIn(dir: string, pids: Map<number, string>): { node: string; file: string }[] {
  if (!existsSync(dir)) return [];
  const out: { node: string; file: string }[] = [];
  for (const f of readdirSync(dir)) {
    const m = f.match(/^CPU\.\d+\.\d+\.(\d+)\.\d+\.\d+\.cpuprofile$/);
    if (!m) continue;
    out.push({ node: pids.get(Number(m[1])) ?? `pid ${m[1]}`, file: join(dir, f) });
  }
  return out;
}

function shortUrl(url: string, root: string): string {
  const path = url.replace(/^file:\/\//, "");
  if (path === "") return "";
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) return path.slice(nm + "/node_modules/".length);
  return path.startsWith(root) ? relative(root, path) : path;
}

/** Self time per function, aggregated over every file of each node. */
export function summarise(files: { node: string; file: string }[], root: string, topN = 12): ProfileSummary[] {
  const byNode = new Map<string, { files: string[]; total: number; self: Map<string, { fn: string; where: string; us: number }> }>();
  for (const { node, file } of files) {
    let prof: CpuProfile;
    try {
      prof = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
    } catch {
      continue;
    }
    let acc = byNode.get(node);
    if (!acc) byNode.set(node, (acc = { files: [], total: 0, self: new Map() }));
    acc.files.push(file);
    acc.total += prof.endTime - prof.startTime;
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const samples = prof.samples ?? [];
    const deltas = prof.timeDeltas ?? [];
    // timeDeltas[i + 1] is the time from sample i to sample i + 1: sample i's duration.
    for (let i = 0; i < samples.length; i++) {
      const n = byId.get(samples[i] as number);
      if (!n) continue;
      const us = deltas[i + 1] ?? 0;
      const fn = n.callFrame.functionName || "(anonymous)";
      const where = n.callFrame.url ? `${shortUrl(n.callFrame.url, root)}:${n.callFrame.lineNumber + 1}` : "";
      const key = `${fn}\u0000${where}`;
      const e = acc.self.get(key);
      if (e) e.us += us;
      else acc.self.set(key, { fn, where, us });
    }
  }
  const out: ProfileSummary[] = [];
  for (const [node, acc] of [...byNode].sort((a, b) => a[0].localeCompare(b[0]))) {
    const all = [...acc.self.values()];
    const idle = all.filter((e) => e.fn === "(idle)").reduce((s, e) => s + e.us, 0);
    const busy = all.reduce((s, e) => s + e.us, 0) - idle;
    const top = all
      .filter((e) => e.fn !== "(idle)")
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.us / 1000, pctOfBusy: busy > 0 ? (100 * e.us) / busy : 0 }));
    const areas = new Map<string, number>();
    for (const e of all) if (e.fn !== "(idle)") areas.set(areaOf(e.where, e.fn), (areas.get(areaOf(e.where, e.fn)) ?? 0) + e.us);
    const byArea = [...areas]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, selfMs: us / 1000, pctOfBusy: busy > 0 ? (100 * us) / busy : 0 }));
    out.push({ node, files: acc.files, totalMs: acc.total / 1000, busyMs: busy / 1000, top, areas: byArea });
  }
  return out;
}
