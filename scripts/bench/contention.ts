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
 * The loop limits of `Dict.modify` (src/client/dict-modify.ts): 20 attempts; after failed
 * attempt k, a sleep drawn uniformly from [0, min(100, 2^k)) ms ("full jitter", doubling
 * from 2 ms). The redis loop copies them so that neither system backs off more than the
 * other; keep the two in step.
 */
export const CAS_ATTEMPTS = 20;
const MAX_BACKOFF_MS = 100;

export function casBackoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt)));
}
