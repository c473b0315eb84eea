/**
 * The seam for durable storage on a shard. A partition store keeps its live entries in
 * memory and writes every mutation through an engine; a write is acknowledged only once the
 * engine's `commit` resolves. What `clear` and dict deletion leave behind on disk is the
 * engine's to remove, in bounded batches in the background.
 */

import type { Mutation } from "../encoding/mutation.js";
export type { Mutation, ReplMutation } from "../encoding/mutation.js";

export interface StoredEntry {
  part: number;
  dict: string;
  gen: number;
  key: Uint8Array;
  value: Uint8Array;
  /** The deadline as last persisted (reads move it in memory, and on disk only coarsely). */
  deadline: number;
  /** Its version (0: written before versions). */
  ver: number;
  /** Its own idle TTL in ms (0: the dict's). */
  ttl: number;
}

export interface RecoveredState {
  /** Live entries of the current generation of every dict that was not dropped. */
  entries: Iterable<StoredEntry>;
  /** Current generation per `part:dict` (absent means 0). */
  generations: Map<string, number>;
  /** Per partition: the highest version it had given (absent means 0). */
  versions: Map<number, number>;
  /** Dicts this node had been told exist. */
  dicts: string[];
  /** Stored answers of non-idempotent requests, oldest first. */
  dedup: { id: string; at: number; answer: unknown; part?: number }[];
}

/**
 * Told of each batch made durable: how many mutations it held, and how long its sync (or,
 * for LMDB, its transaction with its fsync) took, in seconds. For metrics.
 */
export type BatchObserver = (mutations: number, syncSeconds: number) => void;

export interface StorageEngine {
  /** True when commits reach stable storage; the in-memory engine says false. */
  readonly durable: boolean;
  /** Persist mutations in order; resolves when they are flushed to disk. */
  commit(mutations: readonly Mutation[]): Promise<void> | undefined;
  /**
   * Admit a write of at most `bytes` before it changes anything: undefined when there is
   * room, else a promise that resolves once there is, or rejects with `StorageFullError`.
   * Every admitted write is {@link release}d once its commit settled.
   */
  reserve(bytes: number): Promise<void> | undefined;
  release(bytes: number): void;
  /** Short of space: reads stop persisting moved deadlines (they are rewritten later). */
  readonly tight: boolean;
  /** What was stored, read once at start-up. */
  recover(): RecoveredState;
  /**
   * After `recover` threw `CorruptStorageError`: set the stored files aside and start empty
   * (the node is then rebuilt from its replicas). Returns where the files went. Engines
   * that cannot do it leave it out, and such a node refuses to start.
   */
  quarantine?(): string;
  /** Resolves when no background removal is pending (tests and shutdown). */
  idle(): Promise<void>;
  /** Forget stored request answers older than `before` (ms since the epoch). */
  expireDedup(before: number): void;
  close(): Promise<void>;
}

export function generationKey(part: number, dict: string): string {
  return `${part}:${dict}`;
}

/** Keeps nothing: entries live only in the shard's memory. */
export class MemoryEngine implements StorageEngine {
  readonly durable = false;
  readonly tight = false;
  reserve(): undefined {
    return undefined;
  }
  release(): void {}
  commit(): undefined {
    return undefined;
  }
  recover(): RecoveredState {
    return { entries: [], generations: new Map(), versions: new Map(), dicts: [], dedup: [] };
  }
  async idle(): Promise<void> {}
  expireDedup(): void {}
  async close(): Promise<void> {}
}
