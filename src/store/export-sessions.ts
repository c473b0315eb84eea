/**
 * Exporting a partition's dict from one point in time: the first page of an export captures
 * every live entry of the dict in the partition at that moment (references to the stored
 * strings, sorted by key bytes: no value is copied), and the pages that follow are served
 * from that capture, whatever is written meanwhile. A session that is gone (expired, the
 * node restarted, the partition moved) is never silently replaced: the exporter is told to
 * start the partition over, so what it writes is always one point per partition.
 */
import { nanoid } from "nanoid";

const IDLE_MS = 5 * 60_000;
const MAX_SESSIONS = 64;

/** One captured entry. */
export interface CapturedEntry {
  k: string;
  value: string;
  /** ms left until it would have expired, at the capture. */
  left: number;
  /** Its own idle TTL (0: the dict's). */
  ttl: number;
  ver: number;
}

interface Session {
  dict: string;
  entries: CapturedEntry[];
  /** The partition's watch position of the capture: a watch from it sees every later change. */
  pos: number;
  lastUsed: number;
}

/** What a capture took: the entries, and the position it stands for. */
export interface Capture {
  entries: CapturedEntry[];
  pos: number;
}

export interface ExportPage {
  entries: CapturedEntry[];
  /** Where the next page starts (an index into the capture), or null when done. */
  next: number | null;
  session: string;
  pos: number;
}

export class ExportSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly part: number) {}

  /**
   * A page of the export `session` from `from`, or the first page of a new one (no session
   * given) captured by `capture`. Undefined when the session is gone: start over.
   */
  page(dict: string, session: string | undefined, from: number, limit: number, maxBytes: number, now: number, capture: () => Capture): ExportPage | undefined {
    let id = session;
    let s = id === undefined ? undefined : this.sessions.get(id);
    if (id !== undefined && (s === undefined || s.dict !== dict)) return undefined;
    if (s === undefined || id === undefined) {
      this.gc(now);
      id = `${this.part}.x${nanoid(12)}`;
      const c = capture();
      s = { dict, entries: c.entries.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0)), pos: c.pos, lastUsed: now };
    }
    s.lastUsed = now;
    const out: CapturedEntry[] = [];
    let bytes = 0;
    let i = from;
    for (; i < s.entries.length && out.length < limit && bytes < maxBytes; i++) {
      const e = s.entries[i] as CapturedEntry;
      out.push(e);
      bytes += e.k.length + e.value.length;
    }
    const done = i >= s.entries.length;
    if (done) this.sessions.delete(id);
    else this.sessions.set(id, s);
    return { entries: out, next: done ? null : i, session: id, pos: s.pos };
  }

  /** The partition left this node, or the dict was cleared or dropped: captures are stale. */
  forget(dict?: string): void {
    for (const [id, s] of this.sessions) if (dict === undefined || s.dict === dict) this.sessions.delete(id);
  }

  private gc(now: number): void {
    for (const [id, s] of this.sessions) if (now - s.lastUsed > IDLE_MS || this.sessions.size >= MAX_SESSIONS) this.sessions.delete(id);
  }
}
