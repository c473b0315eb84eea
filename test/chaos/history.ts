/**
 * Recorded client histories for the chaos suite, checked by `checker.ts`.
 *
 * Every client operation on one key becomes one {@link Op}: who ran it (`process`), what it
 * was (`op` plus its argument), what it returned (`result`, only meaningful when
 * `outcome === "ok"`), and when it was invoked and completed. Values are strings unique per
 * write (e.g. `c3-17`: client 3, 17th write) so that a read names exactly one write.
 *
 * Times: `invokeAt` is taken just before the request is sent, `completeAt` just after the
 * reply arrived, from ONE monotonic clock (e.g. `performance.now()` of the test process).
 * Times from different processes' `performance.now()` are not comparable; if clients run in
 * child processes, use `performance.timeOrigin + performance.now()` and accept the skew.
 * Op A precedes op B in real time only if `A.completeAt < B.invokeAt` (strictly); equal
 * times count as concurrent.
 *
 * Outcomes:
 * - `"ok"`: the reply arrived; the op took effect exactly once, somewhere in
 *   [invokeAt, completeAt], with the recorded result.
 * - `"failed"`: the op definitely did not take effect (e.g. a typed error such as
 *   NotFoundError / InvalidError raised before anything was sent). The checker ignores it.
 * - `"indeterminate"`: no reply (timeout, connection lost mid-request, ...): the op may have
 *   taken effect at any time after `invokeAt` — even after `completeAt` — or never, and its
 *   result is unknown. The checker treats its `completeAt` as +infinity.
 *
 * `Dict.update({...})` is recorded as one `put` per key, all sharing the same invoke and
 * complete times and outcome. An update is atomic per partition only (keys on different
 * partitions are applied independently), and the checker verifies each key separately
 * anyway, so one put per key is the right model.
 *
 * Two kinds of keys, never mixed: registers (put, putIfAbsent, pop, delete, get, getEntry,
 * cas) and counters (incr, and get, whose value is then the counter in decimal: `"7"`).
 */

export type Outcome = "ok" | "failed" | "indeterminate";

/** What a `get` or `pop` returned: a value, or "absent" (distinct from any string). */
export type ReadResult = { readonly found: true; readonly value: string } | { readonly found: false };

/** `delete` result: `"ok"` (the key was present and is now removed) or `"KeyError"` (absent). */
export type DeleteResult = "ok" | "KeyError";

export const ABSENT: ReadResult = Object.freeze({ found: false as const });

export function present(value: string): ReadResult {
  return { found: true, value };
}

/** `undefined` → absent, a string → that value (matches `Dict.get` returning undefined). */
export function readResult(value: string | undefined): ReadResult {
  return value === undefined ? ABSENT : present(value);
}

/** What a `getEntry` returned: the value and the version of the write it read, or absent. */
export type EntryResult = { readonly found: true; readonly value: string; readonly version: string } | { readonly found: false };

interface OpBase {
  /** Client id. The final read added by `checkNoLostWrites` uses `FINAL_READ_PROCESS`. */
  process: number;
  key: string;
  invokeAt: number;
  /** Ignored (taken as +infinity) when `outcome === "indeterminate"`. */
  completeAt: number;
  outcome: Outcome;
}

/** `put(key, value)`: state := value. No result. */
export interface PutOp extends OpBase {
  op: "put";
  value: string;
}

/** `put(key, value, { ifAbsent: true })`: result `true` if it wrote (the key was absent). */
export interface PutIfAbsentOp extends OpBase {
  op: "putIfAbsent";
  value: string;
  /** Required when `outcome === "ok"`. */
  result?: boolean;
}

/** `pop(key, default)`: returns the value (or absent) and removes the key. */
export interface PopOp extends OpBase {
  op: "pop";
  /** Required when `outcome === "ok"`. */
  result?: ReadResult;
}

/** `delete(key)`: `"ok"` removed a present key, `"KeyError"` found it absent. */
export interface DeleteOp extends OpBase {
  op: "delete";
  /** Required when `outcome === "ok"`. */
  result?: DeleteResult;
}

/** `get(key)`: returns the value or absent; no effect. */
export interface GetOp extends OpBase {
  op: "get";
  /** Required when `outcome === "ok"`. */
  result?: ReadResult;
}

/** `getEntry(key)`: a read that also names the write it read by its version. */
export interface GetEntryOp extends OpBase {
  op: "getEntry";
  /** Required when `outcome === "ok"`. */
  result?: EntryResult;
}

/**
 * `put(key, value, { ifVersion })`: writes only if the key's current version is `ifVersion`
 * (`null`: only if absent); result `true` if it wrote. A version must be one a `getEntry` of
 * the same key returned: the checker knows which write it names only through that read.
 */
export interface CasOp extends OpBase {
  op: "cas";
  value: string;
  ifVersion: string | null;
  /** Required when `outcome === "ok"`. */
  result?: boolean;
}

/** `incr(key, delta)` on a counter key: adds `delta` (absent counts as 0); result: the new value. */
export interface IncrOp extends OpBase {
  op: "incr";
  delta: number;
  /** Required when `outcome === "ok"`. */
  result?: number;
}

export type Op = PutOp | PutIfAbsentOp | PopOp | DeleteOp | GetOp | GetEntryOp | CasOp | IncrOp;
export type OpKind = Op["op"];
export type OpOf<K extends OpKind> = Extract<Op, { op: K }>;

/** An invocation: the op and its argument, without result or times. */
export type Call =
  | { op: "put"; value: string }
  | { op: "putIfAbsent"; value: string }
  | { op: "pop" }
  | { op: "delete" }
  | { op: "get" }
  | { op: "getEntry" }
  | { op: "cas"; value: string; ifVersion: string | null }
  | { op: "incr"; delta: number };

/** `process` of the synthetic final read added by `checkNoLostWrites`. */
export const FINAL_READ_PROCESS = -1;

/**
 * Records a history. `invoke` stamps `invokeAt` and appends the op with outcome
 * `"indeterminate"`, so an op whose client never hears back (or that is still in flight when
 * the test stops) stays indeterminate; `ok` / `fail` / `indeterminate` settle it.
 *
 * @example
 * ```ts
 * const op = rec.invoke(3, "k1", { op: "put", value: "c3-17" });
 * try { await d.put("k1", "c3-17"); rec.ok(op); }
 * catch (e) { if (e instanceof InvalidError) rec.fail(op); else rec.indeterminate(op); }
 * ```
 */
export class HistoryRecorder {
  private readonly ops: Op[] = [];
  private readonly clock: () => number;

  constructor(clock: () => number = () => performance.now()) {
    this.clock = clock;
  }

  invoke<C extends Call>(process: number, key: string, call: C): OpOf<C["op"]> {
    const op = { ...call, process, key, invokeAt: this.clock(), completeAt: Infinity, outcome: "indeterminate" } as Op;
    this.ops.push(op);
    return op as OpOf<C["op"]>;
  }

  /** `update(entries)`: one put per key, sharing invoke time (and later completion). */
  invokeUpdate(process: number, entries: Record<string, string> | Iterable<readonly [string, string]>): PutOp[] {
    const now = this.clock();
    const list = Symbol.iterator in entries ? [...(entries as Iterable<readonly [string, string]>)] : Object.entries(entries);
    return list.map(([key, value]) => {
      const op: PutOp = { op: "put", value, process, key, invokeAt: now, completeAt: Infinity, outcome: "indeterminate" };
      this.ops.push(op);
      return op;
    });
  }

  ok(op: PutOp | readonly PutOp[]): void;
  ok(op: PutIfAbsentOp, written: boolean): void;
  ok(op: PopOp | GetOp, value: string | undefined): void;
  ok(op: DeleteOp, result: DeleteResult): void;
  ok(op: GetEntryOp, entry: { value: string; version: string } | null): void;
  ok(op: CasOp, written: boolean): void;
  ok(op: IncrOp, value: number): void;
  ok(op: Op | readonly PutOp[], result?: boolean | string | number | { value: string; version: string } | null): void {
    const now = this.clock();
    const ops: readonly Op[] = Array.isArray(op) ? (op as readonly PutOp[]) : [op as Op];
    for (const o of ops) {
      o.completeAt = now;
      o.outcome = "ok";
      switch (o.op) {
        case "put":
          break;
        case "putIfAbsent":
        case "cas":
          if (typeof result !== "boolean") throw new TypeError(`${o.op} result must be a boolean`);
          o.result = result;
          break;
        case "delete":
          if (result !== "ok" && result !== "KeyError") throw new TypeError('delete result must be "ok" or "KeyError"');
          o.result = result;
          break;
        case "get":
        case "pop":
          if (result !== undefined && typeof result !== "string") throw new TypeError(`${o.op} result must be a string or undefined`);
          o.result = readResult(result);
          break;
        case "getEntry":
          if (result === null) o.result = { found: false };
          else if (typeof result === "object" && result !== undefined) o.result = { found: true, value: result.value, version: result.version };
          else throw new TypeError("getEntry result must be { value, version } or null");
          break;
        case "incr":
          if (typeof result !== "number") throw new TypeError("incr result must be a number");
          o.result = result;
          break;
      }
    }
  }

  /** The op definitely did not take effect. */
  fail(op: Op | readonly Op[]): void {
    const now = this.clock();
    for (const o of Array.isArray(op) ? (op as readonly Op[]) : [op as Op]) {
      o.completeAt = now;
      o.outcome = "failed";
    }
  }

  /** The op may or may not have taken effect (stamps when the client gave up, for display). */
  indeterminate(op: Op | readonly Op[]): void {
    const now = this.clock();
    for (const o of Array.isArray(op) ? (op as readonly Op[]) : [op as Op]) {
      o.completeAt = now;
      o.outcome = "indeterminate";
    }
  }

  /** The ops recorded so far (live objects; don't mutate while clients are running). */
  history(): Op[] {
    return this.ops.slice();
  }
}
