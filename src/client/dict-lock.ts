/**
 * `Dict.lock`: a lease on an entry. Taken with a put only-if-absent and the lease's TTL as
 * the entry's own; held while the SDK touches it at its version every third of the TTL;
 * given back by a delete at that version, so a holder whose lease ran out (and was taken by
 * someone else) can neither renew nor remove the new holder's. The fencing token is the
 * version of the acquiring write, which grows with every write of the key. A waiter waits on
 * a watch of the key (no polling): each change of it is a reason to try again.
 */
import { LockTimeoutError } from "../errors.js";
import { encodeKey, type DictKey } from "../protocol/keys.js";
import { deleteAtVersion, keyRequest, writeEntry, type EntryHandle } from "./entry-requests.js";
import { WatchStream } from "./watch/watch-stream.js";
import { checkTtl, formatVersion } from "./versions.js";
import { describeKey } from "./value-codec.js";
import { unrefTimer } from "../util/unref-timer.js";

export interface LockOptions {
  /** How long the lock outlives its holder's last renewal. */
  ttlMs: number;
  /** How long to wait for the lock when it is held (default 0: try once). */
  waitMs?: number;
}

/** A held lock. */
export interface Lock extends AsyncDisposable {
  /** Grows with every acquisition of this lock: give it to what the lock protects, to refuse a stale holder. */
  readonly token: number;
  /** Aborted when the lock is found lost (it expired and may have been taken by another). */
  readonly signal: AbortSignal;
  /** Give the lock back (once; later calls do nothing). */
  release(): Promise<void>;
}

class HeldLock implements Lock {
  readonly token: number;
  readonly #lost = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #released: Promise<void> | undefined;
  #renewing = false;
  /** When the shard last confirmed the lease (or the lock was taken). */
  #confirmedAt = Date.now();

  constructor(
    private readonly h: EntryHandle,
    private readonly key: DictKey,
    private readonly version: number,
    private readonly ttlMs: number,
  ) {
    this.token = version;
    this.#timer = unrefTimer(setInterval(() => void this.renew(), Math.max(1, Math.floor(ttlMs / 3))));
  }

  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  private async renew(): Promise<void> {
    // One renewal at a time: a slow one must not pile more up behind it.
    if (this.#renewing) return;
    this.#renewing = true;
    const sent = Date.now();
    let held: boolean | undefined;
    try {
      held = await keyRequest(this.h, encodeKey(this.key), "touch", { ifVersion: this.version });
    } catch {
      // Unconfirmed for a whole TTL: the lease may have run out, so it must count as lost.
      if (Date.now() - this.#confirmedAt < this.ttlMs) return;
    } finally {
      this.#renewing = false;
    }
    if (held) this.#confirmedAt = sent;
    if (held || this.#released) return;
    this.stop();
    const why = held === false ? "its lease ran out" : `no renewal was confirmed for ${this.ttlMs} ms`;
    this.#lost.abort(new LockTimeoutError(`lock ${describeKey(this.key)} in dict ${this.h.label} was lost: ${why}`, this.key, 0, null));
  }

  private stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  release(): Promise<void> {
    this.#released ??= (async () => {
      this.stop();
      await deleteAtVersion(this.h, this.key, formatVersion(this.version));
    })();
    return this.#released;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

export async function acquireLock(h: EntryHandle, key: DictKey, opts: LockOptions): Promise<Lock> {
  const ttlMs = checkTtl(opts?.ttlMs);
  const waitMs = Math.max(0, opts.waitMs ?? 0);
  const deadline = Date.now() + waitMs;
  const holder = { ...h.client.platform.lockHolder(), at: new Date() };
  const attempt = async () => {
    const r = await writeEntry(h, key, holder, { ifVersion: null, ttlMs });
    return r.ok && r.ver !== null ? new HeldLock(h, key, r.ver, ttlMs) : undefined;
  };
  const timedOut = () => new LockTimeoutError(`lock ${describeKey(key)} in dict ${h.label} is held by another${waitMs ? ` (waited ${waitMs} ms)` : ""}`, key, 1, null);
  if (waitMs === 0) {
    const lock = await attempt();
    if (lock) return lock;
    throw timedOut();
  }
  // A watch of the key, started before the first attempt: whatever frees the lock after an
  // attempt failed (a release, an expiry, a holder's crash running out its lease) is an event.
  const w = new WatchStream(h, { key, maxBuffered: 16 });
  try {
    if (!(await within(w.ready, deadline - Date.now()))) throw timedOut();
    for (;;) {
      const lock = await attempt();
      if (lock) return lock;
      const left = deadline - Date.now();
      if (left <= 0 || !(await within(w.next(), left))) throw timedOut();
    }
  } finally {
    w.close();
  }
}

/** Whether `p` settles (fulfilled) within `ms`; its rejection is thrown. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
