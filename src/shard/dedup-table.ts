/**
 * Answers of writes, by client and request, so that a retry of a request whose reply was
 * lost gets the original answer instead of running again. Records are written to storage in
 * the same transaction as the mutation they describe, so they survive a crash exactly when
 * the mutation does.
 *
 * Each client has a window: its answers by request id (numbers, not a string per answer; in
 * a ring in id order, rid-answers.ts, not an entry of a map per write), and a floor below
 * which it has said it holds every answer (the `done` frame). A request under the floor is
 * refused: it can only be a stray copy, and the client never sends those ids again.
 *
 * A shard drops a client's answers as soon as its floor passes them (well within the time
 * window), so that a busy shard keeps a few hundred answers instead of 30 s of them. That is
 * safe only where the floor is known: a node drops an answer only under a floor it holds, and
 * a floor travels wherever the answers it replaced would have. A partition's copy to a
 * learner carries, beside the answers still kept, the floors of every client whose answers
 * of that partition this node dropped (`floorsFor`, adopted by the learner with
 * `adoptFloors`, which passes them on in its own copies). Without that, a copy of a put sent
 * before a network partition could land again on its old primary after the heal, once that
 * node led the partition again: neither it nor the copy it had received would know the
 * answer or the floor (the chaos suite's netns-partition test caught exactly that). Replicas
 * need nothing more: the answers reach them with the writes, and a replica drops them only
 * under a floor it heard itself. A restarted node needs nothing either: a stray copy travels
 * only on a connection that was open before, and those die with the process, while a client
 * sends nothing under its floor on a new one.
 */
import { errorFromWire, wireCodeOf, WireCode } from "../errors.js";
import type { ReplFloor } from "../encoding/mutation.js";
import { RidAnswers, type RidSlot } from "./rid-answers.js";

/** How long an answer is kept: twice the SDK's default retry budget (15 s). */
export const DEDUP_WINDOW_MS = 30_000;
const MAX_RECORDS = 1_000_000;
/** Windows kept at most: each starts with an answer, but may outlive it (its floor) for the window. */
const MAX_CLIENTS = 200_000;
/**
 * Partitions a window remembers dropping answers of, one by one; past that its floor goes
 * with every copy (a client writing everywhere costs a few bytes per copy, not a set of
 * every partition in each of 200,000 windows).
 */
const DROPPED_PARTS = 64;

/** A finished request's answer, as stored. */
export interface DedupAnswer {
  /** The result, or undefined for an error answer. */
  r?: unknown;
  /** Wire code of an error answer. */
  c?: string;
  m?: string;
}

/**
 * What an answer is kept under, within its client's window: a request id, or `<op>/<part>`
 * for one partition's share of a multi-partition write (one op id, several partitions).
 */
export type DedupKey = number | string;

/** What {@link DedupTable.lookup} says of a request. */
export type Seen = { found: false; below: boolean } | { found: true; answer: Promise<unknown> | unknown };
// Shared: a miss is every new write's lookup, and allocates nothing.
const NEW: Seen = Object.freeze({ found: false, below: false });
const BELOW_FLOOR: Seen = Object.freeze({ found: false, below: true });

/** A settled answer as it is copied with its partition or into a log snapshot. */
export interface DedupRecord {
  id: string;
  at: number;
  answer: DedupAnswer;
}

type Entry = RidSlot<DedupAnswer>;

/** One client's answers: by request id in a ring (rid-answers.ts), by op in a map (insertion order, which is time order). */
class ClientWindow {
  /** Every request id below this one the client holds the answer of. */
  floor = 0;
  /** When the client last wrote or moved its floor: the window outlives its answers by DEDUP_WINDOW_MS. */
  seen: number;
  readonly rids = new RidAnswers<DedupAnswer>();
  readonly ops = new Map<string, Entry>();
  /**
   * Partitions whose answers of this client were dropped under the floor (their copies must
   * carry the floor); `true`: more than DROPPED_PARTS of them, so every copy carries it.
   */
  dropped: Set<number> | true | undefined = undefined;
  droppedIn(part: number): void {
    if (this.dropped === true) return;
    if (this.dropped === undefined) this.dropped = new Set();
    else if (this.dropped.size >= DROPPED_PARTS && !this.dropped.has(part)) {
      this.dropped = true;
      return;
    }
    this.dropped.add(part);
  }
  constructor(now: number) {
    this.seen = now;
  }
  get size(): number {
    return this.rids.size + this.ops.size;
  }
}

export class DedupTable {
  private readonly clients = new Map<string, ClientWindow>();
  private count = 0;

  /** The stored form of a record's id (the log, replication, snapshots). */
  static id(clientId: string, key: DedupKey): string {
    return `${clientId}:${key}`;
  }

  /** A stored id back as client and key; undefined for one that is neither form. */
  static parse(id: string): { client: string; key: DedupKey } | undefined {
    // The key has no colon (a number, or `<op>/<part>`); a client id may.
    const sep = id.lastIndexOf(":");
    if (sep <= 0 || sep === id.length - 1) return undefined;
    const client = id.slice(0, sep);
    const tail = id.slice(sep + 1);
    const n = Number(tail);
    // A request id is a plain decimal integer; anything else (`7/3`, `007`) stays a string.
    return { client, key: Number.isSafeInteger(n) && n >= 0 && String(n) === tail ? n : tail };
  }

  private window(client: string, now: number): ClientWindow {
    let w = this.clients.get(client);
    if (!w) this.clients.set(client, (w = new ClientWindow(now)));
    else if (now > w.seen) w.seen = now;
    return w;
  }

  /** The entry is made only for a new key: a write that was running settles in place. */
  private put(client: string, key: DedupKey, at: number, part: number | undefined, answer: DedupAnswer | undefined, running: Promise<unknown> | undefined): void {
    const w = this.window(client, at);
    if (typeof key === "number") {
      if (!w.rids.set(key, at, part, answer, running)) return;
    } else {
      const had = w.ops.get(key);
      if (had) {
        had.at = at;
        had.part = part;
        had.answer = answer;
        had.running = running;
        return;
      }
      w.ops.set(key, { at, part, answer, running });
    }
    if (++this.count > MAX_RECORDS || this.clients.size > MAX_CLIENTS) this.expire(at, true);
  }

  /**
   * Put back an answer loaded from storage or replicated (ids of another form are skipped).
   * `client` and `rid`: the id's parts when the record came with them (a put's answer written
   * inside its set), which saves taking the id apart.
   */
  restore(id: string, at: number, answer: DedupAnswer, part?: number, client?: string, rid?: number): void {
    if (client !== undefined && rid !== undefined) {
      this.put(client, rid, at, part, answer, undefined);
      return;
    }
    const parsed = DedupTable.parse(id);
    if (!parsed) return;
    this.put(parsed.client, parsed.key, at, part, answer, undefined);
  }

  /**
   * The answer to a request seen before: its result (or a rejection with its error), or a
   * promise while it is still running. Else whether it is new, or a request id under the
   * client's floor (`below`): the client said it holds that answer, so a request with it is
   * a stray copy (a resend on a dead connection) and must not run again.
   */
  lookup(client: string, key: DedupKey): Seen {
    const w = this.clients.get(client);
    if (w === undefined) return NEW;
    // A new request's id is above every kept one: the ring tells it by one comparison.
    const e = typeof key === "number" ? w.rids.get(key) : w.ops.get(key);
    if (!e) return typeof key === "number" && key < w.floor ? BELOW_FLOOR : NEW;
    if (e.running) return { found: true, answer: e.running };
    const a = e.answer as DedupAnswer;
    if (a.c !== undefined) return { found: true, answer: Promise.reject(errorFromWire(a.c, a.m ?? "")) };
    return { found: true, answer: a.r };
  }

  /**
   * The client holds the answer of every request below `floor`: requests under it are refused
   * from now on, and their answers dropped here (a floor never moves down). Returns how many
   * were dropped.
   */
  advance(client: string, floor: number, now: number): number {
    // A client with no answers here gets no window: a floor alone must not cost memory (a
    // connection could name a new client in every hello).
    const w = this.clients.get(client);
    if (w === undefined) return 0;
    if (now > w.seen) w.seen = now;
    if (floor <= w.floor) return 0;
    w.floor = floor;
    // Oldest first, up to the first at or above the floor; a write still running keeps its
    // answer's place (beside the ring) until it settles.
    const dropped = w.rids.dropBelow(floor, (part) => {
      if (part !== undefined) w.droppedIn(part);
    });
    this.count -= dropped;
    return dropped;
  }

  /** The floors a copy of `part` must carry: those of the clients whose answers of it were dropped here. */
  floorsFor(part: number): ReplFloor[] {
    const out: ReplFloor[] = [];
    for (const [client, w] of this.clients) {
      if (w.dropped === true || w.dropped?.has(part) === true) out.push({ client, below: w.floor, at: w.seen });
    }
    return out;
  }

  /**
   * Take the floors that came with a copy of `part` (see the top of this file): each is
   * kept as if heard from its client, for the window after its client was last active, and
   * passed on with this node's own copies of the partition. Past the table's client bound,
   * empty windows go first, adopted floors among them, as answers do (the bound is what keeps
   * a node alive; a stray copy is then refused only where its answer is still kept).
   */
  adoptFloors(part: number, floors: readonly ReplFloor[], now: number): void {
    for (const f of floors) {
      let w = this.clients.get(f.client);
      if (w === undefined) this.clients.set(f.client, (w = new ClientWindow(f.at)));
      else if (f.at > w.seen) w.seen = f.at;
      if (f.below > w.floor) w.floor = f.below;
      w.droppedIn(part);
    }
    if (this.clients.size > MAX_CLIENTS) this.expire(now, true);
  }

  /** Mark a request as running, so a concurrent retry waits for the same answer. */
  running(client: string, key: DedupKey, at: number, p: Promise<unknown>, part?: number): void {
    this.put(client, key, at, part, undefined, p);
  }

  /** Record the final answer (what storage also gets). */
  settle(client: string, key: DedupKey, at: number, answer: DedupAnswer, part?: number): void {
    this.put(client, key, at, part, answer, undefined);
  }

  forget(client: string, key: DedupKey): void {
    const w = this.clients.get(client);
    if (w !== undefined && (typeof key === "number" ? w.rids.delete(key) : w.ops.delete(key))) this.count--;
  }

  /** The settled answers of a partition's writes since `since`, to copy along with it. */
  forPart(part: number, since: number): DedupRecord[] {
    const out: DedupRecord[] = [];
    for (const [, r] of this.settled(since, part)) out.push(r);
    return out;
  }

  /** Every settled answer since `since`, by partition: one pass for a whole snapshot. */
  byPart(since: number): Map<number, DedupRecord[]> {
    const out = new Map<number, DedupRecord[]>();
    for (const [part, r] of this.settled(since)) {
      const list = out.get(part);
      if (list) list.push(r);
      else out.set(part, [r]);
    }
    return out;
  }

  /** Each settled answer since `since` (of `only`, if given) with its partition: copies and snapshots, never a request. */
  private *settled(since: number, only?: number): Generator<[number, DedupRecord], void, undefined> {
    for (const [client, w] of this.clients) {
      for (const m of [w.rids.entries(), w.ops.entries()] as Iterable<[DedupKey, Entry]>[]) {
        for (const [key, e] of m) {
          if (e.part === undefined || e.answer === undefined || e.at < since || (only !== undefined && e.part !== only)) continue;
          yield [e.part, { id: DedupTable.id(client, key), at: e.at, answer: e.answer }];
        }
      }
    }
  }

  /**
   * Drop answers older than the window (or the older half of each client's when over
   * capacity), at most `budget` of them: called often with a small budget, expiry is many
   * short steps instead of one pause of tens of milliseconds that every request behind it
   * waits out. A client's window (its floor) goes once it is empty and idle for the window.
   */
  expire(now: number, overCapacity = false, budget = Number.POSITIVE_INFINITY): void {
    let dropped = 0;
    for (const [client, w] of this.clients) {
      dropped += w.rids.expire(now - DEDUP_WINDOW_MS, overCapacity, budget - dropped);
      const m = w.ops;
      let drop = overCapacity ? Math.floor(m.size / 2) : 0;
      for (const [key, e] of m) {
        if (dropped >= budget) break;
        if (e.running) continue;
        if (now - e.at > DEDUP_WINDOW_MS || drop-- > 0) {
          m.delete(key);
          dropped++;
        } else if (!overCapacity) break; // insertion order is time order
      }
      if (w.size === 0 && (overCapacity || now - w.seen > DEDUP_WINDOW_MS)) this.clients.delete(client);
      if (dropped >= budget) break;
    }
    this.count -= dropped;
  }

  get size(): number {
    return this.count;
  }

  /** Clients that have sent this node a floor (their windows, kept while they hold answers or were active). */
  get floorCount(): number {
    let n = 0;
    for (const w of this.clients.values()) if (w.floor > 0) n++;
    return n;
  }

  /** Clients with a window (answers or a floor still kept). */
  get clientCount(): number {
    return this.clients.size;
  }
}

/** The stored form of an error answer. */
export function errorAnswer(err: unknown): DedupAnswer | undefined {
  const code = wireCodeOf(err);
  // Only answers about the data are final; "retry later" conditions must run again.
  if (code === WireCode.WrongOwner || code === WireCode.Unavailable || code === WireCode.Internal || code === WireCode.StorageFull) return undefined;
  return { c: code, m: err instanceof Error ? err.message : String(err) };
}
