/**
 * What each decoder a peer can reach accepts: the rules msgpack-bounds.ts checks, and the
 * object budgets. One place, so that the SDK refuses at `put` exactly what a reader could
 * not decode, and the shard checks a value with the same rules.
 *
 * Budgets count *objects*: maps, arrays, byte strings, extension values, record instances
 * (and, in the binary form, frames and the byte views of keys and values), the things a
 * one-byte item can turn into 40–200 bytes of heap. Everything else a message decodes to
 * (array slots, numbers, strings) costs at most a small multiple of its bytes, so a
 * message's decoding allocates at most about budget × 200 bytes plus ~8 × its length.
 */
import type { ExtRule, MsgpackRules } from "./msgpack-bounds.js";

/**
 * Objects one WebSocket message may decode to. Legitimate traffic needs far less: a
 * partition table of 65,536 partitions is ~200,000 (owners, learners and hand-off lists),
 * a full batch of small frames 1–3 per frame, and an update is split by the SDK at
 * {@link MAX_UPDATE_ENTRIES}. At ~100 bytes an object: ~100 MiB of heap at most.
 */
export const FRAME_MAX_OBJECTS = 1 << 20;

/**
 * Frames any message may carry, whatever the config says (`maxFramesPerMessage` is at most
 * this): checked from a msgpack batch's header, before any frame is decoded. One frame can
 * ask for a large reply (a whole table, a value of up to `maxEntryBytes`), so this bounds what
 * one message can set in motion.
 */
export const MAX_BATCH = 8192;

/**
 * Entries of one `updateParts` request: two byte views each, plus the groups, stay well
 * inside {@link FRAME_MAX_OBJECTS} with room for other frames batched in the same message.
 * The SDK splits an update into requests of at most this many entries, and refuses one
 * that puts more into a single partition (its entries land together, in one request).
 */
export const MAX_UPDATE_ENTRIES = 1 << 18;

/** Nesting of frames: a batch, a frame, a table, its owner lists, …: a few levels. */
const FRAME_MAX_DEPTH = 64;

/** Fields of one map in a frame (maps become objects; frames have a dozen fields at most). */
const FRAME_MAX_MAP_ENTRIES = 1024;

/** msgpackr writes `undefined` as fixext 1 of type 0 (`d4 00 00`); our frames may hold it. */
const UNDEFINED: ExtRule = { min: 1, max: 1, follows: false, objects: 0 };
/** A Date (timestamp extension, type -1): 4, 8 or 12 bytes; msgpackr writes an invalid Date as 1. */
const DATE: ExtRule = {
  min: 1,
  max: 12,
  follows: false,
  objects: 1,
  check: (_b, from, to) => ([1, 4, 8, 12].includes(to - from) ? undefined : `a timestamp of ${to - from} bytes`),
};

function extTable(entries: Record<number, ExtRule>): (ExtRule | undefined)[] {
  const out = new Array<ExtRule | undefined>(256).fill(undefined);
  for (const [type, rule] of Object.entries(entries)) out[Number(type) & 0xff] = rule;
  return out;
}

/**
 * Wire frames (codec.ts encodes them with records off, and no frame field holds a Date,
 * a BigInt, a Set…): no records, no extension but `undefined`.
 */
export const FRAME_RULES: MsgpackRules = {
  what: "frame",
  maxDepth: FRAME_MAX_DEPTH,
  maxMapEntries: FRAME_MAX_MAP_ENTRIES,
  mapEntriesAreObjects: false,
  records: false,
  maxCompiledRecordKeys: 0,
  ext: extTable({ 0: UNDEFINED }),
  frames: true,
  maxBatch: MAX_BATCH,
};

const { maxBatch: _batch, ...oneFrame } = FRAME_RULES;
/** A frame embedded in a binary message: one frame, never a batch. */
export const EMBEDDED_FRAME_RULES: MsgpackRules = oneFrame;

/**
 * The msgpack parts of log records and replication bodies (log-record.ts): mutations and
 * retry answers, packed by msgpackr's default packer (no records). Dates are let through:
 * harmless, and the default packer would write one if a field ever held it.
 */
export const LOG_ITEM_RULES: MsgpackRules = {
  what: "log item",
  maxDepth: FRAME_MAX_DEPTH,
  maxMapEntries: FRAME_MAX_MAP_ENTRIES,
  mapEntriesAreObjects: false,
  records: false,
  maxCompiledRecordKeys: 0,
  ext: extTable({ 0: UNDEFINED, [-1]: DATE }),
};

/**
 * Objects allowed per log record body (and replication body) to its msgpack parts: one per
 * 8 bytes (what we write needs one per 20 or more: a mutation map with its byte strings, an
 * answer), plus a little for tiny bodies. Proportional, not absolute: a node's own log must
 * never be refused for being large.
 */
export function logBodyBudgetLimit(bodyBytes: number): number {
  return 64 + Math.floor(bodyBytes / 8);
}

/**
 * Objects one stored value may decode to. A value of up to `maxEntryBytes` holding millions
 * of tiny objects is legitimate; the limit keeps what a reader allocates near 200 MiB. The
 * SDK refuses a larger one at `put` (RequestSizeError), and so does the shard.
 */
export const VALUE_MAX_OBJECTS = 1 << 21;

/**
 * Nesting of values. msgpackr's packer overflows the stack at about 700 (Sets) to 1,700
 * (Maps) levels and its reader at ~3,300; 512 keeps both, called from deep in a program,
 * well clear of it. Deeper values are refused at `put` (InvalidError).
 */
export const VALUE_MAX_DEPTH = 512;

/** A BigInt's bytes: 1 MiB (8 million bits) decodes in a few milliseconds. */
export const VALUE_MAX_BIGINT_BYTES = 1 << 20;

/**
 * Record keys msgpackr may compile into reader functions per value (it does on a record's
 * 4th object, at ~2–3 µs a key): bounds that work to about 0.2 s. Values with this many
 * keys in repeated shapes are refused at `put`.
 */
export const VALUE_MAX_COMPILED_RECORD_KEYS = 1 << 16;

/** Element sizes of msgpackr's typed-array extension (type 0x74), by its type code. */
const TYPED_ARRAY_ELEMENT = [1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8];

/**
 * The value codec (client/value-codec.ts): msgpackr's structured clone with records, and
 * the Dict handle extension. Exactly the extension types it writes, payloads bounded.
 */
export const VALUE_RULES: MsgpackRules = {
  what: "value",
  maxDepth: VALUE_MAX_DEPTH,
  maxMapEntries: Number.POSITIVE_INFINITY,
  // Values decode maps as Map objects: an entry costs about what a small object does.
  mapEntriesAreObjects: true,
  records: true,
  maxCompiledRecordKeys: VALUE_MAX_COMPILED_RECORD_KEYS,
  ext: extTable({
    0: UNDEFINED,
    [-1]: DATE,
    0x42: { min: 1, max: VALUE_MAX_BIGINT_BYTES, follows: false, objects: 1 },
    // Error: [name, message, cause] follows; capturing a stack trace costs like many objects.
    0x65: { min: 1, max: 1, follows: true, objects: 16 },
    // Structured-clone identity (a shared or cyclic object follows: a map entry and a
    // placeholder), and a reference to one (the same object again: nothing new).
    0x69: { min: 4, max: 4, follows: true, objects: 2 },
    0x70: { min: 4, max: 4, follows: false, objects: 0 },
    0x73: { min: 1, max: 1, follows: true, objects: 1, chargeFollower: true },
    0x74: {
      min: 1,
      max: Number.POSITIVE_INFINITY,
      follows: false,
      objects: 2,
      check(b, from, to) {
        const code = b[from] as number;
        const size = code === 16 || code === 17 ? 1 : TYPED_ARRAY_ELEMENT[code];
        if (size === undefined) return `typed array code ${code}`;
        return (to - from - 1) % size === 0 ? undefined : `a typed array of ${to - from - 1} bytes (not a multiple of ${size})`;
      },
    },
    0x78: { min: 1, max: 1, follows: true, objects: 2 },
    // Dict handle (value-codec.ts): the dict id in UTF-8; a handle object is a few objects.
    42: { min: 1, max: 256, follows: false, objects: 8 },
  }),
};
