/**
 * Who owns each partition, and every change to that: failover, replicas failing and
 * catching up, hand-offs, and the rebalancing steps towards the desired placement over the
 * active members. The coordinator publishes each new state as a partition table.
 */
import type { Handoff } from "../hashing/partition-table.js";
import { balancedPlacement } from "../hashing/balanced-placement.js";
import { placePartitions } from "../hashing/ring.js";
import { flipPrimary, isMoving, rebalance } from "./rebalancer.js";

export interface SavedOwnership {
  owners: string[][];
  pepochs: number[];
  handoffs: (Handoff | null)[] | undefined;
}

/** Partitions allowed to move at once: each move copies one partition in bounded chunks. */
export const MAX_CONCURRENT_MOVES = 4;

export class Ownership {
  /** Per partition: primary, then in-sync replicas. */
  owners: string[][];
  pepochs: number[];
  /** Per partition: shards being caught up. */
  learners: string[][];
  handoffs: (Handoff | null)[];
  private desired: string[][] = [];
  private preference: string[][] = [];
  private activeKey = "";

  constructor(
    readonly partitions: number,
    readonly replicationFactor: number,
    active: readonly string[],
    saved: SavedOwnership | undefined,
  ) {
    // The desired placement starts from where partitions are (balanced-placement.ts).
    this.owners = saved ? saved.owners.map((o) => [...o]) : [];
    this.setActive(active);
    if (!saved) this.owners = this.desired.map((d) => [...d]);
    this.pepochs = saved ? [...saved.pepochs] : Array.from({ length: partitions }, () => 1);
    this.learners = Array.from({ length: partitions }, () => []);
    this.handoffs = saved?.handoffs?.length === partitions ? saved.handoffs.map((h) => (h ? { ...h } : null)) : Array.from({ length: partitions }, () => null);
  }

  /** The active members changed: recompute where partitions should live. */
  setActive(active: readonly string[]): void {
    const ids = [...active].sort();
    const key = ids.join("\u0000");
    if (key === this.activeKey && this.desired.length > 0) return;
    this.activeKey = key;
    if (ids.length === 0) return; // nowhere to place: keep the last plan
    this.preference = placePartitions(ids, this.partitions, ids.length);
    this.desired = balancedPlacement(ids, this.partitions, this.replicationFactor, this.owners, this.preference);
  }

  desiredOf(part: number): readonly string[] {
    return this.desired[part] ?? [];
  }

  /**
   * A shard is dead: each partition it led is taken over by its first in-sync replica under
   * a new partition epoch; it leaves the replica set of the others. Partitions without a
   * replica wait for it to come back.
   *
   * The other in-sync replicas of a promoted partition become learners, rebuilt from the new
   * primary. They hold every acknowledged write, but not necessarily the same unacknowledged
   * ones: the dead primary's last frames may have reached some replicas and not others, and
   * a replica whose table lags can still take a frame from the deposed primary after the
   * promotion. The new primary serves what it holds (and answers retries from it), so a
   * replica that differs from it could, once promoted in turn, lose a write that was read or
   * acknowledged meanwhile, or show one nobody saw. A copy makes them equal again.
   */
  failover(dead: string): { promoted: number; dropped: number } {
    let promoted = 0;
    let dropped = 0;
    for (let p = 0; p < this.partitions; p++) {
      const o = this.owners[p] as string[];
      const h = this.handoffs[p];
      if (h && (h.to === dead || o[0] === dead)) this.handoffs[p] = null;
      this.learners[p] = (this.learners[p] ?? []).filter((id) => id !== dead);
      const i = o.indexOf(dead);
      if (i < 0 || o.length === 1) continue;
      if (i === 0) {
        this.pepochs[p] = (this.pepochs[p] ?? 0) + 1;
        promoted++;
        const [next, ...others] = o.slice(1) as [string, ...string[]];
        this.owners[p] = [next];
        this.learners[p] = [...others, ...(this.learners[p] ?? []).filter((id) => !others.includes(id))];
        continue;
      }
      dropped++;
      this.owners[p] = o.filter((id) => id !== dead);
    }
    return { promoted, dropped };
  }

  /** A primary cannot reach a replica: it leaves that partition's in-sync set. */
  replicaFailed(part: number, pepoch: number, from: string, replica: string): boolean {
    const o = this.owners[part];
    if (!o || o[0] !== from || (this.pepochs[part] ?? 0) !== pepoch || !o.includes(replica) || replica === from) return false;
    this.owners[part] = o.filter((id) => id !== replica);
    const h = this.handoffs[part];
    if (h?.to === replica) this.handoffs[part] = null;
    return true;
  }

  /** A primary has caught a learner up: it joins the in-sync replicas. */
  caughtUp(part: number, pepoch: number, from: string, replica: string): boolean {
    const o = this.owners[part];
    const l = this.learners[part];
    if (!o || !l || o[0] !== from || (this.pepochs[part] ?? 0) !== pepoch || !l.includes(replica)) return false;
    o.push(replica);
    this.learners[part] = l.filter((id) => id !== replica);
    return true;
  }

  /**
   * A primary stopped serving a partition it was asked to hand off, after every write it
   * accepted reached `to`: `to` leads from the next partition epoch. Only the hand-off asked
   * for (same id) counts, so a late report of an abandoned one changes nothing.
   */
  handedOff(part: number, pepoch: number, from: string, to: string, id: number): boolean {
    const o = this.owners[part];
    const h = this.handoffs[part];
    if (!o || o[0] !== from || (this.pepochs[part] ?? 0) !== pepoch || !h || h.id !== id || h.to !== to || !o.includes(to)) return false;
    this.owners[part] = flipPrimary(o, from, to, this.desiredOf(part));
    this.pepochs[part] = (this.pepochs[part] ?? 0) + 1;
    this.handoffs[part] = null;
    return true;
  }

  /** One rebalancing step; returns whether anything changed. */
  rebalance(alive: (id: string) => boolean, active: (id: string) => boolean, nextEpoch: number): boolean {
    if (this.desired.length === 0) return false;
    const r = rebalance({
      owners: this.owners,
      learners: this.learners,
      handoffs: this.handoffs,
      desired: this.desired,
      preference: this.preference,
      replicationFactor: this.replicationFactor,
      alive,
      active,
      maxMoves: MAX_CONCURRENT_MOVES,
      nextEpoch,
    });
    if (!r.changed) return false;
    this.owners = r.owners;
    this.learners = r.learners;
    this.handoffs = r.handoffs;
    return true;
  }

  /** Whether a shard holds, or is being given, a copy of any partition. */
  holdsAny(id: string): boolean {
    for (let p = 0; p < this.partitions; p++) if (this.owners[p]?.includes(id) || this.learners[p]?.includes(id)) return true;
    return false;
  }

  /** Whether a shard has a copy of every partition it should have. */
  hasItsShare(id: string): boolean {
    for (let p = 0; p < this.partitions; p++) if (this.desired[p]?.includes(id) && !this.owners[p]?.includes(id)) return false;
    return true;
  }

  /** Partitions whose owners are not yet the desired ones, and those moving now. */
  progress(): { pending: number; moving: number } {
    let pending = 0;
    let moving = 0;
    for (let p = 0; p < this.partitions; p++) {
      const o = this.owners[p] ?? [];
      const d = this.desired[p] ?? [];
      if (o[0] !== d[0] || o.length !== d.length || d.some((x) => !o.includes(x))) pending++;
      if (isMoving(this, p)) moving++;
    }
    return { pending, moving };
  }
}
