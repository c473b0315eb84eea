/**
 * The last step of every write on a primary: the mutations a partition store made go to this
 * node's storage engine and to the partition's replicas at once, and the request is answered
 * when both have landed (fsynced here, applied durably there).
 */
import type { StorageEngine } from "../store/storage-engine.js";
import type { PartitionStore } from "../store/partition-store.js";
import type { Replicator } from "./replicator.js";

/** Make a store's pending mutations durable here and on its replicas; undefined when there are none. */
export function commitAndReplicate(engine: StorageEngine, replicator: Replicator, store: PartitionStore): Promise<unknown> | undefined {
  const muts = store.takePending();
  // Watchers are shown the changes up to here once this commit (and every earlier one) has landed.
  const head = store.history.head;
  if (muts.length === 0) {
    store.history.track(head, undefined);
    return undefined;
  }
  const local = engine.commit(muts);
  // Both at once, one promise per partition and turn (the replicator's), not a Promise.all
  // per write. A replica's failure is already "may have happened" (applied here).
  const done = replicator.replicate(store.part, muts, local) ?? local;
  store.history.track(head, done);
  return done;
}
