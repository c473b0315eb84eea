/**
 * One client's kept answers by request id: the window of dedup-table.ts.
 *
 * A client numbers its requests in order and sends them in order on each connection, so a
 * shard sees its request ids rise. The answers are kept in a ring of parallel arrays in that
 * order (ascending ids, which is also arrival and so time order): a new request, whose id is
 * above every kept one, is known to be new by one comparison, its answer is appended in place
 * (no object, no map entry per put), and the client's floor and the time window both drop
 * answers from the front. A `Map` here had an entry made and deleted per put: beside the
 * cost, that is the churn under which V8 chains a `Map`'s old tables and keeps them alive
 * (see net/rid-table.ts).
 *
 * An id that arrives below the newest kept one without being kept (a retry on another
 * connection after later requests, a stray copy, a replica's restore out of order) is kept
 * beside the ring ({@link Stragglers}), so the ring's order always holds; so is a write still
 * running at the front when the answers behind it are due to go.
 */

import { ExpiryQueue, type Queued } from "../store/expiry-queue.js";

/** A kept answer: `answer` once settled, or the running write's promise (one of the two is set). */
export interface RidSlot<A> {
  at: number;
  /** The partition of the write, when known: the answer moves with the partition. */
  part: number | undefined;
  answer: A | undefined;
  running: Promise<unknown> | undefined;
}

/** A kept answer beside the ring. */
interface Straggler<A> extends Queued {
  rid: number;
  slot: RidSlot<A>;
}

/**
 * The answers kept beside the ring: by id for lookups, and in a heap by id, so that the
 * floor drops them in O(log n) each whatever order they came in (a client that sent its ids
 * backwards must not make every later floor walk all of them).
 */
class Stragglers<A> {
  private readonly byRid = new Map<number, Straggler<A>>();
  private readonly byOrder = new ExpiryQueue<Straggler<A>>();

  get size(): number {
    return this.byRid.size;
  }

  get(rid: number): RidSlot<A> | undefined {
    return this.byRid.get(rid)?.slot;
  }

  /** Keep `slot` under `rid` (a new id: the caller looked). */
  add(rid: number, slot: RidSlot<A>): void {
    const st: Straggler<A> = { rid, slot, heapIndex: -1 };
    this.byRid.set(rid, st);
    this.byOrder.push(st, rid);
  }

  delete(rid: number): boolean {
    const st = this.byRid.get(rid);
    if (st === undefined) return false;
    this.byRid.delete(rid);
    this.byOrder.remove(st);
    return true;
  }

  /** Drop the settled ones below `floor` (running ones stay); see {@link RidAnswers.dropBelow}. */
  dropBelow(floor: number, onDrop: (part: number | undefined) => void): number {
    let dropped = 0;
    let running: Straggler<A>[] | undefined;
    for (let rid = this.byOrder.peekScheduled(); rid !== undefined && rid < floor; rid = this.byOrder.peekScheduled()) {
      const st = this.byOrder.pop() as Straggler<A>;
      if (st.slot.running !== undefined) {
        (running ??= []).push(st);
        continue;
      }
      this.byRid.delete(st.rid);
      onDrop(st.slot.part);
      dropped++;
    }
    if (running !== undefined) for (const st of running) this.byOrder.push(st, st.rid);
    return dropped;
  }

  /** Drop settled ones older than `before` (insertion order is time order), or half of them; at most `budget`. */
  expire(before: number, half: boolean, budget: number, drop: number): number {
    let dropped = 0;
    for (const [rid, st] of this.byRid) {
      if (dropped >= budget) break;
      if (st.slot.running !== undefined) continue;
      if (st.slot.at < before || drop-- > 0) {
        this.byRid.delete(rid);
        this.byOrder.remove(st);
        dropped++;
      } else if (!half) break;
    }
    return dropped;
  }

  *entries(): Generator<[number, RidSlot<A>], void, undefined> {
    for (const [rid, st] of this.byRid) yield [rid, st.slot];
  }
}

const NO_PART = -1;
const FIRST_CAPACITY = 8;

export class RidAnswers<A> {
  // ---- the ring: `count` slots from physical index `head`, wrapping at `cap` (a power of two) ----
  private cap = 0;
  private head = 0;
  private count = 0;
  private rids: number[] = [];
  private ats: number[] = [];
  private parts: number[] = [];
  /** A settled answer, or undefined while running or once forgotten. */
  private answers: (A | undefined)[] = [];
  private runnings: (Promise<unknown> | undefined)[] = [];
  /** Slots forgotten (a failed write) but not yet dropped from the ring. */
  private dead = 0;
  private stragglers: Stragglers<A> | undefined = undefined;

  /** Answers kept (running or settled). */
  get size(): number {
    return this.count - this.dead + (this.stragglers?.size ?? 0);
  }

  /** The ring's newest id, or -1 when it is empty. */
  private get last(): number {
    return this.count === 0 ? -1 : (this.rids[(this.head + this.count - 1) & (this.cap - 1)] as number);
  }

  /** The physical slot of `rid` in the ring, or -1. */
  private find(rid: number): number {
    let lo = 0;
    let hi = this.count - 1;
    const mask = this.cap - 1;
    // Most lookups after the miss test are of the newest ids (a write settling): try the end first.
    if (hi >= 0 && this.rids[(this.head + hi) & mask] === rid) return (this.head + hi) & mask;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const i = (this.head + mid) & mask;
      const r = this.rids[i] as number;
      if (r === rid) return i;
      if (r < rid) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private live(i: number): boolean {
    return this.answers[i] !== undefined || this.runnings[i] !== undefined;
  }

  /** The kept answer of `rid`, if any: a new request (an id above every kept one) costs one comparison. */
  get(rid: number): RidSlot<A> | undefined {
    if (rid <= this.last) {
      const i = this.find(rid);
      if (i >= 0 && this.live(i)) return { at: this.ats[i] as number, part: partOf(this.parts[i] as number), answer: this.answers[i], running: this.runnings[i] };
    }
    return this.stragglers?.get(rid);
  }

  /**
   * Keep (or replace) `rid`'s answer or running promise. Returns whether it is new (counted).
   * Exactly one of `answer` and `running` is set.
   */
  set(rid: number, at: number, part: number | undefined, answer: A | undefined, running: Promise<unknown> | undefined): boolean {
    // A straggler's id is below the ring's newest when it is made, but the ring may have
    // emptied since: it is looked for before an id above the ring is taken as new.
    if (rid > this.last && this.stragglers?.get(rid) === undefined) {
      this.push(rid, at, part, answer, running);
      return true;
    }
    const i = rid > this.last ? -1 : this.find(rid);
    if (i >= 0) {
      const wasLive = this.live(i);
      this.ats[i] = at;
      this.parts[i] = part ?? NO_PART;
      this.answers[i] = answer;
      this.runnings[i] = running;
      if (!wasLive) this.dead--;
      return !wasLive;
    }
    const s = (this.stragglers ??= new Stragglers<A>());
    const had = s.get(rid);
    if (had) {
      had.at = at;
      had.part = part;
      had.answer = answer;
      had.running = running;
      return false;
    }
    s.add(rid, { at, part, answer, running });
    return true;
  }

  /** Forget `rid` (its write failed: a retry must run it again). Returns whether it was kept. */
  delete(rid: number): boolean {
    if (rid <= this.last) {
      const i = this.find(rid);
      if (i >= 0 && this.live(i)) {
        this.answers[i] = undefined;
        this.runnings[i] = undefined;
        this.dead++;
        this.trimDead();
        return true;
      }
    }
    return this.stragglers?.delete(rid) === true;
  }

  /**
   * Drop settled answers below `floor`, oldest first. `onDrop` gets each dropped answer's
   * partition. Returns how many were dropped.
   */
  dropBelow(floor: number, onDrop: (part: number | undefined) => void): number {
    let dropped = 0;
    while (this.count > 0) {
      const i = this.head;
      if ((this.rids[i] as number) >= floor) break;
      if (this.runnings[i] !== undefined) {
        this.setAside();
        continue;
      }
      if (this.answers[i] !== undefined) {
        onDrop(partOf(this.parts[i] as number));
        dropped++;
        this.shift(false);
      } else this.shift(true);
    }
    const s = this.stragglers;
    if (s !== undefined) {
      dropped += s.dropBelow(floor, onDrop);
      if (s.size === 0) this.stragglers = undefined;
    }
    return dropped;
  }

  /**
   * Drop settled answers older than `before` from the front (time order), or, with `half`,
   * the older half of them whatever their age; at most `budget`. Returns how many.
   */
  expire(before: number, half: boolean, budget: number): number {
    let dropped = 0;
    let drop = half ? Math.floor(this.size / 2) : 0;
    while (this.count > 0 && dropped < budget) {
      const i = this.head;
      if (this.runnings[i] !== undefined) {
        // A young write still running: every answer behind it is younger still (a busy
        // client's front is nearly always one), so the sweep ends here instead of moving it.
        if (!half && (this.ats[i] as number) >= before) break;
        this.setAside();
        continue;
      }
      if (this.answers[i] === undefined) {
        this.shift(true);
        continue;
      }
      if (!((this.ats[i] as number) < before || drop-- > 0)) break;
      dropped++;
      this.shift(false);
    }
    const s = this.stragglers;
    if (s !== undefined) {
      dropped += s.expire(before, half, budget - dropped, drop);
      if (s.size === 0) this.stragglers = undefined;
    }
    this.maybeShrink();
    return dropped;
  }

  /** Each kept answer, ring first (ascending ids), then the stragglers. */
  *entries(): Generator<[number, RidSlot<A>], void, undefined> {
    const mask = this.cap - 1;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & mask;
      if (!this.live(i)) continue;
      yield [this.rids[i] as number, { at: this.ats[i] as number, part: partOf(this.parts[i] as number), answer: this.answers[i], running: this.runnings[i] }];
    }
    if (this.stragglers !== undefined) yield* this.stragglers.entries();
  }

  private push(rid: number, at: number, part: number | undefined, answer: A | undefined, running: Promise<unknown> | undefined): void {
    if (this.count === this.cap) this.grow();
    const i = (this.head + this.count) & (this.cap - 1);
    this.rids[i] = rid;
    this.ats[i] = at;
    this.parts[i] = part ?? NO_PART;
    this.answers[i] = answer;
    this.runnings[i] = running;
    this.count++;
  }

  /** Dead slots at the front go at once, so a run of failed writes does not pin the ring. */
  private trimDead(): void {
    while (this.count > 0 && !this.live(this.head)) this.shift(true);
  }

  /** Drop the oldest slot (`dead`: one already forgotten). */
  private shift(dead: boolean): void {
    this.clear(this.head);
    this.head = (this.head + 1) & (this.cap - 1);
    this.count--;
    if (dead) this.dead--;
  }

  /**
   * The oldest slot is still running while answers behind it are to go: it moves to the
   * stragglers (a write that long is rare), so the ring's front never waits for it.
   */
  private setAside(): void {
    const i = this.head;
    (this.stragglers ??= new Stragglers<A>()).add(this.rids[i] as number, {
      at: this.ats[i] as number,
      part: partOf(this.parts[i] as number),
      answer: undefined,
      running: this.runnings[i],
    });
    this.shift(false);
  }

  private clear(i: number): void {
    this.answers[i] = undefined;
    this.runnings[i] = undefined;
  }

  private grow(): void {
    this.resize(this.cap === 0 ? FIRST_CAPACITY : this.cap * 2);
  }

  /**
   * A burst's ring is given back once it is mostly empty (a window may live for long). Only
   * from the time window's sweeps (ten a second), with room to spare: the floor empties the
   * ring many times a second, and shrinking there made it grow back as often.
   */
  private maybeShrink(): void {
    if (this.cap > 64 && this.count < this.cap / 8) this.resize(this.cap / 2);
  }

  private resize(cap: number): void {
    const rids: number[] = new Array<number>(cap).fill(0);
    const ats: number[] = new Array<number>(cap).fill(0);
    const parts: number[] = new Array<number>(cap).fill(NO_PART);
    const answers: (A | undefined)[] = new Array<A | undefined>(cap).fill(undefined);
    const runnings: (Promise<unknown> | undefined)[] = new Array<Promise<unknown> | undefined>(cap).fill(undefined);
    const mask = this.cap - 1;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & mask;
      rids[k] = this.rids[i] as number;
      ats[k] = this.ats[i] as number;
      parts[k] = this.parts[i] as number;
      answers[k] = this.answers[i];
      runnings[k] = this.runnings[i];
    }
    this.rids = rids;
    this.ats = ats;
    this.parts = parts;
    this.answers = answers;
    this.runnings = runnings;
    this.cap = cap;
    this.head = 0;
  }
}

function partOf(p: number): number | undefined {
  return p === NO_PART ? undefined : p;
}
