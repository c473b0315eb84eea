/**
 * The data path on a shard: check ownership, the dict and the input, apply the operation to
 * the partition's store, and answer once the write is durable. Plain functions, synchronous
 * whenever the dict is already known.
 */
import { InvalidError, KeyError, RequestSizeError, RetryableError, WireCode } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import { isCanonicalKey } from "../protocol/keys.js";
import { checkValueBytes } from "../protocol/value-check.js";
import { partitionOf } from "../hashing/hash.js";
import type { FrameOf } from "../protocol/frames.js";
import type { Clock } from "../util/clock.js";
import { keyString, type PartitionStore } from "../store/partition-store.js";
import { SCAN_PAGE_BYTES } from "../net/limits.js";
import type { DictSet } from "./dict-set.js";
import type { PartitionHost } from "./partition-host.js";
import { DedupTable, errorAnswer, type DedupAnswer, type DedupKey } from "./dedup-table.js";
import { decidesInOrder, isOnce, partsOf, writeBytes, type DataFrame } from "./data-frames.js";
export { isDataFrame, type DataFrame } from "./data-frames.js";
import { Latin1Bytes, latin1Bytes } from "../encoding/latin1-bytes.js";
import { PendingWrites, track, waitsFor } from "./pending-writes.js";
import { applyEntryOp, failedCondition } from "./entry-ops.js";
import { KeyWaiters } from "./key-waiters.js";
import { HotKeys, noteHotKey } from "./hot-keys.js";
import { WatchPolls } from "./watch-polls.js";
import { nanoid } from "nanoid";
import { createHash } from "node:crypto";

export interface DataHandlerContext {
  shardId: string;
  /** Room on disk for a write, before it changes anything (see StorageEngine.reserve). */
  reserve(bytes: number): Promise<void> | undefined;
  release(bytes: number): void;
  host: PartitionHost;
  dicts: DictSet;
  dedup: DedupTable;
  clock: Clock;
  maxEntryBytes: number;
  /** The current table, or undefined before the first registration. */
  table(): PartitionTable | undefined;
  serving(): boolean;
  /** Commit a store's pending mutations locally and to the replicas; undefined if none. */
  persist(store: PartitionStore): Promise<unknown> | undefined;
  /**
   * Undefined when this node may answer for these partitions now (it holds a lease, or they
   * have no replicas); else a promise that resolves once its replicas confirmed it still
   * leads them, or rejects (it was deposed).
   */
  ensureLeader(parts: number | readonly number[]): Promise<void> | undefined;
  /** The shard a partition is being handed to, while this node no longer serves it. */
  handingOff(part: number): string | undefined;
  /** Resolves when a hand-off of `part` is over (flipped or abandoned), or after `ms`. */
  handoffOver(part: number, ms: number): Promise<void>;
}

/**
 * How long a request for a partition being handed off waits for the flip: it is then
 * answered "moved" just as the new owner takes over, so the client's retry finds it at once
 * instead of backing off while the flip is under way.
 */
const HANDOFF_HOLD_MS = 2_000;

export class DataHandler {
  /** Writes not yet acknowledged, per partition: later requests on their keys wait. */
  private readonly pending = new PendingWrites();
  /** Requests waiting for a key to change (`awaitChange`). */
  readonly waiters: KeyWaiters;
  /** Watch requests waiting for changes (`watch`). */
  readonly watches: WatchPolls;
  /** Approximate hot keys per dict (sampled): `shardict dict hotkeys`. */
  readonly hotKeys = new HotKeys();

  constructor(private readonly ctx: DataHandlerContext) {
    this.waiters = new KeyWaiters(ctx.clock);
    this.watches = new WatchPolls(ctx.clock);
  }

  /**
   * Run the request once no earlier write to the same keys (or, for partition-wide requests,
   * to the same dict in those partitions) is still waiting for its commit or its replicas.
   * Nobody may observe, or decide on, a write that is not yet acknowledged: if it is then
   * lost (a crash before the flush, a failover before the replicas had it), what they saw
   * would never have happened. `waited`: the request waited for something already (its
   * dict, earlier writes), so ownership is checked again before it runs.
   */
  private afterPending(frame: DataFrame, clientId: string | undefined, table: PartitionTable, waited: boolean, inOrder: boolean): unknown {
    // Most requests find nothing pending: then they pay for no key strings (and no closures).
    if (this.pending.size > 0) {
      const waits = waitsFor(this.pending, frame);
      if (waits.length > 0) {
        if (inOrder) return this.onTopOf(frame, clientId, table, waits);
        return Promise.allSettled(waits).then(() => this.afterPending(frame, clientId, table, true, false));
      }
    }
    const result = this.fenced(frame, clientId, table, waited);
    if (result instanceof Promise) track(this.pending, frame, result);
    return result;
  }

  /**
   * A write that decides in order (see {@link decidesInOrder}) runs at once on top of the
   * unacknowledged writes `waits`. Its answer waits for its own commit, so for them too; an
   * error it decided on them (a counter that is not a number) is recorded nowhere, so it
   * waits for them explicitly.
   */
  private onTopOf(frame: DataFrame, clientId: string | undefined, table: PartitionTable, waits: Promise<unknown>[]): unknown {
    const afterThem = (err: unknown) => Promise.allSettled(waits).then(() => Promise.reject(err));
    let result: unknown;
    try {
      result = this.fenced(frame, clientId, table, false);
    } catch (err) {
      return afterThem(err);
    }
    if (!(result instanceof Promise)) return result;
    track(this.pending, frame, result);
    return result.catch(afterThem);
  }

  /** Leadership is checked after earlier writes settled: a deposed primary finds out then. */
  private fenced(frame: DataFrame, clientId: string | undefined, table: PartitionTable, waited: boolean): unknown {
    const fence = this.ctx.ensureLeader("part" in frame ? frame.part : partsOf(frame));
    return fence ? fence.then(() => this.exec(frame, clientId, table, true)) : this.exec(frame, clientId, table, waited);
  }

  private exec(frame: DataFrame, clientId: string | undefined, table: PartitionTable, waited: boolean): unknown {
    // Ownership again after any wait: the table may have changed, or a hand-off begun.
    if (waited) this.checkOwners(this.ctx.table() ?? table, frame);
    if (frame.type === "updateParts") return this.updateParts(frame, clientId);
    if (frame.type === "clear") return this.clearParts(frame, clientId);
    if (frame.type === "watch") return this.watchPoll(frame);
    if (clientId === undefined || !isOnce(frame)) return this.apply(frame);
    return this.once(clientId, frame.rid, frame.part, (answer) => this.apply(frame, answer));
  }

  /**
   * Resolves once no write accepted on `part` is still waiting for its commit or its
   * replicas (a primary handing the partition off stops accepting new ones first).
   */
  async drain(part: number): Promise<void> {
    for (let waits = this.pending.all(part); waits.length > 0; waits = this.pending.all(part)) {
      await Promise.allSettled(waits);
    }
  }

  /** A client holds the answers of its requests below `below` (its `done` frame): they need not be kept. */
  clientDone(clientId: string, below: number): void {
    this.ctx.dedup.advance(clientId, below, this.ctx.clock.now());
  }

  /**
   * `clientId` is the sender's id (from its hello), which makes retries recognisable. A
   * write first reserves room on disk for what it will write: refused (`StorageFullError`)
   * before it changes anything when the disk is full.
   */
  handle(frame: DataFrame, clientId?: string): unknown {
    // Before any reservation: a node that is not serving must not touch its storage (one
    // that lost its data has not set the corrupt files aside yet).
    if (!this.ctx.serving()) throw new RetryableError(WireCode.Unavailable, `${this.ctx.shardId} is not serving yet`);
    noteHotKey(this.hotKeys, frame);
    let bytes = writeBytes(frame);
    if (bytes === 0) return this.admitted(frame, clientId);
    // A pop's stored answer holds the value it removes; a counter's new value is about its old one's size.
    if (frame.type === "pop" || frame.type === "incr") bytes += this.ctx.host.existing(frame.part)?.valueBytes(frame.dict, keyString(frame.key)) ?? 0;
    const waiting = this.ctx.reserve(bytes);
    return waiting ? waiting.then(() => this.withReserved(frame, clientId, bytes)) : this.withReserved(frame, clientId, bytes);
  }

  /** Run a write whose bytes are reserved; the reservation ends when the request settles. */
  private withReserved(frame: DataFrame, clientId: string | undefined, bytes: number): unknown {
    let result: unknown;
    try {
      result = this.admitted(frame, clientId);
    } catch (err) {
      this.ctx.release(bytes);
      throw err;
    }
    if (result instanceof Promise) {
      // Not `finally`: it costs two more promises per write.
      return result.then(
        (r: unknown) => {
          this.ctx.release(bytes);
          return r;
        },
        (err: unknown) => {
          this.ctx.release(bytes);
          throw err;
        },
      );
    }
    this.ctx.release(bytes);
    return result;
  }

  private admitted(frame: DataFrame, clientId?: string, held = false): unknown {
    if (!this.ctx.serving()) throw new RetryableError(WireCode.Unavailable, `${this.ctx.shardId} is not serving yet`);
    const table = this.ctx.table();
    if (!table) throw new RetryableError(WireCode.Unavailable, `${this.ctx.shardId} has no partition table yet`);
    const moving = "part" in frame ? this.ctx.handingOff(frame.part) !== undefined && frame.part : partsOf(frame).find((p) => this.ctx.handingOff(p) !== undefined);
    if (moving !== false && moving !== undefined && !held) {
      return this.ctx.handoffOver(moving, HANDOFF_HOLD_MS).then(() => this.admitted(frame, clientId, true));
    }
    this.checkOwners(table, frame);
    // In order only with a client id: then every answer, a failed condition's too, is recorded and committed.
    const inOrder = clientId !== undefined && decidesInOrder(frame);
    if (this.ctx.dicts.has(frame.dict)) return this.afterPending(frame, clientId, table, false, inOrder);
    return this.ctx.dicts.ensure(frame.dict, this.ctx.clock.now()).then(() => this.afterPending(frame, clientId, table, true, inOrder));
  }

  /**
   * Run a write at most once per dedup id (client and request id): a retry gets the first
   * answer, waiting for it if the first attempt is still committing. Plain puts need this
   * too: a put applied twice around another client's delete would let that delete see a
   * value the history says was not there yet. Every answer is stored with its mutation, on
   * disk and on the replicas, so a retry after a crash, a restart or a failover gets it.
   */
  private once(client: string, key: DedupKey, part: number, run: (answer: (r: unknown) => void) => unknown): unknown {
    const dedup = this.ctx.dedup;
    const seen = dedup.lookup(client, key);
    if (seen.found) return seen.answer;
    // A copy of a request whose answer the client already has (it moved its floor past it).
    if (seen.below) throw new InvalidError(`request ${key} was already answered (below this client's floor)`);
    const at = this.ctx.clock.now();
    const store = this.ctx.host.store(part);
    let result: unknown;
    // The answer recorded with the write (done() records the result it returns) is the one
    // kept in memory too: one object, not two. A write that recorded none (a failed
    // condition answered at once) keeps its result.
    let recorded: DedupAnswer | undefined;
    try {
      result = run((r) => {
        recorded = { r };
        // The id's parts too: the log writes a put's answer inside its set (log-body.ts).
        const id = DedupTable.id(client, key);
        store?.record(typeof key === "number" ? { op: "dedup", id, at, answer: recorded, part, client, rid: key } : { op: "dedup", id, at, answer: recorded, part });
      });
    } catch (err) {
      const answer = errorAnswer(err);
      if (answer) dedup.settle(client, key, at, answer, part);
      throw err;
    }
    if (!(result instanceof Promise)) {
      dedup.settle(client, key, at, recorded ?? { r: result }, part);
      return result;
    }
    const p = result.then(
      (r: unknown) => {
        dedup.settle(client, key, at, recorded ?? { r }, part);
        return r;
      },
      (err: unknown) => {
        dedup.forget(client, key);
        throw err;
      },
    );
    dedup.running(client, key, at, p, part);
    return p;
  }

  /**
   * A bulk update over several partitions: everything is checked before anything is
   * applied, then each partition's entries are applied once per (client, op, partition) and
   * committed together. Answers the number of entries.
   */
  private updateParts(frame: FrameOf<"updateParts">, clientId: string | undefined): unknown {
    if (new Set(frame.parts.map((g) => g.part)).size !== frame.parts.length) throw new InvalidError("updateParts names a partition twice");
    const checked = frame.parts.map((g) => ({ part: g.part, ks: this.updateKeys(frame.dict, g.part, g.keys, g.values), keys: g.keys, values: g.values }));
    const now = this.ctx.clock.now();
    const waits: Promise<unknown>[] = [];
    let n = 0;
    for (const { part, ks, keys, values } of checked) {
      n += ks.length;
      const run = (answer?: (r: unknown) => void) => {
        const store = this.ctx.host.store(part);
        store.update(frame.dict, ks, values, now, keys, frame.ttl);
        return this.done(store, ks.length, answer);
      };
      const r = clientId === undefined ? run() : this.once(clientId, `${frame.op}/${part}`, part, run);
      if (r instanceof Promise) waits.push(r);
    }
    return waits.length === 0 ? n : Promise.all(waits).then(() => n);
  }

  /**
   * Clear a dict in several partitions: each one at most once per (client, `op`), so a
   * retried or regrouped clear never empties a partition twice, and every partition records
   * the clear (even where the dict has nothing) under one id, for watchers.
   */
  private clearParts(frame: FrameOf<"clear">, clientId: string | undefined): unknown {
    const once = clientId !== undefined && frame.op !== undefined;
    const cid = once ? clearId(clientId, frame.op as number) : `anon:${nanoid(12)}`;
    const waits: Promise<unknown>[] = [];
    for (const part of frame.parts) {
      const run = (answer?: (r: unknown) => void) => {
        const store = this.ctx.host.store(part);
        store.clear(frame.dict, cid);
        return this.done(store, null, answer);
      };
      const r = once ? this.once(clientId, `${frame.op as number}/${part}`, part, run) : run();
      if (r instanceof Promise) waits.push(r);
    }
    return waits.length === 0 ? null : Promise.all(waits).then(() => null);
  }

  /** A watch request (see watch-polls.ts): positions and keys are checked first. */
  private watchPoll(frame: FrameOf<"watch">): unknown {
    if (new Set(frame.parts.map((g) => g.part)).size !== frame.parts.length) throw new InvalidError("watch names a partition twice");
    if (frame.keys !== undefined && frame.prefix !== undefined) throw new InvalidError("watch takes keys or a prefix, not both");
    for (const k of frame.keys ?? []) if (!isCanonicalKey(k)) throw new InvalidError("key bytes are not a canonical key encoding");
    return this.watches.poll(frame, (part) => this.ctx.host.store(part));
  }

  /** An update's key strings, once every key and size is checked. */
  private updateKeys(dict: string, part: number, keys: readonly Uint8Array[], values: readonly Uint8Array[]): string[] {
    if (keys.length !== values.length) throw new InvalidError("update has different numbers of keys and values");
    return keys.map((k, i) => {
      this.checkEntry(k, values[i] as Uint8Array);
      return this.key(k, dict, part);
    });
  }

  private checkOwners(table: PartitionTable, frame: DataFrame): void {
    if ("part" in frame) this.checkOwner(table, frame.part);
    else for (const p of partsOf(frame)) this.checkOwner(table, p);
  }

  private checkOwner(table: PartitionTable, part: number): void {
    if (part >= table.partitions) throw new InvalidError(`partition ${part} does not exist (the cluster has ${table.partitions})`);
    if (table.primaryOf(part) !== this.ctx.shardId) {
      throw new RetryableError(WireCode.WrongOwner, `${this.ctx.shardId} does not own partition ${part} at epoch ${table.epoch}`);
    }
    const to = this.ctx.handingOff(part);
    if (to !== undefined) throw new RetryableError(WireCode.WrongOwner, `partition ${part} moved: ${this.ctx.shardId} is handing it to ${to}`);
  }

  /** Check key bytes from the wire: canonical, and hashing to the partition named. */
  private key(bytes: Uint8Array, dict: string, part: number): string {
    if (!isCanonicalKey(bytes)) throw new InvalidError("key bytes are not a canonical key encoding");
    const table = this.ctx.table();
    if (table && partitionOf(dict, bytes, table.partitions) !== part) {
      throw new InvalidError(`key does not belong to partition ${part}`);
    }
    return keyString(bytes);
  }

  /** An entry from the wire: within `maxEntryBytes`, and a value readers can decode. */
  private checkEntry(key: Uint8Array, value: Uint8Array): void {
    const size = key.byteLength + value.byteLength;
    if (size > this.ctx.maxEntryBytes) {
      throw new RequestSizeError(`entry of ${size} bytes exceeds the limit of ${this.ctx.maxEntryBytes} bytes`, this.ctx.maxEntryBytes, size);
    }
    // A value no SDK could decode within its bounds is refused here, not found by every
    // reader later (the scan never allocates; strings, the common value, cost nothing).
    checkValueBytes(value);
  }

  private done<T>(store: PartitionStore, result: T, answer?: (r: T) => void): T | Promise<T> {
    answer?.(result);
    const durable = this.ctx.persist(store);
    if (durable === undefined) return result;
    // The writes of one log round share its promise, and most answer the same `true`: they
    // share the promise of that answer too.
    const last = this.lastDone;
    if (last.durable === durable && last.result === result && typeof result !== "object") return last.answer as Promise<T>;
    const answered = durable.then(() => result);
    last.durable = durable;
    last.result = result;
    last.answer = answered;
    return answered;
  }

  /** The last answer {@link done} chained on a commit, for the next write of the same round. */
  private readonly lastDone: { durable: Promise<unknown> | undefined; result: unknown; answer: Promise<unknown> | undefined } = {
    durable: undefined,
    result: undefined,
    answer: undefined,
  };

  /** Apply a request; `answer` (for requests run once) records the result in the same commit. */
  private apply(frame: Exclude<DataFrame, FrameOf<"updateParts" | "clear" | "watch">>, answer?: (result: unknown) => void): unknown {
    const now = this.ctx.clock.now();
    const host = this.ctx.host;
    switch (frame.type) {
      case "get": {
        // A read may persist its entry's moved deadline (coarsely); then it waits for that.
        const store = host.store(frame.part);
        const value = store.getLatin1(frame.dict, this.key(frame.key, frame.dict, frame.part), now);
        return this.done(store, value === undefined ? undefined : new Latin1Bytes(value));
      }
      case "contains": {
        const store = host.store(frame.part);
        return this.done(store, store.contains(frame.dict, this.key(frame.key, frame.dict, frame.part), now));
      }
      case "put": {
        const k = this.key(frame.key, frame.dict, frame.part);
        this.checkEntry(frame.key, frame.value);
        const store = host.store(frame.part);
        return this.done(store, store.put(frame.dict, k, frame.value, frame.ifAbsent, now, frame.key), answer);
      }
      case "pop": {
        const store = host.store(frame.part);
        return this.done(store, store.pop(frame.dict, this.key(frame.key, frame.dict, frame.part), now), answer);
      }
      case "del": {
        const store = host.store(frame.part);
        if (!store.delete(frame.dict, this.key(frame.key, frame.dict, frame.part), now)) throw new KeyError("key not found");
        return this.done(store, true, answer);
      }
      case "update": {
        // Validate everything before touching the store: all entries land or none do.
        const ks = this.updateKeys(frame.dict, frame.part, frame.keys, frame.values);
        const store = host.store(frame.part);
        store.update(frame.dict, ks, frame.values, now, frame.keys, frame.ttl);
        return this.done(store, ks.length, answer);
      }
      case "len": {
        let n = 0;
        for (const p of frame.parts) {
          const store = host.existing(p);
          if (!store) continue;
          n += store.count(frame.dict, now);
          // Counting expired what was due: those deletes go to storage and the replicas.
          this.ctx.persist(store)?.catch(() => {});
        }
        return n;
      }
      case "scan": {
        const after = frame.after === null ? null : keyString(frame.after);
        return host.store(frame.part).scan(frame.dict, after, frame.session, frame.limit, frame.values, now, SCAN_PAGE_BYTES);
      }
      case "exportPage": {
        const store = host.store(frame.part);
        // A capture first removes what is past its deadline (invisible already): its expiry
        // is then before the capture's position, not an event for a key the capture never
        // showed; and the answer waits for those removals' commit, so the position it gives
        // is acknowledged.
        const capturing = frame.session === undefined && store.expireDue(now) > 0;
        const page = store.exportPage(frame.dict, frame.session, frame.from, frame.limit, now, SCAN_PAGE_BYTES);
        if (!page) return { restart: true };
        const e = page.entries;
        const reply = { keys: e.map((x) => latin1Bytes(x.k)), values: e.map((x) => latin1Bytes(x.value)), left: e.map((x) => x.left), ttl: e.map((x) => x.ttl), ver: e.map((x) => x.ver), next: page.next, session: page.session, pos: page.pos };
        return capturing ? this.done(store, reply) : reply;
      }
      case "awaitChange":
        return this.waiters.wait(host.store(frame.part), frame.dict, this.key(frame.key, frame.dict, frame.part), frame.ver, frame.timeoutMs);
      default: {
        const store = host.store(frame.part);
        const k = this.key(frame.key, frame.dict, frame.part);
        const result = applyEntryOp(frame, store, k, now, (key, value) => this.checkEntry(key, value));
        // A failed condition changed nothing: it is answered at once, like a read (a retry
        // gets the answer from memory, or decides afresh, which is as good: nothing depended
        // on it), unless it was decided on writes not yet acknowledged; then its recorded
        // answer's commit orders it after them.
        if (failedCondition(result) && (this.pending.size === 0 || waitsFor(this.pending, frame).length === 0)) return result;
        return this.done(store, result, answer);
      }
    }
  }
}

/**
 * A clear's id, the same in every partition it reaches (and on a retry): derived from the
 * client's id and the call's op number, without showing the client's id. Watchers of the
 * dict see it, and a client's id is what a connection names to move that client's request
 * floor (dedup-table.ts), so it must not leak to other clients.
 */
export function clearId(clientId: string, op: number): string {
  return `${createHash("sha256").update(clientId).digest("base64url").slice(0, 22)}:${op}`;
}
