/** What a shard writes to storage and sends its replicas: one change each. */

/**
 * `gen` is the dict's generation in that partition: `clear` starts a new one.
 *
 * `ver` is the partition's version sequence: a `set` carries the version it gave its entry
 * (a fresh one per write; a read that only moves the deadline keeps it), a `delete` or
 * `clear` the highest version the partition had given by then. Storage and replicas keep the
 * highest they saw, so versions never go back, not after a delete, a restart or a failover.
 * 0 is what records written before versions existed read as. `ttl` is the entry's own idle
 * TTL in ms (0: the dict default).
 */
export type Mutation =
  | { op: "set"; part: number; dict: string; gen: number; key: Uint8Array; value: Uint8Array; deadline: number; ver: number; ttl: number }
  /** `expired`: removed by idle expiry, not by a client (watchers are told which). */
  | { op: "delete"; part: number; dict: string; gen: number; key: Uint8Array; ver: number; expired?: boolean }
  /** `cid`: the clear's id, the same in every partition one clear reaches. */
  | { op: "clear"; part: number; dict: string; gen: number; ver?: number; cid?: string }
  | { op: "addDict"; dict: string }
  | { op: "dropDict"; dict: string }
  /**
   * The answer to a write, stored with the mutation it describes, so a retry after a crash
   * or failover gets it. `memoryOnly`: not written (a learner's copy of its primary's
   * answers, which the primary has on disk). `client` and `rid`: the two parts of `id` when
   * it is a client's request id (`<client>:<rid>`), given by the node that made the record,
   * so that the log can write a put's answer inside its set without taking `id` apart
   * (log-body.ts); a decoded record has them only when it was written that way.
   */
  | { op: "dedup"; id: string; at: number; answer: unknown; memoryOnly?: boolean; part?: number; client?: string; rid?: number };

/** A client's request floor as it travels with a partition's copy (dedup-table.ts): `at` is when the client was last active. */
export interface ReplFloor {
  client: string;
  below: number;
  at: number;
}

/** One change of a partition's watch history as it travels to a learner (see change-history.ts). */
export interface ReplChange {
  seq: number;
  dict: string;
  kind: number;
  key?: Uint8Array;
  value?: Uint8Array;
  cid?: string;
}

/**
 * What travels from a primary to its replicas: its mutations, a snapshot's reset (with the
 * partition's highest version) and, after the reset, the primary's change history (never
 * stored: it lives in memory).
 */
export type ReplMutation =
  | Exclude<Mutation, { op: "addDict" } | { op: "dropDict" }>
  | { op: "reset"; part: number; ver?: number }
  | { op: "history"; part: number; floor: number; changes: ReplChange[] }
  /**
   * With a snapshot's answers: the floors of the clients whose answers of the partition the
   * sender dropped under them (dedup-table.ts), so the learner refuses those requests too.
   */
  | { op: "floors"; part: number; floors: ReplFloor[] };

/** An upper bound of the log bytes a replicated mutation takes. */
export function replBytes(m: ReplMutation): number {
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
    case "history": {
      let n = 128;
      for (const c of m.changes) n += (c.key?.byteLength ?? 0) + (c.value?.byteLength ?? 0) + c.dict.length + (c.cid?.length ?? 0) + 64;
      return n;
    }
    case "floors": {
      let n = 128;
      for (const f of m.floors) n += f.client.length + 32;
      return n;
    }
    default:
      return 128;
  }
}
