/**
 * The chaos workload: clients running a mixed stream of operations on a small key space,
 * each recording invocation, completion and outcome (ok / failed / indeterminate).
 */
import { Dict, DictError, IndeterminateError, KeyError, type Client } from "../../src/index.js";
import { ConnectionError } from "../../src/errors.js";
import { mulberry32 } from "../helpers/prng.js";
import { HistoryRecorder } from "./history.js";

export interface WorkloadOptions {
  keys: number;
  seed: number;
}

export interface Workload {
  readonly recorder: HistoryRecorder;
  /** Completion times of successful operations per key (for availability). */
  readonly okTimes: Map<string, number[]>;
  readonly counts: { ok: number; failed: number; indeterminate: number; len: number };
  /** len() answers outside [0, keys]: impossible counts. */
  readonly lenProblems: string[];
  stop(): Promise<void>;
}

export const keyName = (i: number) => `k${i}`;

/** How an error from the SDK maps to an outcome. */
function outcomeOf(err: unknown): "failed" | "indeterminate" {
  // A ConnectionError from the SDK means the request was never sent (or was refused as
  // "retry elsewhere" every time); an IndeterminateError that it was and no answer came.
  if (err instanceof ConnectionError) return "failed";
  if (err instanceof IndeterminateError) return "indeterminate";
  if (err instanceof DictError) return "failed";
  return "indeterminate";
}

export function startWorkload(clients: readonly Client[], dictName: string, opts: WorkloadOptions): Workload {
  const recorder = new HistoryRecorder();
  const okTimes = new Map<string, number[]>();
  const counts = { ok: 0, failed: 0, indeterminate: 0, len: 0 };
  const lenProblems: string[] = [];
  let stopping = false;
  const noteOk = (key: string) => {
    counts.ok++;
    let list = okTimes.get(key);
    if (!list) okTimes.set(key, (list = []));
    list.push(performance.now());
  };
  const loops = clients.map(async (client, c) => {
    const rand = mulberry32(opts.seed * 7919 + c);
    const d = Dict.fromName<string>(dictName, { client });
    let n = 0;
    while (!stopping) {
      const key = keyName(Math.floor(rand() * opts.keys));
      const value = `c${c}-${n++}`;
      const r = rand();
      if (r < 0.25) {
        const op = recorder.invoke(c, key, { op: "put", value });
        await d.put(key, value).then(
          () => (recorder.ok(op), noteOk(key)),
          (e: unknown) => (outcomeOf(e) === "failed" ? (recorder.fail(op), counts.failed++) : (recorder.indeterminate(op), counts.indeterminate++)),
        );
      } else if (r < 0.4) {
        const op = recorder.invoke(c, key, { op: "putIfAbsent", value });
        await d.put(key, value, { skipIfExists: true }).then(
          (written) => (recorder.ok(op, written), noteOk(key)),
          (e: unknown) => (outcomeOf(e) === "failed" ? (recorder.fail(op), counts.failed++) : (recorder.indeterminate(op), counts.indeterminate++)),
        );
      } else if (r < 0.5) {
        const other = keyName(Math.floor(rand() * opts.keys));
        const entries = other === key ? { [key]: value } : { [key]: value, [other]: `${value}b` };
        const ops = recorder.invokeUpdate(c, entries);
        // Keys of one update may sit on different shards: any error leaves each unknown.
        await d.update(entries).then(
          () => (recorder.ok(ops), noteOk(key)),
          () => (recorder.indeterminate(ops), counts.indeterminate++),
        );
      } else if (r < 0.6) {
        const op = recorder.invoke(c, key, { op: "pop" });
        await d.pop(key, undefined).then(
          (v) => (recorder.ok(op, v), noteOk(key)),
          (e: unknown) => (outcomeOf(e) === "failed" ? (recorder.fail(op), counts.failed++) : (recorder.indeterminate(op), counts.indeterminate++)),
        );
      } else if (r < 0.7) {
        const op = recorder.invoke(c, key, { op: "delete" });
        await d.delete(key).then(
          () => (recorder.ok(op, "ok"), noteOk(key)),
          (e: unknown) => {
            if (e instanceof KeyError) {
              recorder.ok(op, "KeyError");
              noteOk(key);
            } else if (outcomeOf(e) === "failed") {
              recorder.fail(op);
              counts.failed++;
            } else {
              recorder.indeterminate(op);
              counts.indeterminate++;
            }
          },
        );
      } else if (r < 0.95) {
        const op = recorder.invoke(c, key, { op: "get" });
        // A read has no effect: if it fails, it is simply not part of the history.
        await d.get(key).then(
          (v) => (recorder.ok(op, v), noteOk(key)),
          () => (recorder.fail(op), counts.failed++),
        );
      } else {
        await d.len().then(
          (len) => {
            counts.len++;
            if (!Number.isInteger(len) || len < 0 || len > opts.keys) lenProblems.push(`len() returned ${len} with ${opts.keys} keys in use`);
          },
          () => {},
        );
      }
    }
  });
  return {
    recorder,
    okTimes,
    counts,
    lenProblems,
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}
