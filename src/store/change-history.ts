/**
 * A partition's recent change history: what watchers read (`Dict.watch`) and resume from.
 *
 * Every change of an entry (a write, a delete, an expiry, a dict's clear) takes its own
 * number in the partition's sequence (the one entry versions come from), so a position in
 * the history is one number per partition, the same on the primary and its replicas: they
 * append the changes in the order the primary made them, with the primary's numbers. A
 * promoted replica, or a learner that received the ring with its copy, answers a watcher's
 * position exactly as the old primary would have.
 *
 * Only the changes up to {@link ChangeHistory.acked} may be shown: on a primary a change is
 * there once it is durable here and on the replicas, so nothing a watcher saw can be lost
 * in a failover (and its number then reused). The ring is bounded by a count, bytes and an
 * age; {@link ChangeHistory.floor} says where it starts: a position before it cannot be
 * resumed (the watcher is told "reset").
 *
 * Plain arrays on purpose: one small object per change on the write path, no copies (keys
 * and values are the store's own strings).
 */
import { latin1Bytes, latin1String } from "../encoding/latin1-bytes.js";
import type { ReplChange } from "../encoding/mutation.js";

export const PUT = 0;
export const DELETE = 1;
export const EXPIRE = 2;
export const CLEAR = 3;
export type ChangeKind = typeof PUT | typeof DELETE | typeof EXPIRE | typeof CLEAR;

/** One change. `k` and `value` are latin1 strings of the key and value bytes. */
export interface Change {
  readonly seq: number;
  readonly dict: string;
  readonly kind: ChangeKind;
  /** Its key (none for a clear). */
  readonly k: string | undefined;
  /** A put's value. */
  readonly value: string | undefined;
  /** A clear's id: every partition a clear reaches records the same one. */
  readonly cid: string | undefined;
  /** When it was recorded here (ms since the epoch), for the age bound. */
  readonly at: number;
}

/** How much history a partition keeps (see `watchHistory` in cluster.config.json). */
export interface HistoryLimits {
  maxEvents: number;
  maxBytes: number;
  maxAgeMs: number;
}

/** The defaults of `watchHistory` in cluster.config.json. */
export const DEFAULT_HISTORY_LIMITS: HistoryLimits = { maxEvents: 2_000, maxBytes: 1024 * 1024, maxAgeMs: 3_600_000 };

/** Bytes a change is counted for: its key and value, and the object around them. */
function sizeOf(c: Change): number {
  return 64 + (c.k?.length ?? 0) + (c.value?.length ?? 0) + (c.cid?.length ?? 0);
}

/** What {@link ChangeHistory.read} found: the matching changes and how far it looked. */
export interface HistoryRead {
  changes: Change[];
  /** Every change up to here was examined (the next read starts after it). */
  pos: number;
}

export class ChangeHistory {
  /** The ring: `ring[start..]` in sequence order. */
  private ring: Change[] = [];
  private start = 0;
  private bytes = 0;
  /** Every change after this is in the ring. */
  private from = 0;
  private ackedSeq = 0;
  /** Commits on a primary not yet settled, in order: `acked` moves past each once it has. */
  private readonly inFlight: { seq: number; settled: boolean }[] = [];
  /** Told when `acked` moves (parked watch polls look again). */
  onAcked: (() => void) | undefined = undefined;

  constructor(
    private readonly limits: HistoryLimits = DEFAULT_HISTORY_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The oldest position that can be resumed from. */
  get floor(): number {
    return this.from;
  }

  /** The highest change that may be shown. */
  get acked(): number {
    return this.ackedSeq;
  }

  /** The last change recorded (shown or not). */
  get head(): number {
    const n = this.ring.length;
    return n > this.start ? (this.ring[n - 1] as Change).seq : this.from;
  }

  get size(): number {
    return this.ring.length - this.start;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** Record a change (its `seq` above every earlier one). */
  append(seq: number, dict: string, kind: ChangeKind, k?: string, value?: string, cid?: string): void {
    if (this.limits.maxEvents <= 0) {
      this.from = seq;
      return;
    }
    const c: Change = { seq, dict, kind, k, value, cid, at: this.now() };
    this.ring.push(c);
    this.bytes += sizeOf(c);
    this.trim();
  }

  /**
   * A commit on a primary that ends with change `seq` started; the changes up to it may be
   * shown once `done` settles and every earlier commit has (undefined: nothing to wait for).
   * Settled either way: a commit whose replication failed left its changes in memory,
   * where reads see them too (and a node that stopped leading serves no watcher).
   */
  track(seq: number, done: Promise<unknown> | undefined): void {
    if (done === undefined && this.inFlight.length === 0) {
      this.ack(seq);
      return;
    }
    const mark = { seq, settled: done === undefined };
    this.inFlight.push(mark);
    if (done === undefined) return;
    const settle = () => {
      mark.settled = true;
      let upTo = -1;
      while (this.inFlight.length > 0 && (this.inFlight[0] as { settled: boolean }).settled) upTo = (this.inFlight.shift() as { seq: number }).seq;
      if (upTo >= 0) this.ack(upTo);
    };
    done.then(settle, settle);
  }

  /** Changes up to `seq` may be shown (a replica's, as it applies them; a settled commit). */
  ack(seq: number): void {
    if (seq <= this.ackedSeq) return;
    this.ackedSeq = seq;
    this.onAcked?.();
  }

  /**
   * Start over empty at `seq` (recovery from storage, a partition that left this node): the
   * changes before it are unknown here.
   */
  restart(seq: number): void {
    this.ring = [];
    this.start = 0;
    this.bytes = 0;
    this.from = seq;
    this.inFlight.length = 0;
    this.ackedSeq = seq;
  }

  /**
   * A learner takes its primary's ring (`changes` after `floor`, in order), sent after the
   * reset that started its copy. A change out of order (no primary of ours sends one) ends
   * the ring there: what follows could not be resumed from correctly.
   */
  adopt(floor: number, changes: readonly ReplChange[]): void {
    const seq = this.head;
    if (this.limits.maxEvents <= 0) {
      // No history kept here: only where it would start.
      this.restart(Math.max(seq, floor, changes.at(-1)?.seq ?? 0));
      return;
    }
    this.restart(floor);
    const at = this.now();
    let last = floor;
    for (const r of changes) {
      if (!(r.seq > last) || r.kind < PUT || r.kind > CLEAR) break;
      last = r.seq;
      const c: Change = {
        seq: r.seq,
        dict: r.dict,
        kind: r.kind as ChangeKind,
        k: r.key && latin1String(r.key),
        value: r.value && latin1String(r.value),
        cid: r.cid,
        at,
      };
      this.ring.push(c);
      this.bytes += sizeOf(c);
    }
    // The copy's ring ends at the reset's sequence: the changes in between are unknown.
    if (last < seq) this.restart(seq);
    this.ackedSeq = this.head;
    this.trim();
  }

  /** The ring as it is now, as a learner's copy carries it. */
  snapshot(): { floor: number; changes: ReplChange[] } {
    this.trim();
    const changes: ReplChange[] = [];
    for (let i = this.start; i < this.ring.length; i++) {
      const c = this.ring[i] as Change;
      changes.push({
        seq: c.seq,
        dict: c.dict,
        kind: c.kind,
        ...(c.k !== undefined && { key: latin1Bytes(c.k) }),
        ...(c.value !== undefined && { value: latin1Bytes(c.value) }),
        ...(c.cid !== undefined && { cid: c.cid }),
      });
    }
    return { floor: this.from, changes };
  }

  /**
   * The shown changes after position `after` that `match` accepts, at most `maxEvents` and
   * about `maxBytes` of them. Undefined when `after` cannot be resumed: before the floor, or
   * past every change this partition knows (`known`: its sequence).
   */
  read(after: number, known: number, match: (c: Change) => boolean, maxEvents: number, maxBytes: number): HistoryRead | undefined {
    this.trim();
    if (after < this.from || after > Math.max(known, this.ackedSeq)) return undefined;
    const out: Change[] = [];
    let bytes = 0;
    let pos = after;
    const end = this.ring.length;
    for (let i = this.indexAfter(after); i < end; i++) {
      const c = this.ring[i] as Change;
      if (c.seq > this.ackedSeq) break;
      if (match(c)) {
        if (out.length >= maxEvents || (out.length > 0 && bytes + sizeOf(c) > maxBytes)) return { changes: out, pos };
        out.push(c);
        bytes += sizeOf(c);
      }
      pos = c.seq;
    }
    return { changes: out, pos: Math.max(after, this.ackedSeq) };
  }

  /** The index of the first change after `seq` (binary search: the ring is in order). */
  private indexAfter(seq: number): number {
    let lo = this.start;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ring[mid] as Change).seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Drop the oldest changes past the bounds (at least the newest one stays). */
  private trim(): void {
    const { maxEvents, maxBytes, maxAgeMs } = this.limits;
    const oldest = this.now() - maxAgeMs;
    while (this.ring.length - this.start > 1) {
      const c = this.ring[this.start] as Change;
      if (this.ring.length - this.start <= maxEvents && this.bytes <= maxBytes && c.at >= oldest) break;
      this.bytes -= sizeOf(c);
      this.from = c.seq;
      this.ring[this.start++] = undefined as unknown as Change;
    }
    if (this.start > 1024 && this.start * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.start);
      this.start = 0;
    }
  }
}
