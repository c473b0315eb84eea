/**
 * The seam for durable storage. A partition store keeps its live entries in memory and
 * writes every mutation through an engine; a write is acknowledged only once the engine's
 * `commit` resolves. The in-memory engine below keeps nothing: it is what runs until a
 * durable engine is plugged in.
 */
export type Mutation =
  | { op: "set"; dict: string; part: number; key: Uint8Array; value: Uint8Array; deadline: number }
  | { op: "delete"; dict: string; part: number; key: Uint8Array }
  | { op: "dropDict"; dict: string; part: number };

export interface StoredEntry {
  dict: string;
  key: Uint8Array;
  value: Uint8Array;
  deadline: number;
}

export interface StorageEngine {
  /** True when commits reach stable storage; the in-memory engine says false. */
  readonly durable: boolean;
  /** Persist mutations in order; resolves when they are durable. */
  commit(part: number, mutations: readonly Mutation[]): Promise<void> | undefined;
  /** Every stored entry of a partition, for recovery at start-up. */
  load(part: number): Iterable<StoredEntry>;
  close(): Promise<void>;
}

/** Keeps nothing: entries live only in the shard's memory. */
export class MemoryEngine implements StorageEngine {
  readonly durable = false;
  commit(): undefined {
    return undefined;
  }
  load(): Iterable<StoredEntry> {
    return [];
  }
  async close(): Promise<void> {}
}
