/**
 * Whether key bytes from the wire are canonical (what encodeKey writes), checked in place:
 * a shard never builds a peer's key, so a key cannot make it allocate more than its bytes.
 */
import { isUtf8 } from "../encoding/is-utf8.js";
import { MAX_DEPTH, MAX_KEY_CONTAINERS, Tag } from "./key-tags.js";

/**
 * Check that bytes received off the wire are a canonical key: they decode and re-encode to
 * the same bytes. Shards call this so that no peer can store two spellings of one key.
 */
export function isCanonicalKey(bytes: Uint8Array): boolean {
  // String keys (nearly all of them) are checked in place, and so are the rest, without
  // building the key: a round trip would let any peer make the shard allocate a key's
  // worth of arrays and objects. The checker agrees with roundTrips on every input (a
  // property test compares them).
  if (bytes[0] === Tag.String) return isCanonicalString(bytes);
  const c: Cursor = { pos: 0, containers: 0 };
  return canonicalItem(bytes, c, 0) && c.pos === bytes.length;
}

interface Cursor {
  pos: number;
  containers: number;
}

/** A varint as the writer spells it (shortest form), or -1. */
function canonicalVarint(b: Uint8Array, c: Cursor): number {
  let n = 0;
  for (let shift = 0; shift <= 28; shift += 7) {
    const x = b[c.pos++];
    if (x === undefined) return -1;
    n += (x & 0x7f) * 2 ** shift;
    if (x < 0x80) return x === 0 && shift > 0 ? -1 : n;
  }
  return -1;
}

/** Whether the item at `c.pos` is in canonical form (what writeKey writes), advancing past it. */
function canonicalItem(b: Uint8Array, c: Cursor, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  const tag = b[c.pos++];
  switch (tag) {
    case Tag.Null:
    case Tag.False:
    case Tag.True:
      return true;
    case Tag.Number: {
      if (c.pos + 8 > b.length) return false;
      const at = c.pos;
      c.pos += 8;
      const hi = ((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number);
      const lo = ((b[at + 4] as number) << 24) | ((b[at + 5] as number) << 16) | ((b[at + 6] as number) << 8) | (b[at + 7] as number);
      if (hi === (0x80000000 | 0) && lo === 0) return false; // -0 is written as 0
      const nan = (hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) !== 0 || lo !== 0);
      return !nan || (hi === 0x7ff80000 && lo === 0); // one NaN
    }
    case Tag.BigInt: {
      const sign = b[c.pos++];
      if (sign !== 0 && sign !== 1) return false;
      const n = canonicalVarint(b, c);
      if (n < 1 || c.pos + n > b.length) return false;
      const first = b[c.pos] as number;
      c.pos += n;
      // Magnitude bytes without a leading zero; zero itself is one 0 byte, never negative.
      return n === 1 && first === 0 ? sign === 0 : first !== 0;
    }
    case Tag.String:
      return canonicalString(b, c) !== undefined;
    case Tag.Bytes: {
      const n = canonicalVarint(b, c);
      if (n < 0 || c.pos + n > b.length) return false;
      c.pos += n;
      return true;
    }
    case Tag.Array: {
      if (++c.containers > MAX_KEY_CONTAINERS) return false;
      const n = canonicalVarint(b, c);
      if (n < 0 || n > b.length - c.pos) return false;
      for (let i = 0; i < n; i++) if (!canonicalItem(b, c, depth + 1)) return false;
      return true;
    }
    case Tag.Object: {
      if (++c.containers > MAX_KEY_CONTAINERS) return false;
      const n = canonicalVarint(b, c);
      if (n < 0 || n > b.length - c.pos) return false;
      let prev: string | undefined;
      for (let i = 0; i < n; i++) {
        const name = canonicalString(b, c);
        // Names sorted as Array.prototype.sort does (UTF-16 code units), each once.
        if (name === undefined || (prev !== undefined && !(prev < name))) return false;
        prev = name;
        if (!canonicalItem(b, c, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** A length-prefixed well-formed UTF-8 string at `c.pos`, decoded, or undefined. */
function canonicalString(b: Uint8Array, c: Cursor): string | undefined {
  const n = canonicalVarint(b, c);
  if (n < 0 || c.pos + n > b.length) return undefined;
  const s = b.subarray(c.pos, c.pos + n);
  c.pos += n;
  return isUtf8(s) ? Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString("utf8") : undefined;
}

/**
 * `[String][minimal varint length][exactly that many bytes of UTF-8]`: `isUtf8` (simdutf,
 * no string built) rejects overlong forms and encoded surrogates, so valid bytes are the one
 * encoding of their string.
 */
function isCanonicalString(bytes: Uint8Array): boolean {
  let len = 0;
  let i = 1;
  for (let shift = 0; ; shift += 7) {
    if (i >= bytes.length || shift > 28) return false;
    const b = bytes[i++] as number;
    len += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) {
      if (b === 0 && shift > 0) return false; // not the shortest varint
      break;
    }
  }
  if (i + len !== bytes.length) return false;
  return isUtf8(bytes.subarray(i));
}
