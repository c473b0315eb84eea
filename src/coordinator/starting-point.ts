/** What a coordinator starts from: the members and the ownership it last made durable. */
import type { ClusterConfig } from "../config/cluster-config.js";
import type { StoredMember } from "./membership.js";
import type { SavedOwnership } from "./ownership.js";
import type { RegistryState } from "./registry-store.js";

/**
 * Members as last stored (shards join and leave; the config seeds a first start), and
 * ownership as last published (failovers and moves change it) if it still fits the config
 * and the members; else the placement starts afresh.
 */
export function startingPoint(saved: RegistryState, cfg: ClusterConfig): { members: StoredMember[]; ownership: SavedOwnership | undefined } {
  const savedUrls = new Map((saved.table?.shards ?? []).map((s) => [s.id, s.url]));
  const members: StoredMember[] =
    saved.table?.members?.filter((m) => m.role !== "leaving") ?? cfg.shards.map((s) => ({ id: s.id, url: savedUrls.get(s.id) ?? "", role: "serving" as const }));
  const known = new Set(members.map((m) => m.id));
  const owners = saved.table?.owners;
  const pepochs = saved.table?.pepochs;
  const usable =
    owners !== undefined &&
    owners.length === cfg.partitions &&
    owners.every((o) => o.length > 0 && o.every((id) => known.has(id))) &&
    pepochs !== undefined &&
    pepochs.length === cfg.partitions;
  return { members, ownership: usable ? { owners, pepochs, handoffs: saved.table?.handoffs } : undefined };
}
