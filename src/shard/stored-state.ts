/**
 * A shard's state read back as mutation batches, lazily, a chunk per call: for a log
 * snapshot (everything the node stores) and for a learner (one partition it leads).
 */
import type { Clock } from "../util/clock.js";
import type { Mutation, ReplMutation } from "../store/storage-engine.js";
import { replBytes } from "../encoding/mutation.js";
import { DEDUP_WINDOW_MS, type DedupTable } from "./dedup-table.js";
import type { DictSet } from "./dict-set.js";
import type { PartitionHost } from "./partition-host.js";

/** A snapshot chunk: at most this many entries or bytes of values, read in one turn. */
const CHUNK_ENTRIES = 1000;
const CHUNK_BYTES = 1 << 20;
/** Client floors per chunk of a partition copy (~100 bytes each). */
const CHUNK_FLOORS = 4096;

export interface ShardState {
  host: PartitionHost;
  dicts: DictSet;
  dedup: DedupTable;
  clock: Clock;
}

/** Everything the node stores (dicts, recent answers, entries), for a log snapshot. */
export function* storedState(s: ShardState): Generator<Mutation[], void, undefined> {
  yield s.dicts.ids().map((dict) => ({ op: "addDict" as const, dict }));
  const answers = s.dedup.byPart(s.clock.now() - DEDUP_WINDOW_MS);
  for (const [part, store] of s.host.all()) {
    yield (answers.get(part) ?? []).map((d) => ({ op: "dedup" as const, id: d.id, at: d.at, answer: d.answer, part }));
    yield* store.storedChunks(CHUNK_ENTRIES, () => s.clock.now(), CHUNK_BYTES);
  }
}

/**
 * A partition as chunks for a learner (a reset first): its entries, the answers of its
 * recent writes, and the floors of the clients whose answers of it were dropped here.
 */
export function partitionCopy(s: ShardState, part: number): { chunks: Iterator<ReplMutation[]>; total: number } {
  const store = s.host.store(part);
  const dedup: ReplMutation[] = s.dedup
    .forPart(part, s.clock.now() - DEDUP_WINDOW_MS)
    .map((d) => ({ op: "dedup" as const, id: d.id, at: d.at, answer: d.answer, memoryOnly: true, part }));
  const floors = s.dedup.floorsFor(part);
  const chunks = store.snapshotChunks(CHUNK_ENTRIES, () => s.clock.now(), CHUNK_BYTES);
  // The answers and floors follow the first chunk (its reset), in chunks of their own: there
  // may be many of them.
  const withAnswers = function* (): Generator<ReplMutation[], void, undefined> {
    let first = true;
    for (const c of chunks) {
      yield c;
      if (first) {
        yield* bounded(dedup);
        for (let i = 0; i < floors.length; i += CHUNK_FLOORS) yield [{ op: "floors", part, floors: floors.slice(i, i + CHUNK_FLOORS) }];
      }
      first = false;
    }
  };
  return { total: store.size, chunks: withAnswers() };
}

/** Mutations in chunks of at most CHUNK_ENTRIES or CHUNK_BYTES (a pop's answer holds the value it removed). */
function* bounded(muts: ReplMutation[]): Generator<ReplMutation[], void, undefined> {
  let chunk: ReplMutation[] = [];
  let bytes = 0;
  for (const m of muts) {
    const size = replBytes(m);
    if (chunk.length > 0 && (chunk.length >= CHUNK_ENTRIES || bytes + size > CHUNK_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

/** Entries in the partitions `self` leads, and in all it holds (replicas too), for `cluster status`. */
export function entryCounts(host: PartitionHost, primaryOf: (part: number) => string | undefined, self: string): { entries: number; held: number; bytes: number; heldBytes: number } {
  let entries = 0;
  let held = 0;
  let bytes = 0;
  let heldBytes = 0;
  for (const [part, store] of host.all()) {
    const n = store.size;
    const b = store.bytes;
    held += n;
    heldBytes += b;
    if (primaryOf(part) === self) {
      entries += n;
      bytes += b;
    }
  }
  return { entries, held, bytes, heldBytes };
}
