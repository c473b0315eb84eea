/**
 * Value encoding: msgpackr's structured-clone mode (nested objects, Map, Set, Date, bigint,
 * typed arrays, cycles) plus one extension type for `Dict` handles, which are stored as
 * their id and come back as live `Dict` objects bound to the client that read them.
 *
 * Decoding is bounded (protocol/value-check.ts): bytes are scanned before msgpackr reads
 * them, and `put` refuses a value whose encoding a reader would refuse, so what one SDK
 * stores every SDK reads. Own `__proto__` keys round-trip exactly (proto-keys.ts).
 */
import { isUtf8 } from "../encoding/is-utf8.js";
import { Packr, addExtension } from "msgpackr";
import { DeserializationError, InvalidError } from "../errors.js";
import { checkValueBytes, scanValue } from "../protocol/value-check.js";
import { unpackWithProtoKeys } from "./proto-keys.js";

/** msgpackr extension type of a Dict handle (1–100 are for applications). */
const DICT_EXTENSION_TYPE = 42;

/** Thrown while encoding when a value holds a `Dict` handle not yet resolved to an id. */
export class UnresolvedHandle extends Error {
  constructor(readonly handle: HandleLike) {
    super("a Dict handle in the value has not been resolved yet");
  }
}

/**
 * The id of a Dict handle if it is known, under a key only the SDK's modules can name: the
 * codec needs it to write a handle, and users have `objectId` (which says when it is not).
 */
export const HANDLE_ID: unique symbol = Symbol("shardict.handleId");

/** What the codec needs from a Dict handle. */
export interface HandleLike {
  readonly [HANDLE_ID]: string | undefined;
  hydrate(): Promise<unknown>;
}

interface HandleCodec<C> {
  Class: new (...args: never[]) => HandleLike;
  revive(id: string, context: C): unknown;
}

let handleCodec: HandleCodec<unknown> | undefined;
/** The client on whose behalf a value is being decoded. */
let decodeContext: { value: unknown } | undefined;

const packr = new Packr({ structuredClone: true });

/** Called once by the Dict module: teach the codec how to write and revive handles. */
export function registerHandleCodec<C>(codec: HandleCodec<C>): void {
  if (handleCodec) return;
  handleCodec = codec as HandleCodec<unknown>;
  addExtension({
    Class: codec.Class,
    type: DICT_EXTENSION_TYPE,
    pack(handle: HandleLike) {
      const id = handle[HANDLE_ID];
      if (id === undefined) throw new UnresolvedHandle(handle);
      return Buffer.from(id, "utf8");
    },
    unpack(buf: Uint8Array) {
      // Only values decoded by the SDK may hold handles; anywhere else they are garbage.
      if (!decodeContext || !handleCodec) throw new Error("unexpected Dict handle in this message");
      return handleCodec.revive(Buffer.from(buf).toString("utf8"), decodeContext.value);
    },
  });
}

/** Types structured clone refuses and msgpackr would silently turn into something else. */
function refused(v: unknown): string | undefined {
  switch (typeof v) {
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    case "object":
      if (v instanceof WeakMap || v instanceof WeakSet || v instanceof WeakRef) return `a ${v.constructor.name}`;
      if (v instanceof Promise) return "a Promise";
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Reject values that cannot be stored faithfully, before anything is sent. Walks nested
 * objects, arrays, Maps and Sets once (cycles are fine); byte arrays are not walked.
 */
export function checkValue(value: unknown): void {
  if (typeof value !== "object" && typeof value !== "function" && typeof value !== "symbol") return;
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    const bad = refused(v);
    if (bad !== undefined) throw new InvalidError(`invalid value: ${bad} cannot be stored in a Dict`);
    if (typeof v !== "object" || v === null || seen.has(v) || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) continue;
    seen.add(v);
    if (v instanceof Map) {
      for (const [k, x] of v) stack.push(k, x);
    } else if (v instanceof Set) {
      for (const x of v) stack.push(x);
    } else if (!(handleCodec && v instanceof handleCodec.Class)) {
      for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k]);
    }
  }
}

/**
 * A string value as the msgpack str msgpackr writes (the same bytes: a test compares them),
 * in one exact allocation instead of msgpackr's per-call setup and copy. The common value;
 * undefined for what msgpackr should handle (very long, or not well-formed UTF-16).
 */
export function packString(s: string): Uint8Array | undefined {
  if (s.length >= 0x5555 || !s.isWellFormed()) return undefined;
  const len = Buffer.byteLength(s, "utf8"); // < 0x10000: at most 3 bytes per UTF-16 unit
  const head = len < 0x20 ? 1 : len < 0x100 ? 2 : 3;
  const out = Buffer.allocUnsafe(head + len);
  if (head === 1) {
    out[0] = 0xa0 | len;
  } else if (head === 2) {
    out[0] = 0xd9;
    out[1] = len;
  } else {
    out[0] = 0xda;
    out.writeUInt16BE(len, 1);
  }
  out.write(s, head, len === s.length ? "latin1" : "utf8");
  return out;
}

/**
 * Encode a value at once, or return undefined when it holds a dict handle that must be
 * resolved first (then use {@link encodeValue}). Saves a promise per value on bulk paths.
 */
export function encodeValueNow(value: unknown): Uint8Array | undefined {
  if (typeof value === "string") {
    const fast = packString(value);
    if (fast !== undefined) return fast;
  }
  checkValue(value);
  let bytes: Uint8Array;
  try {
    bytes = packr.pack(value);
  } catch (err) {
    if (err instanceof UnresolvedHandle) return undefined;
    throw new InvalidError(`invalid value: ${(err as Error).message}`, { cause: err });
  }
  checkValueBytes(bytes);
  return bytes;
}

/**
 * Encode a value. Handles not yet resolved are hydrated first (that is the only reason
 * this is async); everything else is synchronous.
 */
export async function encodeValue(value: unknown): Promise<Uint8Array> {
  const now = encodeValueNow(value);
  if (now !== undefined) return now;
  for (let attempt = 0; ; attempt++) {
    let bytes: Uint8Array;
    try {
      bytes = packr.pack(value);
    } catch (err) {
      if (err instanceof UnresolvedHandle && attempt < 1000) {
        await err.handle.hydrate();
        continue;
      }
      throw new InvalidError(`invalid value: ${(err as Error).message}`, { cause: err });
    }
    checkValueBytes(bytes);
    return bytes;
  }
}

/**
 * A value that is exactly one msgpack str of valid UTF-8, decoded directly (the common
 * value, and msgpackr's general reader costs several times more for it); undefined for
 * anything else, which msgpackr reads.
 */
export function unpackString(bytes: Uint8Array): string | undefined {
  const t = bytes[0];
  if (t === undefined) return undefined;
  let head: number;
  let len: number;
  if (t >= 0xa0 && t <= 0xbf) {
    head = 1;
    len = t & 0x1f;
  } else if (t === 0xd9 && bytes.length >= 2) {
    head = 2;
    len = bytes[1] as number;
  } else if (t === 0xda && bytes.length >= 3) {
    head = 3;
    len = ((bytes[1] as number) << 8) | (bytes[2] as number);
  } else {
    return undefined;
  }
  if (bytes.length !== head + len) return undefined;
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const body = buf.subarray(head);
  // Invalid UTF-8 is left to msgpackr, so both paths agree on every input.
  return isUtf8(body) ? body.toString("utf8") : undefined;
}

/** Decode a stored value; failures become a {@link DeserializationError} naming dict and key. */
export function decodeValue(bytes: Uint8Array, context: unknown, dict: string, key: unknown): unknown {
  const str = unpackString(bytes);
  if (str !== undefined) return str;
  const saved = decodeContext;
  decodeContext = { value: context };
  try {
    const { protoKeys } = scanValue(bytes);
    return protoKeys === undefined ? packr.unpack(bytes) : unpackWithProtoKeys(bytes, (b) => packr.unpack(b));
  } catch (err) {
    throw new DeserializationError(
      `could not deserialize the value of key ${describeKey(key)} in dict ${dict}: ${(err as Error).message}`,
      dict,
      key,
      { cause: err },
    );
  } finally {
    decodeContext = saved;
  }
}

/** A short printable form of a key for error messages. */
export function describeKey(key: unknown): string {
  try {
    const s = JSON.stringify(key, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(key);
  }
}
