/**
 * Asking every shard for its hot keys of a dict and merging them: a key lives on one
 * partition, whose primary may have changed, so counts of the same key are added up and the
 * largest size kept.
 */
import { clientOf, type Client } from "../client/client.js";
import { decodeKey, type DictKey } from "../protocol/keys.js";
import { checkReply, type ReplyOf } from "../protocol/replies.js";
import { latin1String } from "../encoding/latin1-bytes.js";

export interface HotKeysView {
  accessed: { key: DictKey; count: number }[];
  largest: { key: DictKey; bytes: number }[];
}

export async function hotKeysOf(client: Client, dict: string, limit: number): Promise<HotKeysView> {
  const shards = clientOf(client).table.shardAddresses().map((s) => s.id);
  const replies = await Promise.all(shards.map((s) => hotKeysOn(client, s, dict, limit)));
  return mergeHotKeys(replies, limit);
}

/** One shard's hot keys of a dict. */
export async function hotKeysOn(client: Client, shard: string, dict: string, limit: number): Promise<ReplyOf<"hotKeys">> {
  return checkReply("hotKeys", await clientOf(client).sendToShard(shard, { type: "hotKeys", dict, limit }));
}

/** Shards' answers merged: counts of a key added up, its largest size kept, the top `limit` of each. */
export function mergeHotKeys(replies: readonly ReplyOf<"hotKeys">[], limit: number): HotKeysView {
  const counts = new Map<string, { key: Uint8Array; count: number }>();
  const sizes = new Map<string, { key: Uint8Array; bytes: number }>();
  for (const r of replies) {
    for (const a of r.accessed) {
      const id = latin1String(a.key);
      const had = counts.get(id);
      if (had) had.count += a.count;
      else counts.set(id, { key: a.key, count: a.count });
    }
    for (const l of r.largest) {
      const id = latin1String(l.key);
      const had = sizes.get(id);
      if (!had || had.bytes < l.bytes) sizes.set(id, { key: l.key, bytes: l.bytes });
    }
  }
  return {
    accessed: [...counts.values()].sort((a, b) => b.count - a.count).slice(0, limit).map((x) => ({ key: decodeKey(x.key), count: x.count })),
    largest: [...sizes.values()].sort((a, b) => b.bytes - a.bytes).slice(0, limit).map((x) => ({ key: decodeKey(x.key), bytes: x.bytes })),
  };
}
