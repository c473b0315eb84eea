/**
 * A shard node's lifecycle: `booting → joining → serving (→ leaving) → draining → stopped`.
 *
 * Data requests are served only in `serving`. Losing the coordinator does not leave
 * `serving` (the coordinator is not on the data path); it only marks the node `detached`
 * until it registers again.
 *
 * `failed` is fail-stop after a storage write or sync failed: memory may hold what never
 * reached the disk, so the node never serves again; it is restarted from disk.
 */
import { setup, assign } from "xstate";

export type NodeLifecycleEvent =
  | { type: "BOOTED" }
  | { type: "REGISTERED"; epoch: number }
  | { type: "COORDINATOR_LOST" }
  | { type: "LEAVE" }
  | { type: "STOP" }
  | { type: "DRAINED" }
  | { type: "STORAGE_FAILED" };

export const nodeLifecycleMachine = setup({
  types: {
    context: {} as { epoch: number; detached: boolean },
    events: {} as NodeLifecycleEvent,
  },
}).createMachine({
  id: "nodeLifecycle",
  context: { epoch: 0, detached: true },
  initial: "booting",
  on: { STORAGE_FAILED: ".failed" },
  states: {
    booting: {
      on: { BOOTED: "joining", STOP: "draining" },
    },
    joining: {
      on: {
        REGISTERED: {
          target: "serving",
          actions: assign({ epoch: ({ event }) => event.epoch, detached: false }),
        },
        STOP: "draining",
      },
    },
    serving: {
      on: {
        REGISTERED: { actions: assign({ epoch: ({ event }) => event.epoch, detached: false }) },
        COORDINATOR_LOST: { actions: assign({ detached: true }) },
        LEAVE: "leaving",
        STOP: "draining",
      },
    },
    // Still serving what it holds while its partitions move away; then it stops.
    leaving: {
      on: {
        REGISTERED: { actions: assign({ epoch: ({ event }) => event.epoch, detached: false }) },
        COORDINATOR_LOST: { actions: assign({ detached: true }) },
        STOP: "draining",
      },
    },
    draining: {
      on: { DRAINED: "stopped" },
    },
    stopped: { type: "final" },
    failed: { type: "final" },
  },
});
