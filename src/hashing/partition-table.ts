/**
 * The partition table: an immutable, epoch-stamped map from partition to owning shards.
 * Every change produces a new table with a higher epoch; a node or client holding an older
 * epoch learns it is stale when it talks to someone newer.
 */
import type { PartitionTableData, ShardAddress } from "../protocol/frames.js";

/** A primary handing its partition to `to`; `id` is the epoch of the table that asked for it. */
export interface Handoff {
  to: string;
  id: number;
}

export class PartitionTable {
  readonly epoch: number;
  readonly partitions: number;
  readonly owners: readonly (readonly string[])[];
  readonly pepochs: readonly number[];
  readonly learners: readonly (readonly string[])[];
  readonly handoffs: readonly (Handoff | null)[];
  private readonly urls: ReadonlyMap<string, string>;

  constructor(data: PartitionTableData) {
    if (data.owners.length !== data.partitions) {
      throw new Error(`partition table has ${data.owners.length} owner lists for ${data.partitions} partitions`);
    }
    this.epoch = data.epoch;
    this.partitions = data.partitions;
    this.owners = data.owners;
    this.pepochs = data.pepochs.length === data.partitions ? data.pepochs : Array.from({ length: data.partitions }, () => 1);
    this.learners = data.learners.length === data.partitions ? data.learners : Array.from({ length: data.partitions }, () => []);
    this.handoffs = data.handoffs?.length === data.partitions ? data.handoffs : Array.from({ length: data.partitions }, () => null);
    this.urls = new Map(data.shards.map((s) => [s.id, s.url]));
  }

  /** The primary of a partition. */
  primaryOf(part: number): string | undefined {
    return this.owners[part]?.[0];
  }

  /** The in-sync replicas of a partition (owners after the primary). */
  replicasOf(part: number): readonly string[] {
    return this.owners[part]?.slice(1) ?? [];
  }

  /** Whether `shard` is one of a partition's in-sync replicas (without making their list). */
  isReplica(part: number, shard: string): boolean {
    return (this.owners[part]?.indexOf(shard) ?? -1) >= 1;
  }

  /** How many in-sync replicas a partition has (without making their list). */
  replicaCount(part: number): number {
    return Math.max(0, (this.owners[part]?.length ?? 0) - 1);
  }

  /** Shards being caught up for a partition. */
  learnersOf(part: number): readonly string[] {
    return this.learners[part] ?? [];
  }

  /** The partition's epoch: bumped whenever its primary changes. */
  pepochOf(part: number): number {
    return this.pepochs[part] ?? 0;
  }

  /** The hand-off of a partition's primary role in progress, if any. */
  handoffOf(part: number): Handoff | null {
    return this.handoffs[part] ?? null;
  }

  /** Whether a shard holds (or is being given) a copy of a partition. */
  holds(part: number, shardId: string): boolean {
    return (this.owners[part]?.includes(shardId) ?? false) || (this.learners[part]?.includes(shardId) ?? false);
  }

  /** The address of a shard, when it has registered. */
  urlOf(shardId: string): string | undefined {
    const url = this.urls.get(shardId);
    return url === "" ? undefined : url;
  }

  /** Partitions whose primary is `shardId`. */
  primaryPartitionsOf(shardId: string): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.partitions; p++) if (this.owners[p]?.[0] === shardId) out.push(p);
    return out;
  }

  /** Group partitions by primary shard. */
  /** How many partitions `shardId` leads, and how many it holds as an in-sync replica. */
  roleCounts(shardId: string): { primary: number; replica: number } {
    let primary = 0;
    let replica = 0;
    for (let p = 0; p < this.partitions; p++) {
      if (this.primaryOf(p) === shardId) primary++;
      else if (this.replicasOf(p).includes(shardId)) replica++;
    }
    return { primary, replica };
  }

  partitionsByPrimary(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (let p = 0; p < this.partitions; p++) {
      const owner = this.owners[p]?.[0];
      if (owner === undefined) continue;
      let list = out.get(owner);
      if (!list) out.set(owner, (list = []));
      list.push(p);
    }
    return out;
  }

  shardAddresses(): ShardAddress[] {
    return [...this.urls].map(([id, url]) => ({ id, url }));
  }

  toData(): PartitionTableData {
    return {
      epoch: this.epoch,
      partitions: this.partitions,
      owners: this.owners.map((o) => [...o]),
      pepochs: [...this.pepochs],
      learners: this.learners.map((l) => [...l]),
      shards: this.shardAddresses(),
      handoffs: this.handoffs.map((h) => (h ? { ...h } : null)),
    };
  }
}
