/**
 * Moves partitions towards their desired placement, one safe step at a time. Pure: it
 * reads the current ownership and returns the next one, and the coordinator publishes it.
 *
 * A partition gets to its desired owners in three kinds of step, each of which keeps every
 * acknowledged write on every shard that might lead the partition next:
 * 1. a desired shard that lacks a copy becomes a *learner*: its primary streams it a
 *    snapshot, then every write, and reports it caught up (it joins the owners);
 * 2. once every desired shard is an owner, owners that are not desired are *trimmed*;
 * 3. if the primary is not the desired one, it is asked to *hand off*: it stops serving the
 *    partition, waits for its accepted writes to reach the new primary, and reports; only
 *    then does the coordinator flip the primary (under a new partition epoch).
 * Moves are started a few partitions at a time so the shards involved stay responsive;
 * replicas missing after a failure are rebuilt without waiting for that budget.
 */
import type { Handoff } from "../hashing/partition-table.js";

export interface Placement {
  /** Per partition: primary first, then in-sync replicas. */
  owners: string[][];
  /** Per partition: shards being caught up. */
  learners: string[][];
  /** Per partition: a hand-off of the primary role in progress. */
  handoffs: (Handoff | null)[];
}

export interface RebalanceInput extends Placement {
  /** Per partition: where it should live (primary first), over the active members. */
  desired: readonly (readonly string[])[];
  /** Per partition: every active member in placement order, to rebuild replicas from. */
  preference: readonly (readonly string[])[];
  replicationFactor: number;
  /** Whether a shard is alive (heard from recently). */
  alive(id: string): boolean;
  /** Whether a shard is an active member (not leaving). */
  active(id: string): boolean;
  /** Partitions allowed to be moving at once. */
  maxMoves: number;
  /** The epoch the next table will have: the id of hand-offs started now. */
  nextEpoch: number;
}

/** Whether a partition has a move in progress. */
export function isMoving(p: Placement, part: number): boolean {
  return (p.learners[part]?.length ?? 0) > 0 || p.handoffs[part] != null;
}

/** The next placement; `changed` says whether it differs from the input. */
export function rebalance(input: RebalanceInput): Placement & { changed: boolean } {
  const owners = input.owners.map((o) => [...o]);
  const learners = input.learners.map((l) => [...l]);
  const handoffs = input.handoffs.map((h) => (h ? { ...h } : null));
  let changed = false;
  let moving = 0;
  for (let p = 0; p < owners.length; p++) if (isMoving(input, p)) moving++;
  const rf = input.replicationFactor;

  for (let p = 0; p < owners.length; p++) {
    let o = owners[p] as string[];
    const d = input.desired[p] ?? [];
    const wasMoving = isMoving(input, p);
    const dAlive = d.filter((x) => input.alive(x));
    const inPlace = dAlive.every((x) => o.includes(x));

    // 2. Trim owners that are not desired, once the desired ones all have a copy. A rebuilt
    // replica (active, not desired) stays while it is needed for the replication factor.
    if (inPlace) {
      const full = d.every((y) => o.includes(y));
      let count = o.length;
      const kept = [o[0] as string];
      for (const x of o.slice(1)) {
        if (!d.includes(x) && (!input.active(x) || full || count - 1 >= rf)) {
          count--;
          changed = true;
          continue;
        }
        kept.push(x);
      }
      o = kept;
      owners[p] = o;
    }

    // 1. Learners: every alive desired shard without a copy, and more (in preference order)
    // while the partition is short of its replication factor.
    const want = dAlive.filter((x) => !o.includes(x));
    for (const x of input.preference[p] ?? []) {
      if (o.length + want.length >= rf) break;
      if (input.alive(x) && !o.includes(x) && !want.includes(x)) want.push(x);
    }
    const current = learners[p] ?? [];
    const short = o.length < rf;
    let next = current.filter((x) => want.includes(x));
    if (want.some((x) => !next.includes(x)) && (wasMoving || short || moving < input.maxMoves)) {
      if (!wasMoving && want.length > 0) moving++;
      next = want;
    }
    if (next.length !== current.length || next.some((x, i) => current[i] !== x)) changed = true;
    learners[p] = next;

    // 3. Hand-off of the primary role to the desired primary (or, when the primary is not
    // desired at all, to any desired shard that has a copy, once they all have one).
    const primary = o[0] as string;
    let target: string | undefined;
    if (input.alive(primary)) {
      // A primary that is not desired is dropped at the flip: only once every alive desired
      // shard has its copy, so the partition never has fewer copies than it should.
      if (!d.includes(primary)) target = inPlace ? d.find((x) => input.alive(x) && o.includes(x)) : undefined;
      else if (d[0] !== undefined && d[0] !== primary && input.alive(d[0]) && o.includes(d[0])) target = d[0];
    }
    const h = handoffs[p] ?? null;
    if (target === undefined) {
      if (h) {
        handoffs[p] = null;
        changed = true;
      }
    } else if (!h || h.to !== target) {
      if (h || wasMoving || moving < input.maxMoves) {
        if (!wasMoving && next.length === 0) moving++;
        handoffs[p] = { to: target, id: input.nextEpoch };
        changed = true;
      }
    }
  }
  return { owners, learners, handoffs, changed };
}

/**
 * The owners after a primary reported its hand-off: the new primary first, the old one kept
 * as a replica only if it is desired there.
 */
export function flipPrimary(owners: readonly string[], from: string, to: string, desired: readonly string[]): string[] {
  const rest = owners.filter((x) => x !== to && x !== from);
  return desired.includes(from) ? [to, ...rest, from] : [to, ...rest];
}
