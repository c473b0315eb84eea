/**
 * Consistent-hash placement of partitions on shards, with virtual nodes.
 *
 * Each shard owns `vnodes` points on a 32-bit ring; a partition belongs to the first
 * `replicas` distinct shards found walking clockwise from its own point. Adding a shard
 * only takes over the partitions whose walk now meets one of its points first: about 1/N.
 */
import { hashString } from "./hash.js";

export const DEFAULT_VNODES = 128;

interface RingPoint {
  hash: number;
  shard: string;
}

function buildRing(shardIds: readonly string[], vnodes: number): RingPoint[] {
  const points: RingPoint[] = [];
  for (const shard of shardIds) {
    for (let i = 0; i < vnodes; i++) points.push({ hash: hashString(`${shard}#${i}`), shard });
  }
  // Ties broken by shard id keep placement identical whatever order ids were given in.
  points.sort((a, b) => a.hash - b.hash || (a.shard < b.shard ? -1 : a.shard > b.shard ? 1 : 0));
  return points;
}

function firstAtOrAfter(points: readonly RingPoint[], h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as RingPoint).hash < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

/**
 * Place `partitions` partitions on the given shards: for each partition, the ids of its
 * owners, primary first, `replicas` of them (fewer if there are fewer shards).
 */
export function placePartitions(
  shardIds: readonly string[],
  partitions: number,
  replicas = 1,
  vnodes = DEFAULT_VNODES,
): string[][] {
  if (shardIds.length === 0) throw new Error("cannot place partitions on zero shards");
  const ring = buildRing(shardIds, vnodes);
  const want = Math.min(replicas, new Set(shardIds).size);
  const owners: string[][] = [];
  for (let p = 0; p < partitions; p++) {
    const picked: string[] = [];
    let i = firstAtOrAfter(ring, hashString(`partition:${p}`));
    while (picked.length < want) {
      const shard = (ring[i] as RingPoint).shard;
      if (!picked.includes(shard)) picked.push(shard);
      i = (i + 1) % ring.length;
    }
    owners.push(picked);
  }
  return owners;
}
