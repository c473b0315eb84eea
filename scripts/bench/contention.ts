/**
 * What the bench's `cas` workload needs of a system: contenders, each on its own connection,
 * that add 1 to a counter by an optimistic read-change-write loop, and the backoff both
 * systems' loops use between attempts.
 */

/** One read-change-write: `ok` when it wrote, `attempts` = reads (calls of the change function). */
export interface CasOutcome {
  ok: boolean;
  attempts: number;
}

/** A client with its own connection, racing the others on the same key. */
export interface Contender {
  /** Add 1 to the number at `key` (absent: 0) with a compare-and-set loop. */
  increment(key: string): Promise<CasOutcome>;
  close(): void;
}

/**
 * The loop limits of `Dict.modify` (src/client/dict-modify.ts), which the redis loop uses
 * too, so that neither system backs off more than the other: 20 attempts, and after failed
 * attempt k a sleep drawn uniformly from [0, min(100, 2^k)) ms ("full jitter").
 */
export { DEFAULT_ATTEMPTS as CAS_ATTEMPTS, conflictBackoff as casBackoff } from "../../src/client/dict-modify.js";
