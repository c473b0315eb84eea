/** What a shard writes to storage and sends its replicas: one change each. */

/** `gen` is the dict's generation in that partition: `clear` starts a new one. */
export type Mutation =
  | { op: "set"; part: number; dict: string; gen: number; key: Uint8Array; value: Uint8Array; deadline: number }
  | { op: "delete"; part: number; dict: string; gen: number; key: Uint8Array }
  | { op: "clear"; part: number; dict: string; gen: number }
  | { op: "addDict"; dict: string }
  | { op: "dropDict"; dict: string }
  /**
   * The answer to a write, stored with the mutation it describes, so a retry after a crash
   * or failover gets it. `memoryOnly`: not written (a learner's copy of its primary's
   * answers, which the primary has on disk).
   */
  | { op: "dedup"; id: string; at: number; answer: unknown; memoryOnly?: boolean; part?: number };

/** What travels from a primary to its replicas: its mutations, and a snapshot's reset. */
export type ReplMutation = Exclude<Mutation, { op: "addDict" } | { op: "dropDict" }> | { op: "reset"; part: number };
