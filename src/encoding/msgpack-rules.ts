/** What the msgpack structure scanner (msgpack-bounds.ts) allows, per use, and what it reports. */

/** What one msgpack extension type may carry. */
export interface ExtRule {
  /** Payload size bounds, in bytes (the fixext forms count too). */
  readonly min: number;
  readonly max: number;
  /** msgpackr reads one more msgpack value after the payload (Set, Error, RegExp, clone ids). */
  readonly follows: boolean;
  /** Objects decoding it allocates (an Error captures a stack trace: it counts for more). */
  readonly objects: number;
  /** Whether the entries of the value that follows are each an object too (a Set's). */
  readonly chargeFollower?: boolean;
  /** A finer check of the payload `bytes[from, to)`; a reason to refuse it, or undefined. */
  check?(bytes: Uint8Array, from: number, to: number): string | undefined;
}

/** What one use of msgpack (wire frames, log items, values) accepts. */
export interface MsgpackRules {
  /** Names the bytes in error messages ("frame", "value"). */
  readonly what: string;
  readonly maxDepth: number;
  /** Entries one map may hold (maps decoded as objects become dictionary-mode objects). */
  readonly maxMapEntries: number;
  /** Whether each map entry is an object of its own (maps decoded as `Map`). */
  readonly mapEntriesAreObjects: boolean;
  /** Whether record definitions and references are read (values: msgpackr writes them). */
  readonly records: boolean;
  /** Record keys msgpackr may compile into reader functions (a record's 4th use does). */
  readonly maxCompiledRecordKeys: number;
  /** Extension types accepted, by type byte (0xff is the timestamp, -1). */
  readonly ext: readonly (ExtRule | undefined)[];
  /**
   * Frames: one that breaks a content rule is listed as refused (to be answered, with its
   * rid when it has one) rather than failing the whole message.
   */
  readonly frames?: boolean;
  /**
   * Messages of frames: a top-level array is a batch of at most this many frames, checked
   * from its header before any frame is read (implies `frames`, per frame of the batch).
   */
  readonly maxBatch?: number;
}

export interface ScanResult {
  /** Frames refused for their content, by index in the batch (0 for a single frame), with why. */
  refused: Map<number, string> | undefined;
  /** The batch's length when the top-level value is a batch (rules with `maxBatch`), else -1. */
  batch: number;
  /** Where the first value starts: past a batch's header, else `start`. */
  first: number;
  /** Offsets of the record keys spelled `__proto__` (see proto-keys.ts), if any. */
  protoKeys: number[] | undefined;
}

/** A rule broken by the content of well-formed msgpack (vs {@link formatError}). */
