/**
 * A shard's start from its storage: partitions, counters, expiry heaps, dicts and recent
 * answers rebuilt before it serves; and, for a shard whose data is corrupt at rf >= 2, the
 * fresh start once the coordinator has forgotten its copies.
 */
import { CorruptStorageError } from "../store/storage-errors.js";
import type { ReplicaStores } from "./replica-apply.js";

/**
 * Load what the engine stored into the node's structures. Corrupt data at rf >= 2 is not fatal
 * yet: it is returned, the node serves nothing, and registers saying it lost its data; the
 * coordinator either forgets its copies (they are rebuilt from the replicas: see
 * {@link startOver}) or, if it held the only copy of some partition, refuses, and the node
 * stops. Anything else throws.
 */
export function recoverShard(s: ReplicaStores, o: { node: string; replicationFactor: number; where: string; log: (line: string) => void }): CorruptStorageError | undefined {
  const t0 = performance.now();
  let state;
  try {
    state = s.engine.recover();
  } catch (err) {
    if (!(err instanceof CorruptStorageError) || o.replicationFactor < 2 || !s.engine.quarantine) throw err;
    o.log(`${o.node}: ${err.message}`);
    o.log(`${o.node}: replicationFactor ${o.replicationFactor}: serving nothing from this folder; asking the coordinator to rebuild this shard from its replicas`);
    return err;
  }
  const n = s.host.recover(state);
  for (const id of state.dicts) s.dicts.add(id);
  for (const d of state.dedup) s.dedup.restore(d.id, d.at, d.answer as { r?: unknown }, d.part);
  o.log(`${o.node}: recovered ${n} entries of ${state.dicts.length} dicts in ${(performance.now() - t0).toFixed(0)} ms${o.where}`);
  return undefined;
}

/**
 * The coordinator has forgotten this node's copies (it said it lost its data): set the corrupt
 * files aside and start empty, before adopting the table that makes it a learner.
 */
export function startOver(s: ReplicaStores, err: CorruptStorageError, node: string, log: (line: string) => void): void {
  const quarantine = s.engine.quarantine;
  if (!quarantine) throw err;
  const aside = quarantine.call(s.engine);
  s.host.recover(s.engine.recover());
  log(`${node}: the corrupt files are kept in ${aside}; this shard starts empty and is rebuilt from its replicas`);
}
