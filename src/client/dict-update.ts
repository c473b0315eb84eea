/**
 * `Dict.update`: the entries are encoded and checked first, grouped by partition and the
 * partitions by shard (one `updateParts` request per shard, split if it would exceed a
 * message), and partitions that fail retryably are regrouped by the refreshed table and sent
 * again under the same `op`: the shard applies each partition at most once per op.
 */
import { ConnectionError, InvalidError, RequestSizeError } from "../errors.js";
import { partitionOf } from "../hashing/hash.js";
import { frameLimit } from "../net/limits.js";
import type { UpdateOptions } from "./dict-options.js";
import { checkTtl } from "./versions.js";
import { MAX_UPDATE_ENTRIES } from "../encoding/decode-limits.js";
import { encodeKey, type DictKey } from "../protocol/keys.js";
import { latin1String } from "../encoding/latin1-bytes.js";
import type { ClusterClient } from "./cluster-client.js";
import { routeOf } from "./routing.js";
import { encodeValue, encodeValueNow } from "./value-codec.js";

/** An update's entries, encoded, one per key (the last value given for a key wins). */
export interface EncodedUpdate {
  keys: Uint8Array[];
  values: Uint8Array[];
}

/** An update's entries for one partition. */
interface UpdateGroup {
  keys: Uint8Array[];
  values: Uint8Array[];
  bytes: number;
}

function checkPair(pair: unknown): readonly [unknown, unknown] {
  if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidError("update() takes an iterable of [key, value] pairs");
  return pair as [unknown, unknown];
}

/** What to write, from a plain object, a Map, or an iterable of pairs: pairs to check with {@link checkPair}. */
function entriesOf(other: unknown): Iterable<unknown> {
  if (other instanceof Map) return other.entries();
  if (typeof other === "object" && other !== null) {
    // An array of pairs (the common bulk input) is walked as it is.
    if (Symbol.iterator in other) return other as Iterable<unknown>;
    const proto = Object.getPrototypeOf(other);
    if (proto === Object.prototype || proto === null) return Object.entries(other);
  }
  throw new InvalidError("update() takes a plain object, a Map or an iterable of [key, value] pairs");
}

/**
 * Encode `other` then `extra`, each entry checked by `check` (its size). Later pairs win, as
 * in Map: one entry per key. A string key is its own identity (its encoding is one-to-one,
 * and tagged apart from every other type's); other keys go by their encoded bytes.
 */
export async function encodeUpdate(other: unknown, extra: unknown, check: (kb: Uint8Array, vb: Uint8Array) => void): Promise<EncodedUpdate> {
  const keys: Uint8Array[] = [];
  const values: Uint8Array[] = [];
  const byString = new Map<string, number>();
  let byBytes: Map<string, number> | undefined;
  const add = (k: unknown, kb: Uint8Array, vb: Uint8Array) => {
    check(kb, vb);
    const isString = typeof k === "string";
    const index = isString ? byString : (byBytes ??= new Map());
    const name = isString ? k : latin1String(kb);
    const at = index.get(name);
    if (at !== undefined) {
      values[at] = vb;
      return;
    }
    index.set(name, keys.length);
    keys.push(kb);
    values.push(vb);
  };
  for (const pairs of extra === undefined ? [other] : [other, extra]) {
    for (const pair of entriesOf(pairs)) {
      const [k, v] = checkPair(pair);
      add(k, encodeKey(k as DictKey), encodeValueNow(v) ?? (await encodeValue(v)));
    }
  }
  return { keys, values };
}

/**
 * `update(other, extra?, opts?)`'s last two arguments: `update(other, { ttlMs })` passes
 * options second, so a second argument that names only options is options (an entry named
 * "ttlMs" goes in `other`, or with options given third).
 */
export function updateArguments(extra: unknown, opts: UpdateOptions | undefined): { entries: unknown; ttl: number | undefined } {
  if (opts === undefined && isUpdateOptions(extra)) [extra, opts] = [undefined, extra];
  return { entries: extra, ttl: opts?.ttlMs === undefined ? undefined : checkTtl(opts.ttlMs) };
}

function isUpdateOptions(x: unknown): x is UpdateOptions {
  if (typeof x !== "object" || x === null || x instanceof Map || Symbol.iterator in x) return false;
  const keys = Object.keys(x);
  return keys.length > 0 && keys.every((k) => k === "ttlMs");
}

/** Send an encoded update of dict `id`; `ttl`: the entries' own idle TTL (absent keeps each entry's). */
export async function sendUpdate(client: ClusterClient, id: string, update: EncodedUpdate, ttl?: number): Promise<void> {
  const { keys, values } = update;
  if (keys.length === 0) return;
  const table = client.table;
  const byPart = new Map<number, UpdateGroup>();
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as Uint8Array;
    const value = values[i] as Uint8Array;
    const part = partitionOf(id, key, table.partitions);
    let g = byPart.get(part);
    if (!g) byPart.set(part, (g = { keys: [], values: [], bytes: 0 }));
    g.keys.push(key);
    g.values.push(value);
    g.bytes += key.byteLength + value.byteLength + 16;
  }
  // Each partition's entries land together, so each must fit one message.
  const frameBytes = frameLimit(client.maxEntryBytes) - 64 * 1024;
  for (const [part, g] of byPart) {
    if (g.bytes > frameBytes) {
      throw new RequestSizeError(`update puts ${g.bytes} bytes into partition ${part}, more than one request may carry (${frameBytes}); split the update`, frameBytes, g.bytes);
    }
    // A shard decodes at most so many objects per message (decode-limits.ts).
    if (g.keys.length > MAX_UPDATE_ENTRIES) {
      throw new RequestSizeError(
        `update puts ${g.keys.length} entries into partition ${part}, more than one request may carry (${MAX_UPDATE_ENTRIES}); split the update`,
        MAX_UPDATE_ENTRIES,
        g.keys.length,
      );
    }
  }
  await sendByShard(client, id, byPart, frameBytes, ttl);
}

/**
 * Send an update's partitions grouped by their shard (one request per shard, or a few if
 * they would not fit one message, in bytes or in entries), regrouping what fails retryably
 * until all landed.
 */
async function sendByShard(client: ClusterClient, id: string, byPart: Map<number, UpdateGroup>, frameBytes: number, ttl: number | undefined): Promise<void> {
  const op = client.newRid();
  const retry = client.dataRetry("once", "update");
  const left = new Map(byPart);
  for (;;) {
    retry.begin();
    const t = client.table;
    const requests: { shard: string; parts: number[]; bytes: number; entries: number }[] = [];
    const open = new Map<string, { shard: string; parts: number[]; bytes: number; entries: number }>();
    for (const [part, g] of left) {
      let shard: string;
      try {
        shard = routeOf(t, part);
      } catch (err) {
        retry.failed(err, false);
        continue;
      }
      let r = open.get(shard);
      if (!r || r.bytes + g.bytes > frameBytes || r.entries + g.keys.length > MAX_UPDATE_ENTRIES) {
        r = { shard, parts: [], bytes: 0, entries: 0 };
        open.set(shard, r);
        requests.push(r);
      }
      r.parts.push(part);
      r.bytes += g.bytes;
      r.entries += g.keys.length;
    }
    const settled = await Promise.allSettled(
      requests.map((r) =>
        client.sendToShard(
          r.shard,
          {
            type: "updateParts",
            op,
            dict: id,
            epoch: t.epoch,
            parts: r.parts.map((part) => {
              const g = byPart.get(part) as UpdateGroup;
              return { part, keys: g.keys, values: g.values };
            }),
            ...(ttl !== undefined && { ttl }),
          },
          r.bytes,
        ),
      ),
    );
    settled.forEach((s, i) => {
      const r = requests[i] as (typeof requests)[number];
      if (s.status === "fulfilled") {
        for (const part of r.parts) left.delete(part);
        return;
      }
      // sendToShard: RetryableError when it could not send, ConnectionError when it sent and lost it.
      retry.failed(s.reason, s.reason instanceof ConnectionError);
    });
    if (left.size === 0) return;
    await retry.again();
  }
}
