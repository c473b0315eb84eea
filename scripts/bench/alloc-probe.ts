/**
 * `--alloc`: preloaded into each node (`node --import`), it counts what the node allocates
 * between two SIGUSR2s with V8's sampling heap profiler, objects already collected by the
 * young and old generation's GCs included (without them, a sampling profile shows only what
 * is still alive: almost none of a request's garbage). On the second signal it writes
 * `alloc-<pid>-<n>.json` in $SHARDICT_ALLOC_DIR: the bytes sampled and the functions that
 * allocated the most. The bench divides by the operations done in between.
 *
 * Sampling every 256 bytes slows the node several times over: runs with it measure bytes,
 * never speed.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

interface SampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: SampleNode[];
}

export interface AllocReport {
  pid: number;
  bytes: number;
  /** The functions that allocated the most, by self size. */
  top: { fn: string; bytes: number }[];
}

const dir = process.env.SHARDICT_ALLOC_DIR;
let session: Session | undefined;
let seq = 0;

function where(url: string, line: number): string {
  if (url === "") return "";
  const nm = url.lastIndexOf("/node_modules/");
  const short = nm >= 0 ? url.slice(nm + "/node_modules/".length) : url.replace(/^.*\/dist\//, "").replace(/^file:\/\//, "");
  return `${short}:${line + 1}`;
}

function summarise(head: SampleNode): AllocReport {
  const byFn = new Map<string, number>();
  let bytes = 0;
  const stack = [head];
  for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
    if (n.selfSize > 0) {
      const name = `${n.callFrame.functionName || "(anonymous)"} ${where(n.callFrame.url, n.callFrame.lineNumber)}`.trim();
      byFn.set(name, (byFn.get(name) ?? 0) + n.selfSize);
      bytes += n.selfSize;
    }
    for (const c of n.children ?? []) stack.push(c);
  }
  const top = [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([fn, b]) => ({ fn, bytes: b }));
  return { pid: process.pid, bytes, top };
}

if (dir !== undefined) {
  process.on("SIGUSR2", () => {
    if (session === undefined) {
      const s = new Session();
      s.connect();
      session = s;
      s.post("HeapProfiler.startSampling", { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return;
    }
    const s = session;
    session = undefined;
    s.post("HeapProfiler.stopSampling", (err, res) => {
      // The session is let go at once: a connected one keeps the node from exiting.
      s.disconnect();
      const report: AllocReport = err ? { pid: process.pid, bytes: -1, top: [] } : summarise(res.profile.head as SampleNode);
      writeFileSync(join(dir, `alloc-${process.pid}-${seq++}.json`), JSON.stringify(report));
    });
  });
}
