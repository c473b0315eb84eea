/**
 * One chaos run: a cluster behind fault-injecting proxies, filler data so that partition
 * moves take a while, watchers (watch-run.ts), clients running the workload, faults from the
 * table on a seeded schedule, then healing and settling (every move done), a final read of
 * every key, the linearizability check of every key's history, and the check of every
 * watcher's stream against it.
 */
import { Dict, connect } from "../../src/index.js";
import { clientOf, type ClusterClient } from "../../src/client/client.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { partitionOf } from "../../src/hashing/hash.js";
import { mulberry32 } from "../helpers/prng.js";
import { waitUntil } from "../helpers/wait.js";
import { ChaosCluster } from "./chaos-cluster.js";
import { checkHistory, checkNoLostWrites, formatHistory, type Violation } from "./checker.js";
import type { Op } from "./history.js";
import { FAULTS, type Fault } from "./faults.js";
import { counterName, counterText, keyName, startWorkload } from "./workload.js";
import { WatchRun, watchLines, watchViolations, type WatchResult } from "./watch-run.js";

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  clients?: number;
  keys?: number;
  /** Counter keys (incr), besides the `keys` registers. */
  counters?: number;
  /**
   * The workload clients' retry budget (default 4 s). Shorter than a fault lasts, requests
   * give up during it: writes end indeterminate, which the checker must then account for.
   */
  retryBudgetMs?: number;
  replicationFactor?: number;
  /** Restrict the fault table (by name). */
  faults?: readonly string[];
  log?: (line: string) => void;
}

export interface FaultEvent {
  fault: string;
  target: string;
  injectAt: number;
  healAt: number;
  /** Longest time, from injection until 10 s after healing, without a successful op on an affected key. */
  unavailableMs: number;
}

export interface ChaosResult {
  seed: number;
  operations: number;
  ok: number;
  failed: number;
  indeterminate: number;
  lenCalls: number;
  events: FaultEvent[];
  violations: Violation[];
  problems: string[];
  /** The recorded history and the final reads, for re-checking. */
  history: Op[];
  finalState: Map<string, string | undefined>;
  /** The watchers' streams and their checks. */
  watch: WatchResult;
}

/** Entries of the filler dict, written in chunks of, each of about this many bytes. */
const FILLER_ENTRIES = 20_000;
const FILLER_CHUNK = 1_000;
const FILLER_VALUE_BYTES = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Longest gap between successful ops on `keys` within [from, to]. */
function longestGap(okTimes: Map<string, number[]>, keys: readonly string[], from: number, to: number): number {
  const times = keys.flatMap((k) => okTimes.get(k) ?? []).filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let prev = from;
  let worst = 0;
  for (const t of times) {
    worst = Math.max(worst, t - prev);
    prev = t;
  }
  return Math.max(worst, to - prev);
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? (() => {});
  const rand = mulberry32(opts.seed);
  const keys = opts.keys ?? 8;
  const counters = opts.counters ?? 4;
  const faults = FAULTS.filter((f) => !opts.faults || opts.faults.includes(f.name));
  if (faults.length === 0 && opts.durationMs > 0) throw new Error(`no fault matches ${JSON.stringify(opts.faults)}`);
  const chaos = await ChaosCluster.start({ seed: opts.seed, replicationFactor: opts.replicationFactor ?? 1, log: (l) => log(l) });
  const clients: ClusterClient[] = [];
  let watch: WatchRun | undefined;
  try {
    for (let i = 0; i < (opts.clients ?? 8); i++) clients.push(clientOf(await connect({ url: chaos.url, retryBudgetMs: opts.retryBudgetMs ?? 4_000 })));
    const setup = clients[0] as ClusterClient;
    const dict = await Dict.objects.create("chaos", { client: setup });
    const counterNames = new Set(Array.from({ length: counters }, (_, i) => counterName(i)));
    const keyNames = [...Array.from({ length: keys }, (_, i) => keyName(i)), ...counterNames];

    // Filler entries in another dict, so that every partition holds a few hundred and a
    // move takes long enough to be caught in the middle.
    const filler = Dict.fromName<string>("filler", { createIfMissing: true, client: setup });
    for (let c = 0; c < FILLER_ENTRIES / FILLER_CHUNK; c++) {
      const chunk = new Map<string, string>();
      for (let i = c * FILLER_CHUNK; i < (c + 1) * FILLER_CHUNK; i++) chunk.set(`filler-${i}`, `filler value ${i} `.padEnd(FILLER_VALUE_BYTES, "."));
      await filler.update(chunk);
    }

    // Every watcher has started before the load does: each must show all of its changes.
    watch = await WatchRun.start({ url: chaos.url, dict: "chaos", keys: keyNames, counters: counterNames, setup: Dict.fromName<unknown>("chaos", { client: setup }), log });
    const load = startWorkload(clients, "chaos", { keys, counters, seed: opts.seed });
    const handOff = watch.handOff(opts.seed, opts.durationMs);
    const events: FaultEvent[] = [];
    const end = performance.now() + opts.durationMs;
    await sleep(500);
    while (performance.now() < end) {
      // The same seed picks the same faults (a fault that cannot run now is passed over:
      // what can run depends only on the faults before it, each healed in full).
      let fault: Fault | undefined;
      let target = "";
      for (let attempt = 0; attempt < 100 && !fault; attempt++) {
        const f = faults[Math.floor(rand() * faults.length)] as Fault;
        const t = f.on === "shard" ? (chaos.shardIds[Math.floor(rand() * chaos.shardIds.length)] as string) : f.on;
        if (!f.canInject || f.canInject(chaos, t)) [fault, target] = [f, t];
      }
      if (!fault) throw new Error(`no fault of ${faults.map((f) => f.name).join(", ")} can be injected with members ${chaos.shardIds.join(", ")}`);
      // A fault's own choices come from its own generator: how many it draws changes nothing else.
      const faultRand = mulberry32(Math.floor(rand() * 2 ** 32));
      const injectAt = performance.now();
      log(`chaos: inject ${fault.name}${fault.on === "self" ? "" : ` on ${target}`}`);
      const injected = await fault.inject(chaos, target, { rand: faultRand, log });
      target = injected.target ?? target;
      await sleep(500 + rand() * 2000);
      await injected.heal();
      const healAt = performance.now();
      log(`chaos: healed ${fault.name} on ${target}`);
      events.push({ fault: fault.name, target, injectAt, healAt, unavailableMs: 0 });
      await sleep(500 + rand() * 1500);
    }
    // Let the last fault's effects settle while the load goes on, then stop the clients.
    await sleep(2_000);
    await load.stop();
    const stoppedAt = performance.now();
    await handOff;
    // Every move done and every member serving, so the final reads see the settled cluster.
    await chaos.waitSettled();

    // Every node is back: read every key once more, retrying until the cluster answers.
    // Counters are recorded as their value in decimal, as the workload's reads of them are.
    const finalState = new Map<string, string | undefined>();
    const reader = clientOf(await connect({ url: chaos.url }));
    clients.push(reader);
    for (const key of keyNames) {
      const value = await waitUntil(
        async () => ({ v: await Dict.fromName<unknown>("chaos", { client: reader }).get(key) }),
        { what: `a final read of ${key}`, timeoutMs: 30_000 },
      );
      finalState.set(key, counterNames.has(key) ? counterText(value.v) : (value.v as string | undefined));
    }
    await watch.catchUp(Dict.fromName<unknown>("chaos", { client: reader }), performance.now());
    await watch.stop();
    // Ownership as the final table has it (the reader connected once the cluster settled):
    // a shard that is no longer a member owns none of the keys.
    const ownerOf = (key: string) => reader.table.primaryOf(partitionOf(dict.objectId, encodeKey(key), reader.table.partitions));
    for (const e of events) {
      const affected = e.target === "coordinator" ? keyNames : keyNames.filter((k) => ownerOf(k) === e.target);
      e.unavailableMs = affected.length ? longestGap(load.okTimes, affected, e.injectAt, Math.min(e.healAt + 10_000, stoppedAt)) : 0;
    }
    const history = [...watch.startMarks.history(), ...load.recorder.history()];
    const violations = [...checkHistory(history).violations];
    const seen = new Set(violations.map((v) => v.key));
    for (const v of checkNoLostWrites(history, finalState).violations) if (!seen.has(v.key)) violations.push(v);
    return {
      seed: opts.seed,
      operations: history.length + load.counts.len,
      ok: history.filter((o) => o.outcome === "ok").length,
      failed: history.filter((o) => o.outcome === "failed").length,
      indeterminate: history.filter((o) => o.outcome === "indeterminate").length,
      lenCalls: load.counts.len,
      events,
      violations,
      problems: load.problems,
      history,
      finalState,
      watch: watch.check(history, finalState),
    };
  } finally {
    await watch?.stop();
    for (const c of clients) c.close();
    await chaos.stop();
  }
}

/** Per op type: ok / failed / indeterminate (an update counts once per key). */
function opTable(history: readonly Op[]): string[] {
  const by = new Map<string, { ok: number; failed: number; indeterminate: number; yes: number }>();
  for (const o of history) {
    let c = by.get(o.op);
    if (c === undefined) by.set(o.op, (c = { ok: 0, failed: 0, indeterminate: 0, yes: 0 }));
    c[o.outcome]++;
    if (o.outcome === "ok" && (o.op === "cas" || o.op === "putIfAbsent") && o.result === true) c.yes++;
  }
  const lines = ["by type              ok   failed   indeterminate"];
  for (const [op, c] of [...by].sort(([a], [b]) => a.localeCompare(b))) {
    const wrote = op === "cas" || op === "putIfAbsent" ? `   (${c.yes} wrote, ${c.ok - c.yes} refused)` : "";
    lines.push(`  ${op.padEnd(14)} ${String(c.ok).padStart(6)} ${String(c.failed).padStart(8)} ${String(c.indeterminate).padStart(15)}${wrote}`);
  }
  return lines;
}

/** The counters' final values against their increments (checked per key by the checker). */
function counterLine(results: readonly ChaosResult[]): string {
  let acked = 0;
  let indeterminate = 0;
  let final = 0;
  let keys = 0;
  for (const r of results) {
    const counterKeys = new Set(r.history.filter((o) => o.op === "incr").map((o) => o.key));
    keys += counterKeys.size;
    for (const o of r.history) {
      if (o.op !== "incr") continue;
      if (o.outcome === "ok") acked += o.delta;
      else if (o.outcome === "indeterminate") indeterminate += o.delta;
    }
    for (const k of counterKeys) final += Number(r.finalState.get(k) ?? 0);
  }
  return `counters: ${keys} keys, final values sum to ${final}: ${acked} acknowledged increments + ${final - acked} of ${indeterminate} indeterminate`;
}

/** A printable summary of several runs: the table `npm run chaos` prints. */
export function summarize(results: readonly ChaosResult[]): string {
  const lines: string[] = [];
  const sum = (f: (r: ChaosResult) => number) => results.reduce((a, r) => a + f(r), 0);
  lines.push(`seeds: ${results.map((r) => r.seed).join(", ")}`);
  lines.push(`operations: ${sum((r) => r.operations)} (ok ${sum((r) => r.ok)}, failed ${sum((r) => r.failed)}, indeterminate ${sum((r) => r.indeterminate)}, len ${sum((r) => r.lenCalls)})`);
  lines.push(...opTable(results.flatMap((r) => r.history)));
  lines.push(counterLine(results));
  lines.push(...watchLines(results));
  const byFault = new Map<string, { count: number; worst: number }>();
  for (const r of results) {
    for (const e of r.events) {
      const s = byFault.get(e.fault) ?? { count: 0, worst: 0 };
      s.count++;
      s.worst = Math.max(s.worst, e.unavailableMs);
      byFault.set(e.fault, s);
    }
  }
  lines.push("faults injected            count   longest unavailability of affected keys");
  for (const [name, s] of byFault) lines.push(`  ${name.padEnd(30)} ${String(s.count).padStart(3)}   ${(s.worst / 1000).toFixed(2)} s`);
  const violations = results.flatMap((r) => r.violations.map((v) => ({ seed: r.seed, v })));
  const problems = results.flatMap((r) => r.problems.map((p) => ({ seed: r.seed, p })));
  const watchFound = results.flatMap((r) => watchViolations(r.watch).map((v) => ({ seed: r.seed, v })));
  lines.push(`violations: ${violations.length + problems.length + watchFound.length}`);
  for (const { seed, v } of violations) {
    lines.push(`  seed ${seed}, key ${v.key}: ${v.message}${v.inconclusive ? " (inconclusive)" : ""}`);
    lines.push(formatHistory(v.minimal).replace(/^/gm, "    "));
  }
  for (const { seed, p } of problems) lines.push(`  seed ${seed}: ${p}`);
  for (const { seed, v } of watchFound) lines.push(`  seed ${seed}, watcher ${v.watcher}${v.key === undefined ? "" : `, key ${v.key}`}: ${v.kind}: ${v.message}`.replace(/\n/g, "\n    "));
  return lines.join("\n");
}
