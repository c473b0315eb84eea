/**
 * Where partitions should live: balanced to within 5% of the mean, moving as few copies as
 * it can from where they are now.
 *
 * Consistent hashing alone (ring.ts) leaves shards up to ~1.2-1.4× the mean number of
 * partitions at 3-5 shards with 128 virtual nodes: the busiest shard sets the cluster's
 * speed and fills first. Bounded-load hashing evens that out but, being stateless, moves
 * 10-20% more partitions than consistent hashing on a join or leave. This placement is
 * stateful instead: it starts from the current owners, takes copies off shards above the
 * cap (those whose ring order ranks that shard lowest go first) and gives every partition
 * that lacks a copy the first shard of its ring order still under the cap. So a join moves
 * only what the newcomer must take to bring the others under the cap, a leave moves only
 * the leaver's copies, and the ring order still decides who gets what (deterministically:
 * the result depends only on the shard set, the current owners and the partition count).
 * Primaries are then evened out by flipping the primary role within a partition's owners
 * (a hand-off, no copy), and only where that cannot do it, by promoting another owner.
 */
import { placePartitions } from "./ring.js";

/** A shard may hold at most this much more than the mean (of primaries, and of copies). */
export const BALANCE_SLACK = 0.05;

/** The most a shard may hold of `total` spread over `shards`: within the slack, never below an even share. */
export function capOf(total: number, shards: number): number {
  return Math.max(Math.ceil(total / shards), Math.floor(((1 + BALANCE_SLACK) * total) / shards));
}

/**
 * Per partition, its owners (primary first, `replicas` of them, fewer if there are fewer
 * shards) over `shardIds`, starting from `current` (the owners now; none for a new cluster).
 * `preference`: each partition's ring order over every shard, when the caller has it already.
 */
export function balancedPlacement(
  shardIds: readonly string[],
  partitions: number,
  replicas: number,
  current?: readonly (readonly string[])[],
  preference?: readonly (readonly string[])[],
): string[][] {
  const ids = [...new Set(shardIds)].sort();
  if (ids.length === 0) throw new Error("cannot place partitions on zero shards");
  const n = ids.length;
  const r = Math.min(replicas, n);
  const order = preference ?? placePartitions(ids, partitions, n);
  const active = new Set(ids);
  const owners: string[][] = [];
  for (let p = 0; p < partitions; p++) {
    const kept: string[] = [];
    for (const s of current?.[p] ?? []) if (active.has(s) && !kept.includes(s) && kept.length < r) kept.push(s);
    owners.push(kept);
  }
  const rank = (p: number, s: string): number => (order[p] as readonly string[]).indexOf(s);
  const copies = countCopies(owners, ids);
  const capAll = capOf(partitions * r, n);

  // 1. Shards above the cap give up the copies where they rank lowest in the ring order.
  for (const s of ids) {
    let excess = (copies.get(s) ?? 0) - capAll;
    if (excess <= 0) continue;
    const held = owners.flatMap((o, p) => (o.includes(s) ? [p] : []));
    held.sort((a, b) => rank(b, s) - rank(a, s) || a - b);
    for (const p of held) {
      if (excess-- <= 0) break;
      const o = owners[p] as string[];
      o.splice(o.indexOf(s), 1);
      copies.set(s, (copies.get(s) ?? 0) - 1);
    }
  }

  // 2. Every missing copy goes to the first shard of the partition's ring order under the cap
  //    (primaries are evened out afterwards, by flips).
  for (let p = 0; p < partitions; p++) {
    const o = owners[p] as string[];
    for (const s of order[p] as readonly string[]) {
      if (o.length >= r) break;
      if (o.includes(s) || (copies.get(s) ?? 0) >= capAll) continue;
      o.push(s);
      copies.set(s, (copies.get(s) ?? 0) + 1);
    }
    // Greedy in partition order can leave a partition whose only candidates are full: one of
    // them hands a copy of another partition to a shard with room, and takes this one.
    while (o.length < r && makeRoom(p, owners, ids, copies, capAll, rank)) {
      const s = (order[p] as readonly string[]).find((x) => !o.includes(x) && (copies.get(x) ?? 0) < capAll);
      if (s === undefined) break;
      o.push(s);
      copies.set(s, (copies.get(s) ?? 0) + 1);
    }
    // Never a partition left short: the least loaded shard takes it, over the cap if it must.
    while (o.length < r) {
      const s = ids.filter((x) => !o.includes(x)).sort((a, b) => (copies.get(a) ?? 0) - (copies.get(b) ?? 0) || rank(p, a) - rank(p, b))[0] as string;
      o.push(s);
      copies.set(s, (copies.get(s) ?? 0) + 1);
    }
  }

  const capPrimary = capOf(partitions, n);
  // 3. Primaries above the cap pass the role to a co-owner under it (the best ranked first).
  evenPrimaries(owners, ids, capPrimary, rank);
  return owners;
}

/**
 * Free a place for partition `p`: a full shard that does not own `p` gives a copy of another
 * partition (already placed) to a shard under the cap that does not own that one.
 */
function makeRoom(p: number, owners: string[][], ids: readonly string[], copies: Map<string, number>, cap: number, rank: (p: number, s: string) => number): boolean {
  const o = owners[p] as string[];
  const roomy = ids.filter((y) => (copies.get(y) ?? 0) < cap);
  for (const x of ids) {
    if (o.includes(x) || (copies.get(x) ?? 0) < cap) continue;
    for (let q = 0; q < owners.length; q++) {
      const oq = owners[q] as string[];
      if (q === p || !oq.includes(x)) continue;
      const y = roomy.filter((c) => !oq.includes(c) && c !== x).sort((a, b) => rank(q, a) - rank(q, b))[0];
      if (y === undefined) continue;
      oq[oq.indexOf(x)] = y;
      copies.set(x, (copies.get(x) ?? 0) - 1);
      copies.set(y, (copies.get(y) ?? 0) + 1);
      return true;
    }
  }
  return false;
}

function evenPrimaries(owners: string[][], ids: readonly string[], cap: number, rank: (p: number, s: string) => number): void {
  const primaries = countPrimaries(owners, ids);
  for (const s of ids) {
    if ((primaries.get(s) ?? 0) <= cap) continue;
    const led = owners.flatMap((o, p) => (o[0] === s ? [p] : []));
    led.sort((a, b) => rank(b, s) - rank(a, s) || a - b);
    for (const p of led) {
      if ((primaries.get(s) ?? 0) <= cap) break;
      const o = owners[p] as string[];
      const to = o
        .slice(1)
        .filter((x) => (primaries.get(x) ?? 0) < cap)
        .sort((a, b) => (primaries.get(a) ?? 0) - (primaries.get(b) ?? 0) || rank(p, a) - rank(p, b))[0];
      if (to === undefined) continue;
      o.splice(o.indexOf(to), 1);
      o.unshift(to);
      primaries.set(s, (primaries.get(s) ?? 0) - 1);
      primaries.set(to, (primaries.get(to) ?? 0) + 1);
    }
  }
}

function countCopies(owners: readonly (readonly string[])[], ids: readonly string[]): Map<string, number> {
  const m = new Map<string, number>(ids.map((s) => [s, 0]));
  for (const o of owners) for (const s of o) m.set(s, (m.get(s) ?? 0) + 1);
  return m;
}

function countPrimaries(owners: readonly (readonly string[])[], ids: readonly string[]): Map<string, number> {
  const m = new Map<string, number>(ids.map((s) => [s, 0]));
  for (const o of owners) if (o[0] !== undefined) m.set(o[0], (m.get(o[0]) ?? 0) + 1);
  return m;
}
