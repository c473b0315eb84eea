/**
 * What `status` answers (and `shardict cluster status` shows): the members with their role,
 * health, partitions and entry counts, the rebalancing progress, and the moves running.
 */
import type { PartitionTable } from "../hashing/partition-table.js";
import type { MemberRole } from "../machines/member-role.machine.js";
import type { MoveProgressData } from "../protocol/frames.js";
import type { Membership } from "./membership.js";

/** How roles read in `cluster status`. */
export const ROLE_NAMES: Record<MemberRole, string> = { joining: "joining", serving: "serving", handingOff: "handing off", leaving: "leaving" };

export interface HeartbeatStats {
  entries: number;
  held: number;
  moves: MoveProgressData[];
}

/** What `status` answers: its schema is with the other replies (protocol/replies.ts). */
export type { ClusterStatus } from "../protocol/replies.js";
import type { ClusterStatus } from "../protocol/replies.js";

export interface StatusSources {
  table: PartitionTable;
  replicationFactor: number;
  dicts: number;
  membership: Membership;
  /** Partitions not yet at their desired place, and moving now. */
  progress: { pending: number; moving: number };
  /** Per shard: its last heartbeat's figures. */
  stats: ReadonlyMap<string, HeartbeatStats>;
}

export function clusterStatus(src: StatusSources): ClusterStatus {
  const { table: t, membership, stats } = src;
  const primaries = t.partitionsByPrimary();
  const replicas = new Map<string, number>();
  for (let p = 0; p < t.partitions; p++) for (const r of t.replicasOf(p)) replicas.set(r, (replicas.get(r) ?? 0) + 1);
  const moves: ClusterStatus["moves"] = [];
  for (let p = 0; p < t.partitions; p++) {
    const from = t.primaryOf(p) ?? "";
    const progress = stats.get(from)?.moves ?? [];
    for (const to of t.learnersOf(p)) {
      const m = progress.find((x) => x.part === p && x.to === to);
      moves.push({ part: p, from, to, phase: "copying", done: m?.done ?? 0, total: m?.total ?? 0 });
    }
    const h = t.handoffOf(p);
    if (h) moves.push({ part: p, from, to: h.to, phase: "handing off", done: 1, total: 1 });
  }
  const { pending, moving } = src.progress;
  return {
    epoch: t.epoch,
    partitions: t.partitions,
    replicationFactor: src.replicationFactor,
    dicts: src.dicts,
    shards: membership.all().map((m) => ({
      id: m.id,
      url: m.url,
      state: ROLE_NAMES[membership.roleOf(m.id) ?? "leaving"],
      health: membership.stateOf(m.id),
      partitions: primaries.get(m.id)?.length ?? 0,
      replicas: replicas.get(m.id) ?? 0,
      entries: stats.get(m.id)?.entries ?? null,
      held: stats.get(m.id)?.held ?? null,
    })),
    rebalance: { pending, moving, done: t.partitions - pending },
    moves,
  };
}
