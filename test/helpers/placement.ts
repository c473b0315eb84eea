/** Finding keys by where the cluster places them. */
import { partitionOf } from "../../src/hashing/hash.js";
import type { PartitionTable } from "../../src/hashing/partition-table.js";
import { encodeKey } from "../../src/protocol/keys.js";

export interface PlacedKey {
  key: string;
  part: number;
}

/**
 * The first `n` keys `${prefix}${i}` of dict `dictId` whose partition is led by `shard`
 * (and passes `filter`, e.g. "has a replica"). Throws if there are none in 100,000 tries.
 */
export function keysLedBy(
  table: PartitionTable,
  dictId: string,
  shard: string,
  n: number,
  prefix: string,
  filter: (part: number) => boolean = () => true,
): PlacedKey[] {
  const out: PlacedKey[] = [];
  for (let i = 0; out.length < n; i++) {
    if (i >= 100_000) throw new Error(`no ${n} keys led by ${shard} with prefix ${prefix}`);
    const key = `${prefix}${i}`;
    const part = partitionOf(dictId, encodeKey(key), table.partitions);
    if (table.primaryOf(part) === shard && filter(part)) out.push({ key, part });
  }
  return out;
}
