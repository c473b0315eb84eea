/** `Dict.modify`: a compare-and-set loop on one key, bounded and jittered. */
import { ConflictError } from "../errors.js";
import type { DictKey } from "../protocol/keys.js";
import type { EntryHandle } from "./entry-requests.js";
import type { DictEntry } from "./dict-coordination.js";
import { writeEntry } from "./entry-requests.js";
import { describeKey } from "./value-codec.js";

export interface ModifyOptions<V> {
  /** What `fn` gets when the key is absent. */
  default?: V;
  /** Conflicts to retry before giving up with `ConflictError` (default 20). */
  maxAttempts?: number;
}

export const DEFAULT_ATTEMPTS = 20;
/** Backoff between attempts: full jitter up to this, doubling from 2 ms. */
const MAX_BACKOFF_MS = 100;

/** The wait after failed attempt `attempt` (1-based): uniform in [0, min(100, 2^attempt)) ms. */
export function conflictBackoff(attempt: number): Promise<void> {
  return sleep(Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt));
}

export async function modifyEntry<V, R extends V>(
  h: EntryHandle,
  key: DictKey,
  fn: (current: V) => R | undefined | Promise<R | undefined>,
  opts: ModifyOptions<V>,
  read: (key: DictKey) => Promise<DictEntry<V> | null>,
): Promise<R | undefined> {
  const attempts = opts.maxAttempts ?? DEFAULT_ATTEMPTS;
  let last: DictEntry<V> | null = null;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    last = await read(key);
    const next = await fn((last?.value ?? opts.default) as V);
    if (next === undefined) return undefined;
    const r = await writeEntry(h, key, next, { ifVersion: last ? last.version : null });
    if (r.ok) return next;
    if (attempt < attempts) await conflictBackoff(attempt);
  }
  const current = last && { value: last.value, version: last.version };
  throw new ConflictError(`modify of key ${describeKey(key)} in dict ${h.label} met a conflicting write on each of ${attempts} attempts`, key, attempts, current);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
