/**
 * The primary's side of replication. The mutations of one partition made in one event-loop
 * turn go to every in-sync replica as one `repl` frame, in order (one frame in flight per
 * replica and partition, so a resend can never overtake a later frame). A write is
 * acknowledged once every replica of the current table has applied it durably.
 *
 * A replica that does not answer is resent the same frame (applying it twice is harmless)
 * and, after a while, reported to the coordinator, which takes it out of the partition's
 * replicas; the wait then ends. If this node stops being the partition's primary meanwhile,
 * the write fails as "owner moved": the client retries it with the same request id.
 */
import { afterApply, RetryableError, WireCode } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import type { MoveProgressData } from "../protocol/frames.js";
import type { Mutation, ReplMutation } from "../store/storage-engine.js";
import { backoff } from "../util/backoff.js";
import type { NodeLinks } from "./node-links.js";
import { BATCH_BYTES, itemBytes, ReplicationBatches, type ReplItem } from "./replication-batches.js";

/** How long a replica may fail to answer before it is reported. */
const REPORT_AFTER_MS = 1_000;
const ATTEMPT_TIMEOUT_MS = 1_000;

export interface ReplicatorContext {
  selfId: string;
  table(): PartitionTable | undefined;
  links: NodeLinks;
  reportFailed(part: number, pepoch: number, replica: string): Promise<void>;
  reportCaughtUp(part: number, pepoch: number, replica: string): Promise<void>;
  refreshTable(): Promise<void>;
  /**
   * A partition this node leads, as chunks of mutations read lazily (the first starts with
   * a reset), and how many entries that is about.
   */
  snapshot(part: number): { chunks: Iterator<ReplMutation[]>; total: number };
  /** A frame a replica (not a learner) acknowledged, `seconds` after it was queued (metrics). */
  onAcknowledged?(seconds: number): void;
}

type ReplicatedMutation = ReplMutation;

/** Snapshot frames of one catch-up in flight at once: bounds the memory a copy takes. */
const CHUNKS_IN_FLIGHT = 2;

interface Batch {
  muts: ReplicatedMutation[];
  done: Promise<void>;
}

/** A frame queued for one replica and partition that has not started its delivery yet. */
interface Waiting {
  item: ReplItem;
  learner: boolean;
  /** Its delivery (set as soon as it is queued). */
  done: Promise<void> | undefined;
  /** About how many bytes it holds (itemBytes): it takes no more once past BATCH_BYTES. */
  bytes: number;
  /**
   * Whether `item.muts` is its own array: it starts as the array every replica's frame
   * shares, and is copied only when a later write joins it.
   */
  owned: boolean;
}

export class Replicator {
  private readonly batches = new Map<number, Batch>();
  /** Per `replica:part`: the last frame's delivery, which the next one waits for. */
  private readonly chains = new Map<string, Promise<void>>();
  /**
   * Per `replica:part`: the live frame queued behind the one in flight, which later writes of
   * the partition join instead of queueing a frame each (so one frame carries every write
   * made while the one before it was on its way).
   */
  private readonly waiting = new Map<string, Waiting>();
  /** Per replica: the batches its frames leave in (replication-batches.ts). */
  private readonly batchesTo = new Map<string, ReplicationBatches>();

  constructor(private readonly ctx: ReplicatorContext) {}

  /** Frames queued for a replica or learner and not yet acknowledged, with when they were queued. */
  private readonly unacknowledged = new Map<object, number>();

  /** For metrics: frames in flight, and the age of the oldest (ms; 0 when none): the replicas' lag. */
  inFlight(now = performance.now()): { frames: number; oldestMs: number } {
    let oldest = now;
    for (const at of this.unacknowledged.values()) if (at < oldest) oldest = at;
    return { frames: this.unacknowledged.size, oldestMs: now - oldest };
  }

  /** Learners being (or done being) caught up, as `learner:part:pepoch`: they get live frames. */
  private readonly syncing = new Map<string, { learner: string; part: number; pepoch: number }>();
  /**
   * Learners this node has reported caught up (same keys). From that moment the coordinator
   * may count them as replicas, and promote one, even if the table saying so never reaches
   * this node: so they are waited for, and asked to confirm leadership, like replicas.
   */
  private readonly reported = new Set<string>();
  /** Copies running from this node, by `learner:part`, for `cluster status`. */
  private readonly progress = new Map<string, MoveProgressData>();

  private copyTurns: Promise<void> = Promise.resolve();

  /**
   * Wait for this node's next copy turn: one snapshot chunk per event-loop turn however many
   * copies run at once, so a request waits behind at most one chunk.
   */
  private copyTurn(): Promise<void> {
    const turn = this.copyTurns.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    this.copyTurns = turn;
    return turn;
  }

  /** The copies this node is running now. */
  moves(): MoveProgressData[] {
    return [...this.progress.values()].map((m) => ({ ...m }));
  }

  /**
   * The shards whose acknowledgement a write of `part` needs, and which must confirm this
   * node's leadership: the in-sync replicas of the table, and learners reported caught up.
   */
  replicasFor(t: PartitionTable, part: number): readonly string[] {
    const replicas = t.replicasOf(part);
    const learners = t.learnersOf(part);
    if (learners.length === 0) return replicas;
    const pepoch = t.pepochOf(part);
    const out = [...replicas];
    for (const l of learners) if (this.reported.has(`${l}:${part}:${pepoch}`) && !out.includes(l)) out.push(l);
    return out;
  }

  /**
   * A new table: start catching up every learner of a partition this node leads. The
   * snapshot is taken now, synchronously, and queued before any later frame of the
   * partition, so snapshot then live stream arrive in order.
   */
  onTable(t: PartitionTable): void {
    // Copies the table no longer asks for (the learner joined the owners, or was dropped, or
    // this node no longer leads): forgotten, so that asking again starts a fresh copy.
    for (const [id, s] of this.syncing) {
      if (t.primaryOf(s.part) !== this.ctx.selfId || t.pepochOf(s.part) !== s.pepoch || !t.learnersOf(s.part).includes(s.learner)) {
        this.syncing.delete(id);
        this.reported.delete(id);
      }
    }
    for (let part = 0; part < t.partitions; part++) {
      if (t.primaryOf(part) !== this.ctx.selfId) continue;
      for (const learner of t.learnersOf(part)) {
        const id = `${learner}:${part}:${t.pepochOf(part)}`;
        if (this.syncing.has(id)) continue;
        const token = { learner, part, pepoch: t.pepochOf(part) };
        this.syncing.set(id, token);
        void this.catchUp(learner, part, t.pepochOf(part)).catch(() => {
          if (this.syncing.get(id) === token) this.syncing.delete(id);
        });
      }
    }
  }

  /**
   * Copy a partition to a learner: snapshot chunks, each read and queued in one turn, with
   * the event loop free between them (so other requests wait at most one chunk), then the
   * live stream that was queued behind them.
   */
  private async catchUp(learner: string, part: number, pepoch: number): Promise<void> {
    const { chunks, total } = this.ctx.snapshot(part);
    const key = `${learner}:${part}`;
    const progress: MoveProgressData = { part, to: learner, done: 0, total };
    this.progress.set(key, progress);
    try {
      const frames: Promise<void>[] = [];
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        const muts = next.value;
        frames.push(this.enqueue(learner, { part, pepoch, muts }, true, false));
        const settled = frames.length - CHUNKS_IN_FLIGHT;
        if (settled >= 0) await frames[settled];
        progress.done += muts.length;
        if (progress.done > progress.total) progress.total = progress.done;
        await this.copyTurn();
        const t = this.ctx.table();
        if (!t || t.pepochOf(part) !== pepoch || !t.learnersOf(part).includes(learner)) throw new RetryableError(WireCode.Unavailable, "the copy is no longer wanted");
      }
      await Promise.all(frames);
      await this.finishCatchUp(learner, part, pepoch);
    } finally {
      if (this.progress.get(key) === progress) this.progress.delete(key);
    }
  }

  private async finishCatchUp(learner: string, part: number, pepoch: number): Promise<void> {
    // From now on writes wait for the learner; the live frames queued before that (their
    // writes were acknowledged without it) must land before it may count as in sync.
    this.reported.add(`${learner}:${part}:${pepoch}`);
    const key = `${learner}:${part}`;
    for (let chain = this.chains.get(key); chain; chain = this.chains.get(key)) {
      await chain;
      if (this.chains.get(key) === chain) break;
    }
    for (let attempt = 1; ; attempt++) {
      const t = this.ctx.table();
      if (!t || t.pepochOf(part) !== pepoch || !t.learnersOf(part).includes(learner)) return;
      try {
        await this.ctx.reportCaughtUp(part, pepoch, learner);
        return;
      } catch {
        await backoff(attempt, 500);
      }
    }
  }

  /**
   * Replicate `muts` of `part`; undefined when the partition has no replica. A failure is
   * marked "may have happened" (see {@link afterApply}).
   */
  replicate(part: number, muts: readonly Mutation[]): Promise<void> | undefined {
    const t = this.ctx.table();
    if (!t || muts.length === 0) return undefined;
    if (t.replicaCount(part) === 0) {
      // Nobody to wait for, in the common case (rf 1, no move) without a list made to say so.
      const learning = t.learnersOf(part);
      if (learning.length === 0) return undefined;
      const learners = learning.filter((l) => this.syncing.has(`${l}:${part}:${t.pepochOf(part)}`));
      if (this.replicasFor(t, part).length === 0 && learners.length === 0) return undefined;
    }
    let batch = this.batches.get(part);
    if (!batch) {
      const batchMuts: ReplicatedMutation[] = [];
      const done = new Promise<void>((resolve) => queueMicrotask(resolve))
        .then(() => {
          this.batches.delete(part);
          return this.send(part, batchMuts);
        })
        // The writes were applied here before they were replicated: if the replicas cannot
        // all confirm them (this node stopped leading meanwhile), they may have happened.
        // Mapped once per batch, not once per write.
        .catch((err: unknown) => {
          throw afterApply(err);
        });
      batch = { muts: batchMuts, done };
      this.batches.set(part, batch);
    }
    for (const m of muts) if (m.op !== "addDict" && m.op !== "dropDict") batch.muts.push(m);
    return batch.done;
  }

  private async send(part: number, muts: ReplicatedMutation[]): Promise<void> {
    const t = this.ctx.table();
    if (!t) throw new RetryableError(WireCode.Unavailable, "no table");
    const pepoch = t.pepochOf(part);
    const item: ReplItem = { part, pepoch, muts };
    // Learners get the stream too (after their snapshot) but are not waited for.
    const replicas = this.replicasFor(t, part);
    for (const l of t.learnersOf(part)) {
      if (!replicas.includes(l) && this.syncing.has(`${l}:${part}:${pepoch}`)) void this.enqueue(l, item, true).catch(() => {});
    }
    // rf 2, the default: one replica, waited for without a list and Promise.all.
    if (replicas.length === 1) return this.enqueue(replicas[0] as string, item, false);
    await Promise.all(replicas.map((replica) => this.enqueue(replica, item, false)));
  }

  /**
   * Deliver a frame after the previous one to the same replica and partition. A live frame
   * joins the one still waiting its turn there, if any; a snapshot chunk never does, and
   * nothing later joins a frame queued before it (that would apply a later write before the
   * chunk, which may hold the older value).
   */
  private enqueue(replica: string, item: ReplItem, learner: boolean, live = true): Promise<void> {
    const key = `${replica}:${item.part}`;
    const open = this.waiting.get(key);
    if (live && open && open.learner === learner && open.item.pepoch === item.pepoch && open.bytes < BATCH_BYTES) {
      if (!open.owned) {
        open.item = { ...open.item, muts: [...open.item.muts] };
        open.owned = true;
      }
      for (const m of item.muts) open.item.muts.push(m);
      open.bytes += itemBytes(item);
      return open.done as Promise<void>;
    }
    const prev = this.chains.get(key);
    const queuedAt = performance.now();
    const entry: Waiting = { item, learner, done: undefined, bytes: itemBytes(item), owned: false };
    // The entry is the frame's token among the unacknowledged ones.
    this.unacknowledged.set(entry, queuedAt);
    const start = () => {
      if (this.waiting.get(key) === entry) this.waiting.delete(key);
      return this.deliver(replica, entry.item, entry.bytes, learner);
    };
    // After the frame before it, however that ended (nothing to wait for: a microtask later,
    // as behind a settled one).
    const next = prev === undefined ? Promise.resolve().then(start) : prev.then(start, start);
    entry.done = next;
    if (live) this.waiting.set(key, entry);
    else this.waiting.delete(key);
    this.chains.set(key, next);
    // One continuation for the bookkeeping (a then/finally/catch chain made five promises a frame).
    const settled = () => {
      this.unacknowledged.delete(entry);
      if (this.chains.get(key) === next) this.chains.delete(key);
    };
    next.then(() => {
      settled();
      try {
        if (!learner) this.ctx.onAcknowledged?.((performance.now() - queuedAt) / 1000);
      } catch {
        // A metric must not fail a delivery (nor leave a rejection nobody handles).
      }
    }, settled);
    return next;
  }

  private batchesFor(replica: string): ReplicationBatches {
    let b = this.batchesTo.get(replica);
    if (!b) {
      b = new ReplicationBatches((frame, bytes) => this.ctx.links.request(replica, frame, ATTEMPT_TIMEOUT_MS, bytes, true));
      this.batchesTo.set(replica, b);
    }
    return b;
  }

  /** `bytes`: the item's itemBytes, worked out once when it was queued. */
  private async deliver(replica: string, item: ReplItem, bytes: number, learner: boolean): Promise<void> {
    const started = Date.now();
    let reported = false;
    for (let attempt = 0; ; attempt++) {
      const t = this.ctx.table();
      if (!t || t.primaryOf(item.part) !== this.ctx.selfId || t.pepochOf(item.part) !== item.pepoch) {
        throw new RetryableError(WireCode.WrongOwner, `${this.ctx.selfId} stopped leading partition ${item.part} while replicating`);
      }
      const member = t.isReplica(item.part, replica) || t.learnersOf(item.part).includes(replica);
      if (!member) {
        if (learner) throw new RetryableError(WireCode.Unavailable, `${replica} is no longer being caught up`);
        return; // no longer a replica: not waited for
      }
      try {
        await this.batchesFor(replica).deliver(item, bytes);
        return;
      } catch (err) {
        if (err instanceof RetryableError && err.code === WireCode.WrongOwner) {
          // The replica knows a newer epoch: maybe this node was deposed.
          await this.ctx.refreshTable().catch(() => {});
        }
        if (!reported && !t.learnersOf(item.part).includes(replica) && Date.now() - started > REPORT_AFTER_MS) {
          reported = true;
          await this.ctx.reportFailed(item.part, item.pepoch, replica).catch(() => {});
        }
        await backoff(attempt + 1, 200);
      }
    }
  }
}
