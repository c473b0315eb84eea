/**
 * Who waits for a replication frame's acknowledgement. The replicator's live path settles
 * these by callback: a frame carries a list of them, and a write's promise is made once per
 * partition and event-loop turn, not once per frame, replica and stage.
 */
import { afterApply } from "../errors.js";
import type { ReplMutation } from "../store/storage-engine.js";
import { Deferred } from "../util/deferred.js";

/** Told once how a frame it joined ended: `ok` when the replica applied it durably. */
export interface FrameWaiter {
  ok(): void;
  fail(err: Error): void;
}

/** Nobody waits: a learner's live frame (learners are caught up, never waited for). */
export const NOBODY: FrameWaiter = {
  ok() {},
  fail() {},
};

/** A waiter as a promise (a snapshot chunk, the end of a learner's stream). */
export class WaiterPromise extends Deferred implements FrameWaiter {
  ok(): void {
    this.resolve();
  }

  fail(err: Error): void {
    this.reject(err);
  }
}

/**
 * The writes of one partition in one event-loop turn: their mutations leave in one frame per
 * replica, and they are acknowledged together once every replica has applied that frame and
 * this node's own commits of them have landed (one promise for both, instead of a
 * `Promise.all` per write). A replica's failure fails them all, marked "may have happened"
 * (they were applied here first; see {@link afterApply}); a local commit's failure fails them
 * with its own error.
 */
export class PartTurn implements FrameWaiter {
  readonly muts: ReplMutation[] = [];
  /** Replicas still to acknowledge, once the turn's frames are queued. */
  private waitingFor = 0;
  private queued = false;
  /** Local commits not landed yet, and the last one counted (a round's writes share theirs). */
  private locals = 0;
  private lastLocal: Promise<unknown> | undefined;
  private settled = false;
  private readonly deferred = new Deferred();

  constructor(readonly part: number) {}

  get done(): Promise<void> {
    return this.deferred.promise;
  }

  /** A local commit of some of the turn's writes, which they also wait for. */
  alsoAwait(local: Promise<unknown>): void {
    if (local === this.lastLocal) return;
    this.lastLocal = local;
    this.locals++;
    local.then(this.localLanded, this.localFailed);
  }

  private readonly localLanded = (): void => {
    this.locals--;
    this.maybeDone();
  };

  private readonly localFailed = (err: unknown): void => {
    if (this.settled) return;
    this.settled = true;
    this.deferred.reject(err);
  };

  /** The turn's frames were queued for `replicas` replicas (none: only the local commits are waited for). */
  expect(replicas: number): void {
    this.waitingFor = replicas;
    this.queued = true;
    this.maybeDone();
  }

  ok(): void {
    this.waitingFor--;
    this.maybeDone();
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.deferred.reject(afterApply(err));
  }

  private maybeDone(): void {
    if (this.settled || !this.queued || this.waitingFor > 0 || this.locals > 0) return;
    this.settled = true;
    this.deferred.resolve();
  }
}
