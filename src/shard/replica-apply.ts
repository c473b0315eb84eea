/**
 * How a replica applies the `repl` frames it accepted (replica-applier.ts decides which and in
 * what order): room on disk first, then the mutations, durably, with any dict it had not
 * heard of recorded in the same step.
 */
import type { ReplItem } from "../protocol/frames.js";
import { replBytes } from "../encoding/mutation.js";
import type { Mutation, StorageEngine } from "../store/storage-engine.js";
import type { Clock } from "../util/clock.js";
import type { DedupTable } from "./dedup-table.js";
import type { DictSet } from "./dict-set.js";
import type { PartitionHost } from "./partition-host.js";

export interface ReplicaStores {
  engine: StorageEngine;
  host: PartitionHost;
  dedup: DedupTable;
  dicts: DictSet;
  clock: Clock;
}

type Item = Pick<ReplItem, "part" | "muts">;

function bytesOf(items: readonly Item[]): number {
  let bytes = 0;
  for (const it of items) for (const m of it.muts) bytes += replBytes(m);
  return bytes;
}

/** Apply accepted items in memory; their log mutations, with any dict first heard of, in one commit. */
function applyInMemory(s: ReplicaStores, items: readonly Item[]): Promise<void> {
  const logged: Mutation[] = [];
  // A replica records a dict the first time it applies a write of it, with that write.
  const added: Mutation[] = [];
  for (const it of items) {
    const store = s.host.store(it.part);
    store.applyReplicated(it.muts);
    for (const m of it.muts) {
      if (m.op === "dedup") s.dedup.restore(m.id, m.at, m.answer as { r?: unknown }, m.part ?? it.part, m.client, m.rid);
      else if (m.op === "floors") s.dedup.adoptFloors(it.part, m.floors, s.clock.now());
      else if ("dict" in m && !s.dicts.has(m.dict)) {
        s.dicts.add(m.dict);
        added.push({ op: "addDict", dict: m.dict });
      }
    }
    for (const m of store.takePending()) logged.push(m);
  }
  for (const m of added) logged.push(m);
  return s.engine.commit(logged) ?? Promise.resolve();
}

/**
 * Apply accepted items (one frame's, or a batch's of several partitions) with one disk
 * reservation and one commit; a replica whose disk is full refuses them (the primary
 * reports it, and goes on without it). Not an async function: on the replica's hot path its
 * two awaits and its own promise were most of the promise work per batch.
 */
export function applyReplicated(s: ReplicaStores, items: readonly Item[]): Promise<void> {
  let bytes: number;
  let waiting: Promise<void> | undefined;
  try {
    bytes = bytesOf(items);
    waiting = s.engine.reserve(bytes);
  } catch (err) {
    // As an async function would: a refusal is the promise's, never a throw.
    return Promise.reject(err as Error);
  }
  return waiting ? waiting.then(() => applyReserved(s, items, bytes)) : applyReserved(s, items, bytes);
}

/** Apply with `bytes` reserved; the reservation ends when the commit settles, however it ends. */
function applyReserved(s: ReplicaStores, items: readonly Item[], bytes: number): Promise<void> {
  let committed: Promise<void>;
  try {
    committed = applyInMemory(s, items);
  } catch (err) {
    s.engine.release(bytes);
    return Promise.reject(err as Error);
  }
  return committed.then(
    () => s.engine.release(bytes),
    (err: unknown) => {
      s.engine.release(bytes);
      throw err;
    },
  );
}
