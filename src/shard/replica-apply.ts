/**
 * How a replica applies a `repl` frame it accepted (replica-applier.ts decides which and in
 * what order): room on disk first, then the mutations, durably, with any dict it had not
 * heard of recorded in the same step.
 */
import type { FrameOf } from "../protocol/frames.js";
import type { Mutation, ReplMutation, StorageEngine } from "../store/storage-engine.js";
import type { DedupTable } from "./dedup-table.js";
import type { DictSet } from "./dict-set.js";
import type { PartitionHost } from "./partition-host.js";

/** An upper bound of the log bytes a replicated mutation takes. */
function replBytes(m: ReplMutation): number {
  switch (m.op) {
    case "set":
      return m.key.byteLength + m.value.byteLength + m.dict.length + 64;
    case "delete":
      return m.key.byteLength + m.dict.length + 64;
    case "dedup": {
      // A pop's answer holds the value it removed.
      const r = (m.answer as { r?: unknown } | undefined)?.r;
      return m.id.length + 128 + (r instanceof Uint8Array ? r.byteLength : 0);
    }
    default:
      return 128;
  }
}

export interface ReplicaStores {
  engine: StorageEngine;
  host: PartitionHost;
  dedup: DedupTable;
  dicts: DictSet;
}

/** Apply an accepted frame; a replica whose disk is full refuses (the primary reports it, and goes on without it). */
export async function applyReplicated(s: ReplicaStores, frame: FrameOf<"repl">): Promise<void> {
  let bytes = 0;
  for (const m of frame.muts) bytes += replBytes(m);
  await s.engine.reserve(bytes);
  try {
    const store = s.host.store(frame.part);
    store.applyReplicated(frame.muts);
    // A replica records a dict the first time it applies a write of it, with that write.
    const added: Mutation[] = [];
    for (const m of frame.muts) {
      if (m.op === "dedup") s.dedup.restore(m.id, m.at, m.answer as { r?: unknown }, m.part ?? frame.part);
      else if ("dict" in m && !s.dicts.has(m.dict)) {
        s.dicts.add(m.dict);
        added.push({ op: "addDict", dict: m.dict });
      }
    }
    await Promise.all([store.commit(), added.length > 0 ? s.engine.commit(added) : undefined]);
  } finally {
    s.engine.release(bytes);
  }
}
