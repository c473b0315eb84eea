/**
 * Answers of non-idempotent requests (put-if-absent, pop, delete), by client id and request
 * id, so that a retry of a request whose reply was lost gets the original answer instead of
 * running again. Records are written to storage in the same transaction as the mutation they
 * describe, so they survive a crash exactly when the mutation does.
 */
import { errorFromWire, wireCodeOf, WireCode } from "../errors.js";

/** How long an answer is kept: twice the SDK's default retry budget (15 s). */
export const DEDUP_WINDOW_MS = 30_000;
const MAX_RECORDS = 1_000_000;

/** A finished request's answer, as stored. */
export interface DedupAnswer {
  /** The result, or undefined for an error answer. */
  r?: unknown;
  /** Wire code of an error answer. */
  c?: string;
  m?: string;
}

interface Entry {
  at: number;
  /** The partition of the write, when known: the record moves with the partition. */
  part: number | undefined;
  answer: DedupAnswer | undefined;
  running: Promise<unknown> | undefined;
}

export class DedupTable {
  private readonly records = new Map<string, Entry>();
  /** Per partition: ids in the order recorded (pruned of forgotten ones lazily). */
  private readonly byPart = new Map<number, string[]>();

  static id(clientId: string, rid: number): string {
    return `${clientId}:${rid}`;
  }

  /** Put back an answer loaded from storage. */
  restore(id: string, at: number, answer: DedupAnswer, part?: number): void {
    this.records.set(id, { at, part, answer, running: undefined });
    this.index(id, part);
  }

  private index(id: string, part: number | undefined): void {
    if (part === undefined) return;
    let ids = this.byPart.get(part);
    if (!ids) this.byPart.set(part, (ids = []));
    ids.push(id);
  }

  /** The settled answers of a partition's writes since `since`, to copy along with it. */
  forPart(part: number, since: number): { id: string; at: number; answer: DedupAnswer }[] {
    const ids = this.byPart.get(part);
    if (!ids) return [];
    const out: { id: string; at: number; answer: DedupAnswer }[] = [];
    const kept: string[] = [];
    for (const id of ids) {
      const e = this.records.get(id);
      if (!e || e.part !== part) continue;
      kept.push(id);
      if (e.answer !== undefined && e.at >= since) out.push({ id, at: e.at, answer: e.answer });
    }
    this.byPart.set(part, kept);
    return out;
  }

  /**
   * The answer to a request seen before: its result (or a rejection with its error), a
   * promise while it is still running, or `undefined` if it is new.
   */
  lookup(id: string): { found: false } | { found: true; answer: Promise<unknown> | unknown } {
    const e = this.records.get(id);
    if (!e) return { found: false };
    if (e.running) return { found: true, answer: e.running };
    const a = e.answer as DedupAnswer;
    if (a.c !== undefined) return { found: true, answer: Promise.reject(errorFromWire(a.c, a.m ?? "")) };
    return { found: true, answer: a.r };
  }

  /** Mark a request as running, so a concurrent retry waits for the same answer. */
  running(id: string, at: number, p: Promise<unknown>, part?: number): void {
    this.records.set(id, { at, part, answer: undefined, running: p });
    this.index(id, part);
  }

  /** Record the final answer (what storage also gets). */
  settle(id: string, at: number, answer: DedupAnswer, part?: number): void {
    const had = this.records.get(id);
    if (had) {
      // In place: a write that was running settles (no new record, no second map insert).
      had.at = at;
      had.part = part;
      had.answer = answer;
      had.running = undefined;
    } else {
      this.records.set(id, { at, part, answer, running: undefined });
      this.index(id, part);
    }
    if (this.records.size > MAX_RECORDS) this.expire(at, true);
  }

  forget(id: string): void {
    this.records.delete(id);
  }

  /**
   * Drop answers older than the window (or the oldest half when over capacity), at most
   * `budget` of them: called often with a small budget, expiry is many short steps instead
   * of one pause of tens of milliseconds that every request behind it waits out.
   */
  expire(now: number, overCapacity = false, budget = Number.POSITIVE_INFINITY): void {
    let drop = overCapacity ? Math.floor(this.records.size / 2) : 0;
    let dropped = 0;
    for (const [id, e] of this.records) {
      if (e.running) continue;
      if (now - e.at > DEDUP_WINDOW_MS || drop-- > 0) {
        if (dropped >= budget) break;
        this.records.delete(id);
        dropped++;
      } else if (!overCapacity) break; // insertion order is time order
    }
    // The per-partition lists lose their dropped heads (forPart prunes the rest lazily).
    if (dropped === 0) return;
    for (const [part, ids] of this.byPart) {
      let i = 0;
      while (i < ids.length && !this.records.has(ids[i] as string)) i++;
      if (i === ids.length) this.byPart.delete(part);
      else if (i > 0) ids.splice(0, i);
    }
  }

  get size(): number {
    return this.records.size;
  }
}

/** The stored form of an error answer. */
export function errorAnswer(err: unknown): DedupAnswer | undefined {
  const code = wireCodeOf(err);
  // Only answers about the data are final; "retry later" conditions must run again.
  if (code === WireCode.WrongOwner || code === WireCode.Unavailable || code === WireCode.Internal || code === WireCode.StorageFull) return undefined;
  return { c: code, m: err instanceof Error ? err.message : String(err) };
}
