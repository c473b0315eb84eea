/**
 * Scanning a partition's dict in key order, a page at a time. The position is a key, not a
 * node-local iterator, so an iteration can go on on another node after the partition moved
 * (or failed over): every key present for the whole iteration was present when any node
 * sorted its keys, and is returned exactly once. The sort is kept per session, so the pages
 * that follow on the same node are cheap.
 */
import { nanoid } from "nanoid";
import { ScanPage } from "../encoding/scan-page.js";

/** Scan steps per page, counting skipped (deleted, expired) keys, before yielding. */
const SCAN_STEPS_PER_ITEM = 16;

/** Idle scan sessions are dropped after this long (the position alone still works). */
const SCAN_SESSION_IDLE_MS = 5 * 60_000;
const MAX_SCAN_SESSIONS = 1024;

/** A dict's keys in byte order as of the first page a node served of one iteration. */
interface ScanSession {
  readonly dict: string;
  readonly sorted: string[];
  lastUsed: number;
}

/** The index of the first element greater than `k` in a sorted array. */
function upperBound(sorted: readonly string[], k: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) <= k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface PageRequest {
  dict: string;
  after: string | null;
  sessionId: string | undefined;
  limit: number;
  withValues: boolean;
  now: number;
  maxBytes: number;
}

export class ScanSessions {
  private readonly sessions = new Map<string, ScanSession>();

  constructor(private readonly part: number) {}

  /**
   * A page of `r.dict`, after `r.after` (exclusive). `keys` gives the dict's keys now (for a
   * new session's sort); `liveValue` an entry's value if it is there and not expired.
   */
  page(r: PageRequest, keys: () => Iterable<string>, liveValue: (k: string) => string | undefined): ScanPage {
    let session = r.sessionId === undefined ? undefined : this.sessions.get(r.sessionId);
    let id = r.sessionId;
    if (!session || session.dict !== r.dict || id === undefined) {
      this.gc(r.now);
      id = `${this.part}.${nanoid(12)}`;
      // Latin1 strings compare like their bytes.
      session = { dict: r.dict, sorted: [...keys()].sort(), lastUsed: r.now };
    } else {
      this.sessions.delete(id); // re-inserted below: least recently used first
    }
    session.lastUsed = r.now;
    const { sorted } = session;
    let i = r.after === null ? 0 : upperBound(sorted, r.after);
    const out: string[] = [];
    const values: string[] = [];
    let bytes = 0;
    // Skipping deleted or expired keys counts too: a page is bounded work, even if empty.
    let steps = r.limit * SCAN_STEPS_PER_ITEM;
    let last: string | undefined;
    for (; i < sorted.length && out.length < r.limit && bytes < r.maxBytes && steps-- > 0; i++) {
      const k = sorted[i] as string;
      last = k;
      const value = liveValue(k);
      if (value === undefined) continue;
      out.push(k);
      bytes += k.length;
      if (r.withValues) {
        values.push(value);
        bytes += value.length;
      }
    }
    const done = i >= sorted.length;
    if (!done) this.sessions.set(id, session);
    return new ScanPage(out, values, done || last === undefined ? null : last, id);
  }

  /** A dict was cleared or dropped: its sorts are stale. */
  forget(dict: string): void {
    for (const [id, session] of this.sessions) if (session.dict === dict) this.sessions.delete(id);
  }

  clear(): void {
    this.sessions.clear();
  }

  private gc(now: number): void {
    for (const [id, s] of this.sessions) {
      if (now - s.lastUsed > SCAN_SESSION_IDLE_MS || this.sessions.size >= MAX_SCAN_SESSIONS) this.sessions.delete(id);
    }
  }
}
