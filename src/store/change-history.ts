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
 * The ring is a set of parallel arrays (numbers in typed arrays, strings in plain ones), not
 * an object per change: a change costs ~30 bytes and no allocation on the write path, and
 * the store's own key and value strings are shared, never copied. At the default bound (2,000
 * changes per partition) objects per change cost ~75 bytes per entry of resident memory at
 * 1,000,000 entries (358 B per entry against 282 without a history; README, Performance).
 * A {@link Change} object is made only for what a reader is given.
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

/** Bytes a change is counted for: its key and value, and what records it. */
function sizeOf(k: string | undefined, value: string | undefined, cid: string | undefined): number {
  return 64 + (k?.length ?? 0) + (value?.length ?? 0) + (cid?.length ?? 0);
}

/** What {@link ChangeHistory.read} found: the matching changes and how far it looked. */
export interface HistoryRead {
  changes: Change[];
  /** Every change up to here was examined (the next read starts after it). */
  pos: number;
}

/** A commit on a primary not yet settled: the changes up to `seq` wait for `done`. */
interface Mark {
  seq: number;
  settled: boolean;
  done: Promise<unknown> | undefined;
}

/** A change as a filter sees it while a read looks through the ring (one object, reused). */
class ChangeView implements Change {
  seq = 0;
  dict = "";
  kind: ChangeKind = PUT;
  k: string | undefined = undefined;
  value: string | undefined = undefined;
  cid: string | undefined = undefined;
  at = 0;
}

export class ChangeHistory {
  // ---- the ring: `count` changes from physical index `first`, wrapping at `cap` ----
  private cap = 0;
  private first = 0;
  private count = 0;
  private seqs = new Float64Array(0);
  private ats = new Float64Array(0);
  private kinds = new Uint8Array(0);
  private dicts: string[] = [];
  private keys: (string | undefined)[] = [];
  private values: (string | undefined)[] = [];
  /** The ids of clears in the ring, by sequence (a clear is rare: no slot per change). */
  private readonly cids = new Map<number, string>();
  private bytes = 0;
  /** Every change after this is in the ring. */
  private from = 0;
  private ackedSeq = 0;
  /** Commits on a primary not yet settled, in order: `acked` moves past each once it has. */
  private readonly inFlight: Mark[] = [];
  private readonly view = new ChangeView();
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
    return this.count > 0 ? (this.seqs[this.slot(this.count - 1)] as number) : this.from;
  }

  get size(): number {
    return this.count;
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
    const at = this.now();
    this.push(seq, dict, kind, k, value, cid, at);
    this.trim(at);
  }

  /** The physical index of the `i`-th change (0: the oldest). */
  private slot(i: number): number {
    const at = this.first + i;
    return at >= this.cap ? at - this.cap : at;
  }

  private push(seq: number, dict: string, kind: ChangeKind, k: string | undefined, value: string | undefined, cid: string | undefined, at: number): void {
    if (this.count === this.cap) this.grow();
    const i = this.slot(this.count);
    this.seqs[i] = seq;
    this.ats[i] = at;
    this.kinds[i] = kind;
    this.dicts[i] = dict;
    this.keys[i] = k;
    this.values[i] = value;
    if (cid !== undefined) this.cids.set(seq, cid);
    this.count++;
    this.bytes += sizeOf(k, value, cid);
  }

  /** Twice the room (in order from index 0), up to what the bound needs (more only while adopting a longer ring). */
  private grow(): void {
    const doubled = this.cap === 0 ? 16 : this.cap * 2;
    const cap = this.count < this.limits.maxEvents ? Math.min(doubled, this.limits.maxEvents + 1) : doubled;
    const seqs = new Float64Array(cap);
    const ats = new Float64Array(cap);
    const kinds = new Uint8Array(cap);
    const dicts: string[] = new Array<string>(cap);
    const keys: (string | undefined)[] = new Array<string | undefined>(cap);
    const values: (string | undefined)[] = new Array<string | undefined>(cap);
    for (let n = 0; n < this.count; n++) {
      const i = this.slot(n);
      seqs[n] = this.seqs[i] as number;
      ats[n] = this.ats[i] as number;
      kinds[n] = this.kinds[i] as number;
      dicts[n] = this.dicts[i] as string;
      keys[n] = this.keys[i];
      values[n] = this.values[i];
    }
    this.cap = cap;
    this.first = 0;
    this.seqs = seqs;
    this.ats = ats;
    this.kinds = kinds;
    this.dicts = dicts;
    this.keys = keys;
    this.values = values;
  }

  /** The `i`-th change, in the reused view (valid until the next call). */
  private viewOf(i: number): ChangeView {
    const v = this.view;
    const s = this.slot(i);
    v.seq = this.seqs[s] as number;
    v.dict = this.dicts[s] as string;
    v.kind = this.kinds[s] as ChangeKind;
    v.k = this.keys[s];
    v.value = this.values[s];
    v.cid = v.kind === CLEAR ? this.cids.get(v.seq) : undefined;
    v.at = this.ats[s] as number;
    return v;
  }

  /**
   * A commit on a primary that ends with change `seq` started; the changes up to it may be
   * shown once `done` settles and every earlier commit has (undefined: nothing to wait for).
   * Settled either way: a commit whose replication failed left its changes in memory,
   * where reads see them too (and a node that stopped leading serves no watcher).
   */
  track(seq: number, done: Promise<unknown> | undefined): void {
    if (done === undefined) {
      if (this.inFlight.length === 0) {
        this.ack(seq);
        return;
      }
      // Nothing since the last commit (a read): that commit's mark covers it already.
      if ((this.inFlight[this.inFlight.length - 1] as Mark).seq >= seq) return;
    }
    const last = this.inFlight[this.inFlight.length - 1];
    // A commit that shares the last one's promise (the log's round) settles with it: that
    // mark covers it too, without a mark and a continuation of its own.
    if (done !== undefined && last !== undefined && last.done === done) {
      last.seq = seq;
      return;
    }
    const mark: Mark = { seq, settled: done === undefined, done };
    this.inFlight.push(mark);
    if (done === undefined) return;
    const settle = () => {
      mark.settled = true;
      let upTo = -1;
      while (this.inFlight.length > 0 && (this.inFlight[0] as Mark).settled) upTo = (this.inFlight.shift() as Mark).seq;
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
    this.cap = 0;
    this.first = 0;
    this.count = 0;
    this.seqs = new Float64Array(0);
    this.ats = new Float64Array(0);
    this.kinds = new Uint8Array(0);
    this.dicts = [];
    this.keys = [];
    this.values = [];
    this.cids.clear();
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
      this.push(r.seq, r.dict, r.kind as ChangeKind, r.key && latin1String(r.key), r.value && latin1String(r.value), r.cid, at);
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
    for (let i = 0; i < this.count; i++) {
      const c = this.viewOf(i);
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
   * past every change this partition knows (`known`: its sequence). `match` is shown each
   * change in one reused object: it must not keep it.
   */
  read(after: number, known: number, match: (c: Change) => boolean, maxEvents: number, maxBytes: number): HistoryRead | undefined {
    this.trim();
    if (after < this.from || after > Math.max(known, this.ackedSeq)) return undefined;
    const out: Change[] = [];
    let bytes = 0;
    let pos = after;
    for (let i = this.indexAfter(after); i < this.count; i++) {
      const c = this.viewOf(i);
      if (c.seq > this.ackedSeq) break;
      if (match(c)) {
        const size = sizeOf(c.k, c.value, c.cid);
        if (out.length >= maxEvents || (out.length > 0 && bytes + size > maxBytes)) return { changes: out, pos };
        out.push({ seq: c.seq, dict: c.dict, kind: c.kind, k: c.k, value: c.value, cid: c.cid, at: c.at });
        bytes += size;
      }
      pos = c.seq;
    }
    return { changes: out, pos: Math.max(after, this.ackedSeq) };
  }

  /** The index of the first change after `seq` (binary search: the ring is in order). */
  private indexAfter(seq: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.seqs[this.slot(mid)] as number) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Drop the oldest changes past the bounds (at least the newest one stays). */
  private trim(now = this.now()): void {
    const { maxEvents, maxBytes, maxAgeMs } = this.limits;
    const oldest = now - maxAgeMs;
    while (this.count > 1) {
      const i = this.first;
      if (this.count <= maxEvents && this.bytes <= maxBytes && (this.ats[i] as number) >= oldest) break;
      const seq = this.seqs[i] as number;
      this.bytes -= sizeOf(this.keys[i], this.values[i], this.kinds[i] === CLEAR ? this.cids.get(seq) : undefined);
      if (this.kinds[i] === CLEAR) this.cids.delete(seq);
      this.from = seq;
      // Let go of the strings: the store may have dropped them already.
      this.dicts[i] = "";
      this.keys[i] = undefined;
      this.values[i] = undefined;
      this.first = i + 1 === this.cap ? 0 : i + 1;
      this.count--;
    }
  }
}
