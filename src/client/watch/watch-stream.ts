/**
 * `Dict.watch`: the SDK side of a watch, an async iterable of events.
 *
 * It keeps one position per watched partition and asks each partition's primary for the
 * changes after it (`watch` requests, one per shard, parked there until something changes).
 * Positions only move forward and every answer covers everything after the position it was
 * asked from, so answers that overlap (a partition moved and both owners were asked) are
 * merged by dropping what was shown already: each change is shown once, in order, across
 * moves, failovers, coordinator restarts and reconnects. A shard that can no longer resume
 * a position says so, and the consumer gets `reset` (then, with `initial`, a fresh snapshot).
 *
 * Back-pressure: at most `maxBuffered` events wait for the consumer; past that the SDK stops
 * asking (the shards keep nothing per watcher) and resumes when the consumer catches up.
 */
import { ConnectionError, DictError, InvalidError, RetryableError, WireCode } from "../../errors.js";
import { partitionOf } from "../../hashing/hash.js";
import { MAX_AWAIT_MS } from "../../protocol/frames.js";
import { decodeKey, encodeKey, type DictKey } from "../../protocol/keys.js";
import { checkReply, type WatchReply } from "../../protocol/replies.js";
import { CLEAR, DELETE, EXPIRE, PUT } from "../../store/change-history.js";
import { backoff } from "../../util/backoff.js";
import { unrefTimer } from "../../util/unref-timer.js";
import type { EntryHandle } from "../entry-requests.js";
import { formatVersion } from "../versions.js";
import { ClearBarrier, BARRIER_TIMEOUT_MS, type RawChange } from "./clear-barrier.js";
import { makeEvent, parseCursor, Positions, type WatchEvent, type WatchEventType, type WatchOptions } from "./watch-events.js";
import { capture, CaptureLost } from "./watch-snapshot.js";

const DEFAULT_BUFFER = 10_000;
/** Changes asked for per answer. */
const EVENTS_PER_ANSWER = 2_000;

const KINDS: Record<number, WatchEventType> = { [PUT]: "put", [DELETE]: "delete", [EXPIRE]: "expire", [CLEAR]: "clear" };

/** A watch request in flight to one shard. */
interface Poll {
  parts: readonly number[];
  epoch: number;
  shard: string;
  rid: number;
}

export class WatchStream<V> implements AsyncIterableIterator<WatchEvent<V>> {
  private readonly queue: (WatchEvent<V> | undefined)[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private closed = false;
  /** Bumped by a fresh snapshot: answers to requests sent before it are dropped. */
  private epoch = 0;
  private id = "";
  private parts: number[] = [];
  private keyBytes: Uint8Array[] | undefined;
  /** Where each partition is read up to (null: not started; "from now"). */
  private readonly recv = new Map<number, number | null>();
  /** Shown positions (cursors); made once every partition's start is known. */
  private positions: Positions | undefined;
  private barrier: ClearBarrier | undefined;
  /** The request in flight per shard whose answer is followed by the next request. */
  private readonly polls = new Map<string, Poll>();
  /** Taking a snapshot: no requests meanwhile. */
  private snapshotting = false;
  private failures = 0;
  private lastSuccess = Date.now();
  private readonly maxBuffered: number;
  private readonly timer: NodeJS.Timeout;
  private readyResolve: (() => void) | undefined;
  /**
   * Resolves once every watched partition's starting position is known: a change made after
   * that is shown (rejects if the watch ends first). What `Dict.lock` waits for before trying.
   */
  readonly ready = new Promise<void>((resolve, reject) => {
    this.readyResolve = resolve;
    this.readyReject = reject;
  });
  private readyReject: ((err: Error) => void) | undefined;

  constructor(
    private readonly h: EntryHandle,
    private readonly opts: WatchOptions,
  ) {
    const given = [opts.key !== undefined, opts.keys !== undefined, opts.prefix !== undefined].filter(Boolean).length;
    if (given > 1) throw new InvalidError("watch takes one of key, keys or prefix");
    if (opts.prefix !== undefined && typeof opts.prefix !== "string") throw new InvalidError("watch's prefix must be a string");
    if (opts.keys !== undefined && (!Array.isArray(opts.keys) || opts.keys.length === 0 || opts.keys.length > 10_000)) throw new InvalidError("watch's keys must be an array of 1 to 10,000 keys");
    // Nobody need wait for it.
    this.ready.catch(() => {});
    this.maxBuffered = opts.maxBuffered ?? DEFAULT_BUFFER;
    if (!Number.isInteger(this.maxBuffered) || this.maxBuffered < 1) throw new InvalidError("watch's maxBuffered must be a positive integer");
    const keys = opts.key !== undefined ? [opts.key] : opts.keys;
    // Checked now: a bad key is the caller's error, thrown by watch() itself.
    this.keyBytes = keys?.map((k) => encodeKey(k));
    if (opts.after !== undefined && typeof opts.after !== "string") throw new InvalidError("watch's after must be a cursor string");
    this.timer = unrefTimer(setInterval(() => this.checkBarrier(), 1_000));
    if (opts.signal?.aborted) {
      this.close();
      return;
    }
    opts.signal?.addEventListener("abort", () => this.close(), { once: true });
    // With the dict and the table known, the first requests leave before watch() returns,
    // so a write the caller makes next is after the watch's start.
    const id = h.knownId();
    if (id !== undefined && h.client.knownTable !== undefined) this.begin(id);
    else
      void h
        .id()
        .then((known) => this.begin(known))
        .catch((err: unknown) => this.fail(err));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<WatchEvent<V>>> {
    for (;;) {
      if (this.head < this.queue.length) {
        const e = this.queue[this.head] as WatchEvent<V>;
        this.queue[this.head++] = undefined;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
        // Room again: ask for more (at half the bound, so requests are not one event each).
        if (this.buffered() === Math.floor(this.maxBuffered / 2)) this.schedule();
        if (this.roomWake !== undefined && this.buffered() < this.maxBuffered) this.wakeRoom();
        return { value: e, done: false };
      }
      if (this.failure) {
        const f = this.failure;
        this.failure = undefined;
        this.close();
        throw f;
      }
      if (this.closed) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<WatchEvent<V>>> {
    this.close();
    return { value: undefined, done: true };
  }

  /** Stop: no more requests; the consumer gets what is buffered, then the end. */
  close(): void {
    if (this.closed) return;
    this.readyReject?.(new ConnectionError("the watch was closed"));
    this.closed = true;
    this.abandonAll();
    clearInterval(this.timer);
    this.wakeRoom();
    this.notify();
  }

  /** Requests still parked on shards: nobody wants their answers (nor to wait for them to exit). */
  private abandonAll(): void {
    const polls = [...this.polls.values()];
    this.polls.clear();
    for (const p of polls) this.h.client.abandonRequest(p.shard, p.rid);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    this.failure = err instanceof Error ? err : new DictError(String(err));
    this.readyReject?.(this.failure);
    this.abandonAll();
    this.closed = true;
    clearInterval(this.timer);
    this.wakeRoom();
    this.notify();
  }

  private buffered(): number {
    return this.queue.length - this.head + (this.barrier?.size ?? 0);
  }

  private push(e: WatchEvent<V>): void {
    this.queue.push(e);
    this.notify();
  }

  // ---- start --------------------------------------------------------------------------

  /** Errors of the start (a bad cursor) end the stream: the consumer sees them from next(). */
  private begin(id: string): void {
    try {
      this.beginNow(id);
    } catch (err) {
      this.fail(err);
    }
  }

  private beginNow(id: string): void {
    if (this.closed) return;
    this.id = id;
    const partitions = this.h.client.table.partitions;
    this.parts = this.keyBytes ? [...new Set(this.keyBytes.map((kb) => partitionOf(id, kb, partitions)))].sort((a, b) => a - b) : Array.from({ length: partitions }, (_, i) => i);
    if (this.opts.after !== undefined) {
      const at = parseCursor(this.opts.after, id, partitions);
      const start = this.parts.map((p) => {
        const pos = at.get(p);
        if (pos === undefined) throw new InvalidError("after is a cursor of a watch of other keys: it has no position for some of these");
        return pos;
      });
      this.started(start);
      return;
    }
    if (this.opts.initial) {
      void this.snapshot();
      return;
    }
    for (const p of this.parts) this.recv.set(p, null);
    this.schedule();
  }

  /** Every partition's start is known: show events from here. */
  private started(start: readonly number[]): void {
    this.readyResolve?.();
    this.readyReject = undefined;
    this.parts.forEach((p, i) => this.recv.set(p, start[i] as number));
    this.positions = new Positions(this.id, this.h.client.table.partitions, this.parts, start);
    this.barrier = new ClearBarrier(this.parts.length, {
      change: (c) => this.showChange(c),
      progress: (part, pos) => this.positions?.move(part, pos),
      clear: (at) => {
        const p = this.positions as Positions;
        let ref = p.now();
        for (const [part, seq] of at) ref = p.move(part, seq);
        this.push(makeEvent<V>(p, ref, "clear", {}));
      },
    });
    this.schedule();
  }

  /** Take the `initial` snapshot (at the start, or again after a reset), then go live from it. */
  private async snapshot(): Promise<void> {
    this.snapshotting = true;
    this.epoch++;
    this.abandonAll();
    try {
      for (;;) {
        try {
          const c = await capture(this.h.client, this.id, this.parts);
          if (this.closed) return;
          const start = this.parts.map((p) => c.pos.get(p) as number);
          if (this.positions) this.positions.replace(start);
          else this.positions = new Positions(this.id, this.h.client.table.partitions, this.parts, start);
          const positions = this.positions;
          // Every snapshot event's cursor resumes after the whole snapshot.
          const ref = positions.now();
          const match = this.snapshotFilter();
          for await (const page of c.pages()) {
            for (let i = 0; i < page.keys.length; i++) {
              const kb = page.keys[i] as Uint8Array;
              const key = decodeKey(kb);
              if (!match(kb, key)) continue;
              this.push(makeEvent<V>(positions, ref, "put", { key, value: this.h.decode(page.values[i] as Uint8Array, key) as V, version: formatVersion(page.ver[i] as number) }));
            }
            await this.room();
            if (this.closed) return;
          }
          this.push(makeEvent<V>(positions, ref, "synced", {}));
          this.snapshotting = false;
          if (!this.barrier) this.started(start);
          else {
            this.parts.forEach((p, i) => this.recv.set(p, start[i] as number));
            this.schedule();
          }
          return;
        } catch (err) {
          if (!(err instanceof CaptureLost)) throw err;
          // A capture vanished halfway (its partition moved): what was shown is incomplete.
          if (this.positions) this.push(makeEvent<V>(this.positions, this.positions.now(), "reset", {}));
        }
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /** Resolves once the consumer has taken enough events to make room for more. */
  private async room(): Promise<void> {
    while (!this.closed && this.buffered() >= this.maxBuffered) await new Promise<void>((resolve) => (this.roomWake = resolve));
  }

  /** The snapshot waiting for the consumer to take events (woken by next() and close()). */
  private roomWake: (() => void) | undefined;

  private wakeRoom(): void {
    const w = this.roomWake;
    this.roomWake = undefined;
    w?.();
  }

  private snapshotFilter(): (kb: Uint8Array, key: DictKey) => boolean {
    if (this.keyBytes) {
      const want = new Set(this.keyBytes.map((kb) => Buffer.from(kb).toString("latin1")));
      return (kb) => want.has(Buffer.from(kb.buffer, kb.byteOffset, kb.byteLength).toString("latin1"));
    }
    const prefix = this.opts.prefix;
    if (prefix !== undefined) return (_kb, key) => typeof key === "string" && key.startsWith(prefix);
    return () => true;
  }

  // ---- the requests ---------------------------------------------------------------------

  /** Ask every shard that leads watched partitions, unless a request covering them is in flight. */
  private schedule(): void {
    if (this.closed || this.snapshotting || this.buffered() >= this.maxBuffered || this.recv.size === 0) return;
    const t = this.h.client.table;
    const starting = this.positions === undefined;
    const want = new Map<string, number[]>();
    let ownerless = false;
    for (const p of this.parts) {
      if (starting && this.recv.get(p) !== null) continue;
      const shard = t.primaryOf(p);
      if (shard === undefined) {
        ownerless = true;
        continue;
      }
      let g = want.get(shard);
      if (!g) want.set(shard, (g = []));
      g.push(p);
    }
    for (const [shard, parts] of want) {
      const cur = this.polls.get(shard);
      if (cur && cur.epoch === this.epoch && sameParts(cur.parts, parts)) continue;
      this.poll(shard, parts, starting);
    }
    for (const [shard, p] of [...this.polls]) {
      if (want.has(shard)) continue;
      this.polls.delete(shard);
      this.h.client.abandonRequest(shard, p.rid);
    }
    if (ownerless) this.retryLater(new RetryableError(WireCode.Unavailable, "a watched partition has no owner"));
  }

  private poll(shard: string, parts: readonly number[], starting: boolean): void {
    const client = this.h.client;
    const replaced = this.polls.get(shard);
    const poll: Poll = { parts, epoch: this.epoch, shard, rid: client.newRid() };
    this.polls.set(shard, poll);
    // The request it replaces is not needed: this one covers its partitions from as far back.
    if (replaced) client.abandonRequest(shard, replaced.rid);
    // Parked on the shard: within one attempt's reply timeout, or it would read as lost.
    const budget = client.requestTimeoutMs;
    const waitMs = starting ? 0 : Math.floor(Math.min(MAX_AWAIT_MS, Math.max(budget - 5_000, budget / 2)));
    const frame = {
      type: "watch" as const,
      dict: this.id,
      epoch: client.table.epoch,
      parts: parts.map((part) => ({ part, after: this.recv.get(part) ?? null })),
      waitMs,
      // Each answer fits the buffer: a watcher that stops reading holds a few answers at most.
      maxEvents: Math.min(EVENTS_PER_ANSWER, this.maxBuffered),
      ...(this.keyBytes && { keys: this.keyBytes }),
      ...(this.opts.prefix !== undefined && { prefix: this.opts.prefix }),
    };
    let sent: Promise<unknown>;
    try {
      sent = client.sendToShard(shard, frame, undefined, poll.rid);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (r) => {
        const current = this.polls.get(shard) === poll;
        if (current) this.polls.delete(shard);
        if (this.closed || poll.epoch !== this.epoch) return;
        this.failures = 0;
        this.lastSuccess = Date.now();
        try {
          this.answer(checkReply("watch", r), current);
        } catch (err) {
          this.fail(err);
          return;
        }
        this.schedule();
      },
      (err: unknown) => {
        // A request replaced or abandoned since: the one in charge speaks for its partitions.
        if (this.polls.get(shard) !== poll) return;
        this.polls.delete(shard);
        if (this.closed || poll.epoch !== this.epoch) return;
        this.retryLater(err);
      },
    );
  }

  /** A request failed: a lasting error ends the stream; else ask again after a backoff. */
  private retryLater(err: unknown): void {
    const lasting = err instanceof DictError && !(err instanceof RetryableError) && !(err instanceof ConnectionError);
    if (lasting) {
      this.fail(err);
      return;
    }
    const client = this.h.client;
    if (client.isClosed) {
      this.fail(new ConnectionError("client is closed"));
      return;
    }
    if (Date.now() - this.lastSuccess > client.retryBudgetMs) {
      this.fail(new ConnectionError(`watch: no shard answered for ${client.retryBudgetMs} ms: ${(err as Error).message}`, { cause: err }));
      return;
    }
    if (this.retrying) return;
    this.retrying = true;
    void backoff(++this.failures, 1_000)
      .then(() => client.refreshTable().catch(() => {}))
      .then(() => {
        this.retrying = false;
        // Regrouped by the fresh table: requests that still cover their partitions stay.
        this.schedule();
      });
  }

  private retrying = false;

  private answer(reply: WatchReply, current: boolean): void {
    const starting = this.positions === undefined;
    const resets: { part: number; pos: number }[] = [];
    for (const pr of reply.parts) {
      if (!this.recv.has(pr.part)) continue;
      const at = this.recv.get(pr.part) ?? null;
      if (starting) {
        if (at === null) this.recv.set(pr.part, pr.pos);
        continue;
      }
      if (pr.reset) {
        // Only the request in charge speaks for the partition: an older one asked from further back.
        if (current) resets.push({ part: pr.part, pos: pr.pos });
        continue;
      }
      let pos = at as number;
      for (const ev of pr.ev) {
        if (ev.s <= pos) continue;
        pos = ev.s;
        this.recv.set(pr.part, pos);
        this.barrier?.change({ part: pr.part, seq: ev.s, kind: ev.t, key: ev.k, value: ev.v });
      }
      if (pr.pos > pos) {
        this.recv.set(pr.part, pr.pos);
        this.barrier?.progress(pr.part, pr.pos);
      }
    }
    if (starting) {
      if (this.parts.every((p) => this.recv.get(p) !== null)) this.started(this.parts.map((p) => this.recv.get(p) as number));
      return;
    }
    if (resets.length > 0) this.reset(resets);
  }

  /** Changes were missed: say so, then go on from where the partitions are (or from a fresh snapshot). */
  private reset(parts: { part: number; pos: number }[]): void {
    const positions = this.positions as Positions;
    this.barrier?.abandon();
    if (this.opts.initial) {
      this.push(makeEvent<V>(positions, positions.now(), "reset", {}));
      void this.snapshot();
      return;
    }
    let ref = positions.now();
    for (const { part, pos } of parts) {
      this.recv.set(part, pos);
      ref = positions.move(part, pos);
    }
    this.push(makeEvent<V>(positions, ref, "reset", {}));
  }

  private showChange(c: RawChange): void {
    const positions = this.positions as Positions;
    const ref = positions.move(c.part, c.seq);
    const type = KINDS[c.kind] ?? "put";
    const key = c.key === undefined ? undefined : decodeKey(c.key);
    const value = type === "put" && c.value !== undefined ? (this.h.decode(c.value, key) as V) : undefined;
    this.push(makeEvent<V>(positions, ref, type, { ...(key !== undefined && { key }), ...(value !== undefined && { value }), version: formatVersion(c.seq) }));
  }

  /** A clear that has not reached every partition for a while is shown as a reset. */
  private checkBarrier(): void {
    const since = this.barrier?.waitingSince;
    if (since === undefined || Date.now() - since < BARRIER_TIMEOUT_MS || !this.positions) return;
    this.reset([]);
    this.schedule();
  }
}

function sameParts(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}
