/**
 * The versioned operations on one key, as a shard runs them on a partition store:
 * conditional writes and deletes, counters, reads with version and expiry, and touches.
 * The data handler has checked ownership and the key, and commits (and answers once per
 * request id) around them.
 */
import { Packr } from "msgpackr";
import { InvalidError } from "../errors.js";
import type { FrameOf } from "../protocol/frames.js";
import type { PartitionStore } from "../store/partition-store.js";
import { latin1Bytes } from "../encoding/latin1-bytes.js";

export type EntryFrame = FrameOf<"getEntry" | "putEntry" | "delEntry" | "incr" | "touch">;

/** What `getEntry` answers for a live entry (null when absent). */
export interface EntryReply {
  v: Uint8Array;
  ver: number;
  /** Its deadline after this read moved it (ms since the epoch). */
  exp: number;
}

/** What `putEntry` answers: the new version, or the current one (null: absent) when the condition failed. */
export interface PutEntryReply {
  ok: boolean;
  ver: number | null;
}

/** The SDK's value encoding (client/value-codec.ts): what a counter is read and written as. */
const packr = new Packr({ structuredClone: true });

export function applyEntryOp(frame: EntryFrame, store: PartitionStore, k: string, now: number, checkEntry: (key: Uint8Array, value: Uint8Array) => void): unknown {
  switch (frame.type) {
    case "getEntry": {
      const e = store.read(frame.dict, k, now);
      return e ? ({ v: latin1Bytes(e.value), ver: e.ver, exp: e.deadline } satisfies EntryReply) : null;
    }
    case "putEntry": {
      checkEntry(frame.key, frame.value);
      const cur = store.peek(frame.dict, k, now);
      const want = frame.ifVersion;
      const fails = (frame.ifAbsent && cur !== undefined) || (want === null && cur !== undefined) || (typeof want === "number" && cur?.ver !== want);
      if (fails) return { ok: false, ver: cur?.ver ?? null } satisfies PutEntryReply;
      return { ok: true, ver: store.write(frame.dict, k, frame.value, now, frame.ttl, frame.key) } satisfies PutEntryReply;
    }
    case "delEntry": {
      const cur = store.peek(frame.dict, k, now);
      if (frame.ifVersion === null || cur === undefined || cur.ver !== frame.ifVersion) return false;
      return store.delete(frame.dict, k, now);
    }
    case "incr": {
      const delta = counterValue(frame.delta, "the increment");
      const cur = store.peek(frame.dict, k, now);
      const old = cur === undefined ? (typeof delta === "bigint" ? 0n : 0) : counterValue(latin1Bytes(cur.value), "the value at this key");
      const sum = add(old, delta);
      const bytes = packr.pack(sum);
      checkEntry(frame.key, bytes);
      store.write(frame.dict, k, bytes, now, undefined, frame.key);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    case "touch":
      return store.refresh(frame.dict, k, now, frame.ifVersion);
  }
}

/** Whether an answer is a conditional write's or delete's failed condition (nothing changed). */
export function failedCondition(result: unknown): boolean {
  return result === false || (typeof result === "object" && result !== null && (result as Partial<PutEntryReply>).ok === false);
}

function add(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === "bigint" && typeof b === "bigint") return a + b;
  if (typeof a === "number" && typeof b === "number") {
    const sum = a + b;
    if (!Number.isSafeInteger(sum)) throw new InvalidError(`incr overflows: ${a} + ${b} is past Number.MAX_SAFE_INTEGER (use bigint counters for larger values)`);
    return sum;
  }
  throw new InvalidError(`incr mixes a ${typeof a} stored value with a ${typeof b} increment: both must be numbers or both bigints`);
}

/**
 * A counter's value from its encoding: a safe integer or a bigint. Only number encodings
 * are decoded at all (any other first byte is refused without reading further).
 */
export function counterValue(bytes: Uint8Array, what: string): number | bigint {
  if (!isNumberEncoding(bytes)) throw new InvalidError(`${what} is not a number or a bigint`);
  let v: unknown;
  try {
    v = packr.unpack(bytes);
  } catch {
    throw new InvalidError(`${what} is not a number or a bigint`);
  }
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  throw new InvalidError(`${what} is ${typeof v === "number" ? `${v}, not a safe integer` : "not a number or a bigint"}`);
}

/** msgpack forms of numbers, and msgpackr's extension (type 0x42) for bigints past 64 bits. */
function isNumberEncoding(b: Uint8Array): boolean {
  const t = b[0];
  if (t === undefined) return false;
  if (t <= 0x7f || t >= 0xe0 || (t >= 0xca && t <= 0xd3)) return true;
  // fixext 1..16: type at 1; ext 8/16/32: type after the length.
  if (t >= 0xd4 && t <= 0xd8) return b[1] === 0x42;
  if (t === 0xc7) return b[2] === 0x42;
  if (t === 0xc8) return b[3] === 0x42;
  if (t === 0xc9) return b[5] === 0x42;
  return false;
}
