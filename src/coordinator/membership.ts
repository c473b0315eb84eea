/**
 * Shard membership: each configured shard's address and liveness (an xstate actor per
 * member running the alive ⇄ suspect → dead machine).
 */
import { createActor, type Actor } from "xstate";
import { memberLivenessMachine, type MemberState } from "../machines/member-liveness.machine.js";
import type { Peer } from "../net/peer.js";

export interface Member {
  readonly id: string;
  url: string;
  /** performance.now() of the last registration or heartbeat received. */
  lastHeard: number;
  peer: Peer | undefined;
  liveness: Actor<typeof memberLivenessMachine> | undefined;
}

export interface MembershipOptions {
  suspectAfterMs: number;
  deadAfterMs: number;
  onStateChange?: (id: string, state: MemberState) => void;
}

export class Membership {
  private readonly members = new Map<string, Member>();

  constructor(
    shardIds: readonly string[],
    private readonly opts: MembershipOptions,
  ) {
    for (const id of shardIds) this.members.set(id, { id, url: "", lastHeard: 0, peer: undefined, liveness: undefined });
  }

  get(id: string): Member | undefined {
    return this.members.get(id);
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
    for (const m of this.members.values()) m.liveness?.stop();
  }
}
