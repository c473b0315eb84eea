/**
 * The chaos workload: clients running a mixed stream of operations on a small key space,
 * each recording invocation, completion and outcome (ok / failed / indeterminate).
 *
 * Two key spaces in the one dict: registers (`k0`, `k1`, ...: put, putIfAbsent, update,
 * pop, delete, get, and getEntry followed by a put with ifVersion) and counters (`n0`, ...:
 * incr by 1, and get).
 */
import { Dict, DictError, IndeterminateError, InvalidError, KeyError, type Client } from "../../src/index.js";
import { ConnectionError } from "../../src/errors.js";
import { mulberry32 } from "../helpers/prng.js";
import { HistoryRecorder, type Op } from "./history.js";

export interface WorkloadOptions {
  keys: number;
  counters: number;
  seed: number;
}

export interface Workload {
  readonly recorder: HistoryRecorder;
  /** Completion times of successful operations per key (for availability). */
  readonly okTimes: Map<string, number[]>;
  readonly counts: { ok: number; failed: number; indeterminate: number; len: number };
  /** What no checker sees: len() answers outside [0, keys + counters], a counter refusing incr. */
  readonly problems: string[];
  stop(): Promise<void>;
}

export const keyName = (i: number) => `k${i}`;
export const counterName = (i: number) => `n${i}`;

/** What a counter read is recorded as: the number in decimal (anything else the checker flags). */
export function counterText(v: unknown): string | undefined {
  return v === undefined ? undefined : typeof v === "number" ? String(v) : `not a number: ${JSON.stringify(v)}`;
}

/** How an error from the SDK maps to an outcome. */
export function outcomeOf(err: unknown): "failed" | "indeterminate" {
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
  const problems: string[] = [];
  let stopping = false;
  const noteOk = (key: string) => {
    counts.ok++;
    let list = okTimes.get(key);
    if (!list) okTimes.set(key, (list = []));
    list.push(performance.now());
  };
  /** Settle `op` (or ops) after an error: failed or indeterminate, as the error says. */
  const settle = (op: Op | Op[], e: unknown) => {
    if (outcomeOf(e) === "failed") {
      recorder.fail(op);
      counts.failed++;
    } else {
      recorder.indeterminate(op);
      counts.indeterminate++;
    }
  };
  const loops = clients.map(async (client, c) => {
    const rand = mulberry32(opts.seed * 7919 + c);
    const d = Dict.fromName<string>(dictName, { client });
    const counters = Dict.fromName<number>(dictName, { client });
    // The last entry this client read per key (null: absent), for a cas on a maybe stale version.
    const lastRead = new Map<string, { value: string; version: string } | null>();
    let n = 0;
    while (!stopping) {
      const key = keyName(Math.floor(rand() * opts.keys));
      const value = `c${c}-${n++}`;
      const r = rand();
      if (r < 0.15) {
        const counter = counterName(Math.floor(rand() * opts.counters));
        if (rand() < 0.75) {
          const op = recorder.invoke(c, counter, { op: "incr", delta: 1 });
          await counters.incr(counter).then(
            (v) => (recorder.ok(op, v), noteOk(counter)),
            (e: unknown) => {
              // Counter keys only ever hold numbers: a refusal says the stored value is not one.
              if (e instanceof InvalidError) problems.push(`incr(${counter}) refused: ${e.message}`);
              settle(op, e);
            },
          );
        } else {
          const op = recorder.invoke(c, counter, { op: "get" });
          await counters.get(counter).then(
            (v) => (recorder.ok(op, counterText(v)), noteOk(counter)),
            () => (recorder.fail(op), counts.failed++),
          );
        }
      } else if (r < 0.3) {
        const op = recorder.invoke(c, key, { op: "put", value });
        await d.put(key, value).then(
          () => (recorder.ok(op), noteOk(key)),
          (e: unknown) => settle(op, e),
        );
      } else if (r < 0.4) {
        const op = recorder.invoke(c, key, { op: "putIfAbsent", value });
        await d.put(key, value, { skipIfExists: true }).then(
          (written) => (recorder.ok(op, written), noteOk(key)),
          (e: unknown) => settle(op, e),
        );
      } else if (r < 0.47) {
        const other = keyName(Math.floor(rand() * opts.keys));
        const entries = other === key ? { [key]: value } : { [key]: value, [other]: `${value}b` };
        const ops = recorder.invokeUpdate(c, entries);
        // Keys of one update may sit on different shards: any error leaves each unknown.
        await d.update(entries).then(
          () => (recorder.ok(ops), noteOk(key)),
          () => (recorder.indeterminate(ops), counts.indeterminate++),
        );
      } else if (r < 0.54) {
        const op = recorder.invoke(c, key, { op: "pop" });
        await d.pop(key, undefined).then(
          (v) => (recorder.ok(op, v), noteOk(key)),
          (e: unknown) => settle(op, e),
        );
      } else if (r < 0.61) {
        const op = recorder.invoke(c, key, { op: "delete" });
        await d.delete(key).then(
          () => (recorder.ok(op, "ok"), noteOk(key)),
          (e: unknown) => {
            if (e instanceof KeyError) {
              recorder.ok(op, "KeyError");
              noteOk(key);
            } else settle(op, e);
          },
        );
      } else if (r < 0.74) {
        // Read-modify-write: getEntry, then a put on the version it returned (ifVersion: null
        // if absent). Sometimes on the entry this client read earlier instead, which other
        // clients may have overwritten since: a cas that should fail.
        let base = lastRead.get(key);
        if (base === undefined || rand() < 0.75) {
          const op = recorder.invoke(c, key, { op: "getEntry" });
          base = await d.getEntry(key).then(
            (e) => {
              const seen = e === null ? null : { value: e.value, version: e.version };
              recorder.ok(op, seen);
              noteOk(key);
              lastRead.set(key, seen);
              return seen;
            },
            () => (recorder.fail(op), counts.failed++, undefined),
          );
          if (base === undefined) continue;
        }
        const ifVersion = base === null ? null : base.version;
        const op = recorder.invoke(c, key, { op: "cas", value, ifVersion });
        await d.put(key, value, { ifVersion }).then(
          (written) => (recorder.ok(op, written), noteOk(key)),
          (e: unknown) => settle(op, e),
        );
      } else if (r < 0.96) {
        const op = recorder.invoke(c, key, { op: "get" });
        // A read has no effect: if it fails, it is simply not part of the history.
        await d.get(key).then(
          (v) => (recorder.ok(op, v), noteOk(key)),
          () => (recorder.fail(op), counts.failed++),
        );
      } else {
        const most = opts.keys + opts.counters;
        await d.len().then(
          (len) => {
            counts.len++;
            if (!Number.isInteger(len) || len < 0 || len > most) problems.push(`len() returned ${len} with ${most} keys in use`);
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
    problems,
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}
