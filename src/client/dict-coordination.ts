/**
 * The coordination half of `Dict`: entries with versions, compare-and-set, counters,
 * per-entry TTLs and leases. `Dict` extends this class; the requests are in
 * entry-requests.ts, the loops in dict-modify.ts and dict-lock.ts.
 */
import { InvalidError } from "../errors.js";
import type { DictKey } from "../protocol/keys.js";
import { encodeKey } from "../protocol/keys.js";
import { keyRequest, writeEntry, type EntryHandle } from "./entry-requests.js";
import { encodeValueNow } from "./value-codec.js";
import { formatVersion } from "./versions.js";
import { modifyEntry, type ModifyOptions } from "./dict-modify.js";
import { acquireLock, type Lock, type LockOptions } from "./dict-lock.js";
import type { PutOptions } from "./dict-options.js";
import { WatchStream } from "./watch/watch-stream.js";
import type { WatchEvent, WatchOptions } from "./watch/watch-events.js";

export type { WriteOutcome } from "./entry-requests.js";

/** An entry as {@link DictCoordination.getEntry} returns it. */
export interface DictEntry<V> {
  value: V;
  /** Opaque; equal strings mean the same write of this key. Never reused for the key. */
  version: string;
  /** When the entry expires unless read or written before. */
  expiresAt: Date;
}

export abstract class DictCoordination<V> {
  /** What the entry operations need of this handle. */
  protected abstract entryHandle(): EntryHandle;

  /**
   * The entry at `key` with its version and expiry, or null when absent. A read: it moves
   * the entry's expiry like `get`.
   *
   * @example
   * ```ts
   * const e = await d.getEntry("config");
   * if (e) await d.put("config", { ...e.value, on: true }, { ifVersion: e.version });
   * ```
   */
  async getEntry(key: DictKey): Promise<DictEntry<V> | null> {
    const h = this.entryHandle();
    const r = await keyRequest(h, encodeKey(key), "getEntry", {});
    if (r === null) return null;
    return { value: h.decode(r.v, key) as V, version: formatVersion(r.ver), expiresAt: new Date(r.exp) };
  }

  /**
   * As `put` with the same options, returning the new version, or null when `ifVersion` or
   * `skipIfExists` did not hold (nothing was written).
   *
   * @example
   * ```ts
   * const first = await d.putEntry("k", 1);                           // { version: "…" }
   * await d.putEntry("k", 2, { ifVersion: first!.version });          // { version: "…" }
   * await d.putEntry("k", 3, { ifVersion: first!.version });          // null: k moved on
   * ```
   */
  async putEntry(key: DictKey, value: V, opts: PutOptions = {}): Promise<{ version: string } | null> {
    const r = await writeEntry(this.entryHandle(), key, value, opts);
    return r.ok && r.ver !== null ? { version: formatVersion(r.ver) } : null;
  }

  /**
   * Read, change, write back only if nobody wrote in between; retried on conflict (bounded,
   * jittered). `fn` gets the current value (or `default` when absent) and returns the new
   * one; returning `undefined` writes nothing (and `modify` returns `undefined`). After
   * `maxAttempts` (20) conflicts: {@link ConflictError}, with the entry as last read.
   *
   * @example
   * ```ts
   * const list = await d.modify("log", (xs: string[]) => [...xs, "entry"], { default: [] });
   * ```
   */
  modify<R extends V>(key: DictKey, fn: (current: V) => R | undefined | Promise<R | undefined>, opts: ModifyOptions<V> = {}): Promise<R | undefined> {
    return modifyEntry(this.entryHandle(), key, fn, opts, (k) => this.getEntry(k));
  }

  /**
   * Add `delta` to the counter at `key` atomically on its shard, in one round trip, exactly
   * once under retries; a missing key counts as 0. `delta` and the stored value must both be
   * numbers (safe integers, and the result too) or both bigints; anything else, or overflow
   * past `Number.MAX_SAFE_INTEGER`, is an {@link InvalidError} and changes nothing.
   *
   * @example
   * ```ts
   * await d.incr("visits");          // 1
   * await d.incr("bytes", 10n ** 20n); // bigint counters have no bound
   * ```
   */
  incr(key: DictKey, delta?: number): Promise<number>;
  incr(key: DictKey, delta: bigint): Promise<bigint>;
  async incr(key: DictKey, delta: number | bigint = 1): Promise<number | bigint> {
    if (typeof delta === "number" ? !Number.isSafeInteger(delta) : typeof delta !== "bigint") {
      throw new InvalidError(`incr takes a safe integer or a bigint, not ${typeof delta === "number" ? String(delta) : typeof delta}`);
    }
    const h = this.entryHandle();
    const kb = encodeKey(key);
    const db = encodeValueNow(delta) as Uint8Array;
    const r = await keyRequest(h, kb, "incr", { delta: db });
    return h.decode(r, key) as number | bigint;
  }

  /**
   * Refresh the entry's expiry as a read would, without reading its value; false if absent.
   *
   * @example
   * ```ts
   * await d.touch("session:42");
   * ```
   */
  async touch(key: DictKey): Promise<boolean> {
    return keyRequest(this.entryHandle(), encodeKey(key), "touch", {});
  }

  /**
   * Take the lease-style lock `name` (an entry of this dict under that key): it is gone
   * `ttlMs` after its holder stops renewing (the SDK renews it while this process lives),
   * and each acquisition gets a larger fencing `token`. With `waitMs`, waits that long for a
   * holder to let go (parked on the shard, no polling); else, or when that runs out,
   * {@link LockTimeoutError}.
   *
   * @example
   * ```ts
   * await using lock = await d.lock("nightly-job", { ttlMs: 10_000, waitMs: 60_000 });
   * await storage.write(result, { fencingToken: lock.token }); // rejects a stale holder
   * ```
   */
  lock(name: DictKey, opts: LockOptions): Promise<Lock> {
    return acquireLock(this.entryHandle(), name, opts);
  }

  /**
   * A stream of this dict's changes (of one `key`, of `keys`, of string keys starting with
   * `prefix`, or all): every acknowledged change after the watch started (or after the
   * `after` cursor), in the order it took effect, each once, across failovers, partition
   * moves and reconnects; a `reset` event when that cannot be kept (the history needed to
   * resume is gone). With `initial`, first the matching entries as `put` events, then
   * `synced`. Ends when `signal` aborts or the loop breaks. See {@link WatchEvent}.
   *
   * @example
   * ```ts
   * for await (const e of config.watch({ prefix: "feature." , initial: true })) {
   *   if (e.type === "put") flags.set(e.key as string, e.value);
   *   else if (e.type === "delete" || e.type === "expire") flags.delete(e.key as string);
   *   else if (e.type === "clear" || e.type === "reset") flags.clear();
   * }
   * ```
   */
  watch(opts: WatchOptions = {}): AsyncIterableIterator<WatchEvent<V>> & { close(): void } {
    return new WatchStream<V>(this.entryHandle(), opts);
  }
}
