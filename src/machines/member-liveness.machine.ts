/**
 * The coordinator's view of one shard node: `alive ⇄ suspect → dead`.
 *
 * Each heartbeat re-enters `alive`, restarting its `after` timer; silence for
 * `suspectAfterMs` makes the member suspect, and `deadAfterMs` more makes it dead. A dead
 * member that heartbeats again (it restarted) is alive again.
 */
import { setup } from "xstate";

export interface MemberLivenessInput {
  suspectAfterMs: number;
  deadAfterMs: number;
}

export type MemberLivenessEvent = { type: "HEARTBEAT" } | { type: "DISCONNECTED" };

export const memberLivenessMachine = setup({
  types: {
    context: {} as MemberLivenessInput,
    input: {} as MemberLivenessInput,
    events: {} as MemberLivenessEvent,
  },
  delays: {
    suspectAfter: ({ context }) => context.suspectAfterMs,
    deadAfter: ({ context }) => context.deadAfterMs,
  },
}).createMachine({
  id: "memberLiveness",
  context: ({ input }) => input,
  initial: "alive",
  states: {
    alive: {
      after: { suspectAfter: "suspect" },
      on: {
        HEARTBEAT: { target: "alive", reenter: true },
        DISCONNECTED: "suspect",
      },
    },
    suspect: {
      after: { deadAfter: "dead" },
      on: { HEARTBEAT: "alive" },
    },
    dead: {
      on: { HEARTBEAT: "alive" },
    },
  },
});

export type MemberState = "alive" | "suspect" | "dead";
