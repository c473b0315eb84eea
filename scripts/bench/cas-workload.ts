/**
 * The `cas` workload: contenders (one connection each) race on one key, each adding 1 by a
 * compare-and-set loop until it has made its share of `updates` successful updates. Timed:
 * updates per second, the latency of a successful call (its retries and backoff included),
 * CPU per successful update, and the conflicts: attempts − successful updates (an attempt is
 * one read and one conditional write; a call that gave up after its attempts is counted in
 * `gaveUp` and its attempts are all conflicts). Then the key is read back: it must equal
 * `updates`.
 */
import { createHistogram } from "node:perf_hooks";
import { cpuMicros, stats, type LatencyStats } from "./measure.js";
import type { Target } from "./systems.js";

export interface CasStats extends LatencyStats {
  clients: number;
  attempts: number;
  conflicts: number;
  /** Conflicts per successful update. */
  conflictsPerUpdate: number;
  /** Calls that ran out of attempts (ConflictError / the redis loop's equivalent). */
  gaveUp: number;
  /** The key's value read back after the timed loop (untimed): must equal `ops`. */
  final: number;
}

export async function casWorkload(target: Target, key: string, updates: number, clients: number, pids: () => number[]): Promise<CasStats> {
  const contenders = await target.contenders(clients);
  try {
    const hist = createHistogram();
    let attempts = 0;
    let gaveUp = 0;
    const ps = pids();
    const cpu0 = ps.reduce((s, p) => s + cpuMicros(p), 0);
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      contenders.map(async (c, lane) => {
        const share = Math.floor(updates / clients) + (lane < updates % clients ? 1 : 0);
        for (let done = 0; done < share; ) {
          const s = performance.now();
          const o = await c.increment(key);
          attempts += o.attempts;
          if (!o.ok) {
            // Livelock guard: something is wrong if calls give up more often than they succeed.
            if (++gaveUp > updates) throw new Error(`cas: ${gaveUp} calls gave up after ${attempts} attempts`);
            continue;
          }
          hist.record(Math.max(1, Math.round((performance.now() - s) * 1000)));
          done++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = ps.reduce((s, p) => s + cpuMicros(p), 0) - cpu0;
    const client = process.cpuUsage(client0);
    const final = (await target.counters([key]))[0] ?? 0;
    const conflicts = attempts - updates;
    return { ...stats(hist, updates, seconds, cpu, client.user + client.system), clients, attempts, conflicts, conflictsPerUpdate: conflicts / updates, gaveUp, final };
  } finally {
    for (const c of contenders) c.close();
  }
}
