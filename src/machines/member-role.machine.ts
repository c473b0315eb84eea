/**
 * A shard's role in the cluster, as the coordinator sees it (liveness is a separate machine):
 *
 *   joining ──PLACED──▶ serving ──LEAVE──▶ handingOff ──DRAINED──▶ leaving
 *      └───────────────LEAVE───────────────────▲                    │
 *   leaving ──REJOIN──▶ joining (a removed shard that registers again)
 *
 * `joining`: partitions are being copied to it. `serving`: it holds its share.
 * `handingOff`: a leave was asked for; its partitions move to the others. `leaving`: it
 * holds nothing any more and is shutting down; it is forgotten once disconnected.
 */
import { setup } from "xstate";

export type MemberRoleEvent = { type: "PLACED" } | { type: "LEAVE" } | { type: "DRAINED" } | { type: "REJOIN" };
export type MemberRole = "joining" | "serving" | "handingOff" | "leaving";

export const memberRoleMachine = setup({
  types: { events: {} as MemberRoleEvent },
}).createMachine({
  id: "memberRole",
  initial: "joining",
  states: {
    joining: { on: { PLACED: "serving", LEAVE: "handingOff" } },
    serving: { on: { LEAVE: "handingOff" } },
    handingOff: { on: { DRAINED: "leaving" } },
    leaving: { on: { REJOIN: "joining" } },
  },
});

/** Whether a member in this role is part of the desired placement. */
export function isActiveRole(role: MemberRole): boolean {
  return role === "joining" || role === "serving";
}
