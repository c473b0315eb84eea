/**
 * What "the node survived" means in the hostile-input suite: its process is alive, its peak
 * memory stayed under a stated bound, the coordinator never suspected it (no failover), and it
 * answers a normal put and get.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fixturePath } from "../../helpers/child.js";
import { expect } from "vitest";
import { Dict, type Client } from "../../../src/index.js";
import type { TestCluster } from "../../helpers/test-cluster.js";

/** The memory every attack must stay under, per node (a node at rest uses about 100 MiB). */
export const MEMORY_BOUND_MIB = 640;

/** A field of /proc/<pid>/status, in MiB (VmRSS: now; VmHWM: the peak since the process started). */
export function memoryMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

export function pidOf(tc: TestCluster, node: string): number {
  const pid = tc.cluster.pidOf(node);
  if (pid === undefined) throw new Error(`${node} is not running`);
  return pid;
}

/**
 * The node is alive (same process as before the attack), stayed under the memory bound, was
 * never suspected by the coordinator since `logsBefore` lines, and serves a put and a get.
 */
export async function expectHealthy(tc: TestCluster, client: Client, node: string, pid: number, logsBefore: number): Promise<number> {
  expect(tc.cluster.pidOf(node), `${node} was restarted or died`).toBe(pid);
  const peak = memoryMiB(pid, "VmHWM");
  expect(peak, `${node} peak memory ${peak.toFixed(0)} MiB`).toBeLessThan(MEMORY_BOUND_MIB);
  const since = tc.logs.slice(logsBefore);
  expect(since.filter((l) => /is suspect|failover of/.test(l))).toEqual([]);
  const d = Dict.fromName("health", { createIfMissing: true, client });
  const key = `after-${logsBefore}`;
  await d.put(key, "fine");
  expect(await d.get(key)).toBe("fine");
  return peak;
}

/**
 * Round trips to a node while an attack runs: a `table.get` every 20 ms on a connection of
 * its own, from a process of its own (test/fixtures/latency-probe.mjs: the attacker's work in
 * this process, building and sending a 104 MB message, must not count as the node's). The
 * longest one bounds how long the node's event loop was blocked (a heartbeat waits as long),
 * which must stay well under the time after which the coordinator suspects it.
 */
export async function probeLatency(url: string): Promise<{ stop(): Promise<number> }> {
  const child = spawn(process.execPath, [fixturePath("latency-probe.mjs"), url], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      lines.once("line", resolve);
      child.once("exit", (code) => reject(new Error(`the latency probe exited (${String(code)}): ${stderr}`)));
    });
  const ready = await next();
  if (ready !== "ready") throw new Error(`the latency probe said ${ready}`);
  return {
    async stop() {
      const worst = next();
      child.stdin.end();
      return Number(await worst);
    },
  };
}
