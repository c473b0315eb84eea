/**
 * Shard membership: each member shard's address, liveness (an xstate actor per member
 * running the alive ⇄ suspect → dead machine) and role (joining, serving, handing off,
 * leaving: another actor). Members come from the config at first start, join by
 * registering, and are forgotten once they have left.
 */
import { createActor, type Actor } from "xstate";
import { memberLivenessMachine, type MemberState } from "../machines/member-liveness.machine.js";
import { isActiveRole, memberRoleMachine, type MemberRole, type MemberRoleEvent } from "../machines/member-role.machine.js";
import type { Peer } from "../net/peer.js";

export interface Member {
  readonly id: string;
  url: string;
  /** performance.now() of the last registration or heartbeat received. */
  lastHeard: number;
  peer: Peer | undefined;
  liveness: Actor<typeof memberLivenessMachine> | undefined;
  readonly role: Actor<typeof memberRoleMachine>;
}

/** A member as stored by the coordinator. */
export interface StoredMember {
  id: string;
  url: string;
  role: MemberRole;
}

export interface MembershipOptions {
  suspectAfterMs: number;
  deadAfterMs: number;
  onStateChange?: (id: string, state: MemberState) => void;
  onRoleChange?: (id: string, role: MemberRole) => void;
}

export class Membership {
  private readonly members = new Map<string, Member>();

  constructor(
    members: readonly StoredMember[],
    private readonly opts: MembershipOptions,
  ) {
    for (const m of members) this.add(m.id, m.url, m.role);
  }

  get(id: string): Member | undefined {
    return this.members.get(id);
  }

  /** A new member (a shard joining), or one restored in a given role. */
  add(id: string, url = "", role: MemberRole = "joining"): Member {
    const snapshot = memberRoleMachine.resolveState({ value: role, context: {} });
    const actor = createActor(memberRoleMachine, { snapshot });
    let last: string = role;
    actor.subscribe((snap) => {
      if (snap.value !== last) {
        last = String(snap.value);
        this.opts.onRoleChange?.(id, snap.value as MemberRole);
      }
    });
    actor.start();
    const m: Member = { id, url, lastHeard: 0, peer: undefined, liveness: undefined, role: actor };
    this.members.set(id, m);
    return m;
  }

  /** Forget a member that has left. */
  remove(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    m.liveness?.stop();
    m.role.stop();
    this.members.delete(id);
  }

  roleOf(id: string): MemberRole | undefined {
    return this.members.get(id)?.role.getSnapshot().value as MemberRole | undefined;
  }

  sendRole(id: string, event: MemberRoleEvent): void {
    this.members.get(id)?.role.send(event);
  }

  /** Ids of members that are part of the desired placement, sorted. */
  activeIds(): string[] {
    return [...this.members.values()]
      .filter((m) => isActiveRole(m.role.getSnapshot().value as MemberRole))
      .map((m) => m.id)
      .sort();
  }

  /** Every member as stored. */
  toStored(): StoredMember[] {
    return [...this.members.values()].map((m) => ({ id: m.id, url: m.url, role: m.role.getSnapshot().value as MemberRole }));
  }

  all(): Member[] {
    return [...this.members.values()];
  }

  /** A shard registered (first time or again): remember its address and connection. */
  registered(id: string, url: string, peer: Peer): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`unknown member ${id}`);
    m.url = url;
    m.peer = peer;
    m.lastHeard = performance.now();
    if (!m.liveness) {
      const actor = createActor(memberLivenessMachine, { input: { suspectAfterMs: this.opts.suspectAfterMs, deadAfterMs: this.opts.deadAfterMs } });
      let last: string | undefined;
      actor.subscribe((snap) => {
        const state = snap.value as MemberState;
        if (state !== last) {
          last = state;
          this.opts.onStateChange?.(id, state);
        }
      });
      actor.start();
      m.liveness = actor;
    }
    m.liveness.send({ type: "HEARTBEAT" });
    return m;
  }

  heartbeat(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    m.lastHeard = performance.now();
    m.liveness?.send({ type: "HEARTBEAT" });
  }

  disconnected(peer: Peer): void {
    for (const m of this.members.values()) {
      if (m.peer === peer) {
        m.peer = undefined;
        m.liveness?.send({ type: "DISCONNECTED" });
      }
    }
  }

  stateOf(id: string): MemberState | "unregistered" {
    const actor = this.members.get(id)?.liveness;
    return actor ? (actor.getSnapshot().value as MemberState) : "unregistered";
  }

  /** Connected shard peers, for broadcasts. */
  connectedPeers(): Peer[] {
    const out: Peer[] = [];
    for (const m of this.members.values()) if (m.peer?.isOpen) out.push(m.peer);
    return out;
  }

  allRegistered(): boolean {
    return [...this.members.values()].every((m) => m.url !== "");
  }

  stop(): void {
    for (const m of this.members.values()) {
      m.liveness?.stop();
      m.role.stop();
    }
  }
}
