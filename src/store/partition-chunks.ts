/**
 * A partition's entries read back as mutations, in bounded chunks, each read only when it is
 * asked for, from the live maps: for a learner (a reset first; the caller sends each chunk
 * before any write made after it, so chunks and the live stream together give the learner
 * exactly the primary's state) and for a log snapshot (each dict's generation first). No
 * chunk copies a whole partition in one event-loop turn.
 */
import { latin1Bytes } from "../encoding/latin1-bytes.js";
import type { DictSlot, Entry } from "./partition-entry.js";
import type { Mutation, ReplMutation } from "./storage-engine.js";
import type { ReplChange } from "../encoding/mutation.js";

/** The mutations that describe stored entries: valid both for storage and for replicas. */
type EntryMutation = Extract<Mutation, { op: "set" | "clear" }>;

export interface ChunkSource {
  slots(): Iterable<DictSlot>;
  deadlineOf(e: Entry): number;
  /** The highest version the partition has given. */
  version(): number;
  /** Its change history, as it is now. */
  history(): { floor: number; changes: ReplChange[] };
}

/**
 * A learner's copy: a reset (with the partition's highest version) and the change history
 * up to it, then the live entries (with their deadlines in memory).
 */
export function* copyChunks(part: number, src: ChunkSource, chunk: number, now: () => number, maxBytes: number): Generator<ReplMutation[], void, undefined> {
  const reset: ReplMutation = { op: "reset", part, ver: src.version() };
  const { floor, changes } = src.history();
  yield [reset, { op: "history", part, floor, changes }];
  yield* entryChunks(part, src, false, chunk, now, maxBytes);
}

/**
 * The live entries in chunks of at most `chunk` entries or `maxBytes`; with `generations`,
 * each dict's generation first (as a `clear`, which also carries the partition's highest
 * version, so a snapshot keeps it after the entries that had it are gone).
 */
export function* entryChunks(part: number, src: ChunkSource, generations: boolean, chunk: number, now: () => number, maxBytes: number): Generator<EntryMutation[], void, undefined> {
  let out: EntryMutation[] = [];
  let bytes = 0;
  for (const s of src.slots()) {
    const map = s.entries;
    if (generations) out.push({ op: "clear", part, dict: s.dict, gen: s.gen, ver: src.version() });
    for (const e of map.values()) {
      // A clear during the copy replaced the map: what follows it travels live.
      if (s.entries !== map) break;
      const deadline = src.deadlineOf(e);
      if (deadline <= now()) continue;
      // The deadline in memory: at or after the stored one, and no more than the slack later.
      out.push({ op: "set", part, dict: s.dict, gen: s.gen, key: latin1Bytes(e.k), value: latin1Bytes(e.value), deadline, ver: e.ver, ttl: e.ttl });
      bytes += e.k.length + e.value.length;
      if (out.length >= chunk || bytes >= maxBytes) {
        yield out;
        out = [];
        bytes = 0;
      }
    }
  }
  if (out.length > 0) yield out;
}
