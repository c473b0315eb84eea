/**
 * The `incr` workload: `ops` atomic increments by 1 (`Dict.incr` / `INCRBY`), `inFlight` at a
 * time, on one hot key or spread uniformly (seeded) over many; then every counter is read
 * back, and their sum must equal the increments done.
 */
import { closedLoop, type LatencyStats } from "./measure.js";
import type { Target } from "./systems.js";

export interface IncrStats extends LatencyStats {
  keys: number;
  /** The sum of the counters read back after the timed loop (untimed): must equal `ops`. */
  sum: number;
}

export async function incrWorkload(target: Target, keys: string[], ops: number, inFlight: number, random: () => number, pids: () => number[]): Promise<IncrStats> {
  const pick = new Uint32Array(ops);
  if (keys.length > 1) for (let i = 0; i < ops; i++) pick[i] = Math.floor(random() * keys.length);
  const stats = await closedLoop(ops, inFlight, (i) => target.incr(keys[pick[i] as number] as string), pids);
  const values = await target.counters(keys);
  return { ...stats, keys: keys.length, sum: values.reduce((s, v) => s + v, 0) };
}
