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
import { RetryableError, WireCode } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import type { MoveProgressData } from "../protocol/frames.js";
import type { Mutation, ReplMutation } from "../store/storage-engine.js";
import { NOBODY, PartTurn, WaiterPromise, type FrameWaiter } from "./frame-waiters.js";
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

/** Snapshot frames of one catch-up in flight at once: bounds the memory a copy takes. */
const CHUNKS_IN_FLIGHT = 2;

/** A frame for one replica and partition: queued, then delivered until acknowledged. */
interface Frame {
  item: ReplItem;
  learner: boolean;
  /** A live frame (writes may join it while it waits); a snapshot chunk is not. */
  live: boolean;
  /** About how many bytes it holds (itemBytes): it takes no more once past BATCH_BYTES. */
  bytes: number;
  /**
   * Whether `item.muts` is its own array: it starts as the array every replica's frame
   * shares, and is copied only when a later write joins it.
   */
  owned: boolean;
  waiters: FrameWaiter[];
  /** When it was queued (performance.now(), for the lag metrics). */
  queuedAt: number;
  /** When its first attempt started (Date.now(); 0 before), and how many have failed. */
  started: number;
  attempts: number;
  /** Whether the replica was reported for not answering it. */
  reported: boolean;
}

/**
 * The frames for one replica and partition, oldest first: the first is being delivered, the
 * others wait their turn (one in flight, so a resend can never overtake a later frame).
 */
type Stream = Frame[];

export class Replicator {
  /** This turn's writes, by partition, and in the order their partitions were first written. */
  private readonly open: (PartTurn | undefined)[] = [];
  private turn: PartTurn[] = [];
  /** Per replica, by partition: its frames (kept when empty: a few hundred arrays at most). */
  private readonly streams = new Map<string, Stream[]>();
  /** Per replica: the batches its frames leave in (replication-batches.ts). */
  private readonly batchesTo = new Map<string, ReplicationBatches>();

  constructor(private readonly ctx: ReplicatorContext) {}

  /** For metrics: frames in flight, and the age of the oldest (ms; 0 when none): the replicas' lag. */
  inFlight(now = performance.now()): { frames: number; oldestMs: number } {
    let oldest = now;
    let frames = 0;
    for (const byPart of this.streams.values()) {
      for (const stream of byPart) {
        if (!stream) continue;
        frames += stream.length;
        for (const f of stream) if (f.queuedAt < oldest) oldest = f.queuedAt;
      }
    }
    return { frames, oldestMs: now - oldest };
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
    // A shard gone from the cluster, with nothing left queued for it: its frame lists and
    // batches go too (kept otherwise, a cluster that replaces shards would keep them all).
    for (const [replica, byPart] of this.streams) {
      if (t.urlOf(replica) === undefined && byPart.every((stream) => stream === undefined || stream.length === 0)) {
        this.streams.delete(replica);
        if (this.batchesTo.get(replica)?.waiting === 0) this.batchesTo.delete(replica);
      }
    }
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
        const chunk = new WaiterPromise();
        this.enqueue(learner, { part, pepoch, muts }, true, false, chunk);
        // A copy that stops early leaves its later chunks' outcomes unread.
        chunk.promise.catch(() => {});
        frames.push(chunk.promise);
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
    const stream = this.streams.get(learner)?.[part];
    const last = stream?.[stream.length - 1];
    if (last) {
      const drained = new WaiterPromise();
      last.waiters.push(drained);
      await drained.promise;
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
   * Replicate `muts` of `part`, which this node is committing as `local`: the promise of
   * both, or undefined when the partition has no replica (then `local` alone is the
   * answer). A replica's failure is marked "may have happened" (see {@link afterApply}).
   */
  replicate(part: number, muts: readonly Mutation[], local?: Promise<unknown>): Promise<void> | undefined {
    const t = this.ctx.table();
    if (!t || muts.length === 0) return undefined;
    if (t.replicaCount(part) === 0) {
      // Nobody to wait for, in the common case (rf 1, no move) without a list made to say so.
      const learning = t.learnersOf(part);
      if (learning.length === 0) return undefined;
      const learners = learning.filter((l) => this.syncing.has(`${l}:${part}:${t.pepochOf(part)}`));
      if (this.replicasFor(t, part).length === 0 && learners.length === 0) return undefined;
    }
    let turn = this.open[part];
    if (!turn) {
      turn = new PartTurn(part);
      this.open[part] = turn;
      // Two microtask hops for the whole turn, whatever the partitions written in it (the
      // writes a message's requests make in their first continuations join it too).
      if (this.turn.push(turn) === 1) queueMicrotask(this.flushSoon);
    }
    for (const m of muts) if (m.op !== "addDict" && m.op !== "dropDict") turn.muts.push(m);
    if (local !== undefined) turn.alsoAwait(local);
    return turn.done;
  }

  private readonly flushSoon = (): void => queueMicrotask(this.flush);

  /** The end of a turn: each partition's writes leave as one frame per replica. */
  private readonly flush = (): void => {
    const turn = this.turn;
    this.turn = [];
    for (const pt of turn) {
      this.open[pt.part] = undefined;
      this.send(pt);
    }
  };

  private send(pt: PartTurn): void {
    const t = this.ctx.table();
    if (!t) return pt.fail(new RetryableError(WireCode.Unavailable, "no table"));
    const part = pt.part;
    const pepoch = t.pepochOf(part);
    const item: ReplItem = { part, pepoch, muts: pt.muts };
    // Learners get the stream too (after their snapshot) but are not waited for.
    const replicas = this.replicasFor(t, part);
    for (const l of t.learnersOf(part)) {
      if (!replicas.includes(l) && this.syncing.has(`${l}:${part}:${pepoch}`)) this.enqueue(l, item, true, true, NOBODY);
    }
    pt.expect(replicas.length);
    for (const replica of replicas) this.enqueue(replica, item, false, true, pt);
  }

  private streamOf(replica: string, part: number): Stream {
    let byPart = this.streams.get(replica);
    if (!byPart) {
      byPart = [];
      this.streams.set(replica, byPart);
    }
    let stream = byPart[part];
    if (!stream) {
      stream = [];
      byPart[part] = stream;
    }
    return stream;
  }

  /**
   * Deliver a frame after the earlier ones to the same replica and partition. A live frame
   * joins the last one still waiting its turn there, if any; a snapshot chunk never does, and
   * nothing later joins a frame queued before it (that would apply a later write before the
   * chunk, which may hold the older value).
   */
  private enqueue(replica: string, item: ReplItem, learner: boolean, live: boolean, waiter: FrameWaiter): void {
    const stream = this.streamOf(replica, item.part);
    const last = stream.length > 1 ? (stream[stream.length - 1] as Frame) : undefined;
    if (live && last && last.live && last.learner === learner && last.item.pepoch === item.pepoch && last.bytes < BATCH_BYTES) {
      if (!last.owned) {
        last.item = { ...last.item, muts: [...last.item.muts] };
        last.owned = true;
      }
      for (const m of item.muts) last.item.muts.push(m);
      last.bytes += itemBytes(item);
      last.waiters.push(waiter);
      return;
    }
    const frame: Frame = { item, learner, live, bytes: itemBytes(item), owned: false, waiters: [waiter], queuedAt: performance.now(), started: 0, attempts: 0, reported: false };
    if (stream.push(frame) === 1) this.attempt(replica, stream, frame);
  }

  private batchesFor(replica: string): ReplicationBatches {
    let b = this.batchesTo.get(replica);
    if (!b) {
      b = new ReplicationBatches((frame, bytes) => this.ctx.links.request(replica, frame, ATTEMPT_TIMEOUT_MS, bytes, true));
      this.batchesTo.set(replica, b);
    }
    return b;
  }

  /** Send the first frame of a stream, if this node may still, and the replica still wants it. */
  private attempt(replica: string, stream: Stream, frame: Frame): void {
    const { part, pepoch } = frame.item;
    const t = this.ctx.table();
    if (!t || t.primaryOf(part) !== this.ctx.selfId || t.pepochOf(part) !== pepoch) {
      return this.finish(replica, stream, frame, new RetryableError(WireCode.WrongOwner, `${this.ctx.selfId} stopped leading partition ${part} while replicating`));
    }
    if (!t.isReplica(part, replica) && !t.learnersOf(part).includes(replica)) {
      // No longer a replica: not waited for.
      return this.finish(replica, stream, frame, frame.learner ? new RetryableError(WireCode.Unavailable, `${replica} is no longer being caught up`) : undefined);
    }
    if (frame.started === 0) frame.started = Date.now();
    this.batchesFor(replica).submit(frame.item, frame.bytes, (err) => {
      if (err === undefined) this.finish(replica, stream, frame, undefined);
      else void this.retry(replica, stream, frame, err, t);
    });
  }

  /** After a failed attempt: maybe refresh the table, maybe report the replica, then again. */
  private async retry(replica: string, stream: Stream, frame: Frame, err: Error, t: PartitionTable): Promise<void> {
    const { part, pepoch } = frame.item;
    if (err instanceof RetryableError && err.code === WireCode.WrongOwner) {
      // The replica knows a newer epoch: maybe this node was deposed.
      await this.ctx.refreshTable().catch(() => {});
    }
    if (!frame.reported && !t.learnersOf(part).includes(replica) && Date.now() - frame.started > REPORT_AFTER_MS) {
      frame.reported = true;
      await this.ctx.reportFailed(part, pepoch, replica).catch(() => {});
    }
    await backoff(++frame.attempts, 200);
    this.attempt(replica, stream, frame);
  }

  /** The first frame of a stream is done with: tell who waits, and start the next. */
  private finish(replica: string, stream: Stream, frame: Frame, err: Error | undefined): void {
    stream.shift();
    if (err === undefined && !frame.learner) {
      try {
        this.ctx.onAcknowledged?.((performance.now() - frame.queuedAt) / 1000);
      } catch {
        // A metric must not fail a delivery.
      }
    }
    for (const w of frame.waiters) {
      if (err === undefined) w.ok();
      else w.fail(err);
    }
    const next = stream[0];
    if (next) this.attempt(replica, stream, next);
  }
}
