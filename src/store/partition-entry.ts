/** What a partition store holds per entry and per dict, and how far a read may move a deadline before it is stored. */

export interface DictSlot {
  readonly dict: string;
  /** Bumped by `clear`: storage keeps entries per generation and drops older ones lazily. */
  gen: number;
  entries: Map<string, Entry>;
  /** The partition sequence number of the dict's last change here (a watch starts after it). */
  last: number;
  /** Key and value bytes of the entries in `entries` (metrics: bytes held per node). */
  bytes: number;
}

/**
 * One entry, kept small (a shard holds millions): key and value as latin1 strings (one
 * header each, on the V8 heap, where a Uint8Array costs an object, a backing store and a
 * malloc), and no doubles (each would be a separate box). The deadline, and the time the
 * heap has it scheduled at, live in the expiry queue's arrays.
 */
export class Entry {
  heapIndex = -1;
  /** Its own idle TTL in ms; 0: the dict's. Kept by a plain overwrite. */
  ttl = 0;
  constructor(
    /** Canonical key bytes as a latin1 string. */
    readonly k: string,
    /** The value's bytes as a latin1 string. */
    public value: string,
    readonly slot: DictSlot,
    /**
     * `floor(persisted deadline / slack)`: reads move the deadline only in memory, and write
     * it once it would pass `(bucket + 1) × slack`, so memory is never more than the slack
     * ahead of storage. A small integer (unboxed) for any realistic TTL.
     */
    public bucket: number,
    /** The version its last write gave it (the partition's sequence then). */
    public ver: number,
  ) {}
}

/**
 * How far a read may move an entry's deadline before the new deadline is written to
 * storage: a tenth of the TTL, at most an hour. After a restart every deadline is the stored
 * one plus this slack, so an entry never expires early and lives at most this much longer.
 */
export function persistSlackMs(ttlMs: number): number {
  return Math.max(1, Math.min(Math.floor(ttlMs / 10), 3_600_000));
}
