/**
 * Entry versions as the SDK shows them: opaque strings (today the partition's write
 * sequence in decimal). Only equality is promised; the number is what travels.
 */
import { InvalidError } from "../errors.js";
import { MAX_TTL_MS } from "../protocol/frames.js";

export function formatVersion(ver: number): string {
  return String(ver);
}

/** A version string from `getEntry`/`putEntry` back to the number on the wire. */
export function parseVersion(version: unknown): number {
  if (typeof version === "string" && /^(0|[1-9][0-9]{0,15})$/.test(version)) {
    const n = Number(version);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new InvalidError(`ifVersion must be a version string from getEntry or putEntry (or null for "only if absent"), not ${typeof version === "string" ? JSON.stringify(version) : typeof version}`);
}

/** A `ttlMs` option: a positive integer of milliseconds, at most ten years. */
export function checkTtl(ttlMs: unknown): number {
  if (typeof ttlMs === "number" && Number.isInteger(ttlMs) && ttlMs >= 1 && ttlMs <= MAX_TTL_MS) return ttlMs;
  throw new InvalidError(`ttlMs must be an integer number of milliseconds from 1 to ${MAX_TTL_MS}, not ${String(ttlMs)}`);
}
