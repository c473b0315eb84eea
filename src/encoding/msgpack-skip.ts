/**
 * Reading msgpack by its structure alone, without rules or decoding: where a value ends
 * (to step over a frame refused for its content) and a frame's `rid` (to answer it).
 */
import { DecodeLimitError } from "./decode-budget.js";

/** Big-endian reads, as msgpack writes lengths. */
export const u16 = (b: Uint8Array, at: number): number => ((b[at] as number) << 8) | (b[at + 1] as number);
export const u32 = (b: Uint8Array, at: number): number => (b[at] as number) * 0x1000000 + (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number));

/**
 * Where the msgpack value at `pos` ends, by its structure alone (no rules: used to step
 * over a refused frame). Throws a `format` {@link DecodeLimitError} for bytes that are
 * not a value. One counter of pending items, so any nesting costs no memory.
 */
export function skipValue(b: Uint8Array, pos: number, end: number): number {
  let pending = 1;
  const fail = () => new DecodeLimitError("format", "not valid msgpack: it ends in the middle of a value");
  while (pending > 0) {
    if (pos >= end) throw fail();
    const t = b[pos++] as number;
    pending--;
    let len = 0;
    if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc1 || t === 0xc2 || t === 0xc3) continue;
    if (t < 0x90) {
      pending += 2 * (t & 0x0f);
      continue;
    }
    if (t < 0xa0) {
      pending += t & 0x0f;
      continue;
    }
    if (t < 0xc0) {
      len = t & 0x1f;
    } else if (t === 0xdc || t === 0xdd || t === 0xde || t === 0xdf) {
      const size = t === 0xdc || t === 0xde ? 2 : 4;
      if (pos + size > end) throw fail();
      const n = size === 2 ? u16(b, pos) : u32(b, pos);
      pos += size;
      pending += t >= 0xde ? 2 * n : n;
      if (pending > end - pos) throw fail();
      continue;
    } else if (t >= 0xd4 && t <= 0xd8) {
      len = 1 + (1 << (t - 0xd4));
    } else if (t === 0xc7 || t === 0xc8 || t === 0xc9) {
      const size = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4;
      if (pos + size > end) throw fail();
      len = 1 + (size === 1 ? (b[pos] as number) : size === 2 ? u16(b, pos) : u32(b, pos));
      pos += size;
    } else if (t === 0xc4 || t === 0xc5 || t === 0xc6 || t === 0xd9 || t === 0xda || t === 0xdb) {
      const size = t === 0xc4 || t === 0xd9 ? 1 : t === 0xc5 || t === 0xda ? 2 : 4;
      if (pos + size > end) throw fail();
      len = size === 1 ? (b[pos] as number) : size === 2 ? u16(b, pos) : u32(b, pos);
      pos += size;
    } else {
      // Fixed-size numbers: ca/ce/d2 4 bytes, cb/cf/d3 8, cc/d0 1, cd/d1 2.
      len = t === 0xca || t === 0xce || t === 0xd2 ? 4 : t === 0xcb || t === 0xcf || t === 0xd3 ? 8 : t === 0xcc || t === 0xd0 ? 1 : 2;
    }
    pos += len;
    if (pos > end) throw fail();
  }
  return pos;
}

/**
 * The `rid` of the msgpack map at `[start, end)` (a frame refused for its content), read
 * without decoding the rest, or undefined when it is not a map or has no numeric `rid`.
 */
export function ridAt(b: Uint8Array, start: number, end: number): number | undefined {
  const t = b[start] as number;
  let n: number;
  let pos: number;
  if (t >= 0x80 && t <= 0x8f) {
    n = t & 0x0f;
    pos = start + 1;
  } else if (t === 0xde && start + 3 <= end) {
    n = u16(b, start + 1);
    pos = start + 3;
  } else if (t === 0xdf && start + 5 <= end) {
    n = u32(b, start + 1);
    pos = start + 5;
  } else {
    return undefined;
  }
  const view = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < n && pos < end; i++) {
    const isRid = b[pos] === 0xa3 && b[pos + 1] === 0x72 && b[pos + 2] === 0x69 && b[pos + 3] === 0x64;
    pos = skipValue(b, pos, end);
    if (!isRid) {
      pos = skipValue(b, pos, end);
      continue;
    }
    const v = b[pos] as number;
    if (v < 0x80) return v;
    if (pos + 9 > end && v !== 0xcc && v !== 0xcd && v !== 0xce) return undefined;
    switch (v) {
      case 0xcc:
        return b[pos + 1];
      case 0xcd:
        return pos + 3 <= end ? u16(b, pos + 1) : undefined;
      case 0xce:
        return pos + 5 <= end ? u32(b, pos + 1) : undefined;
      case 0xcf:
        return u32(b, pos + 1) * 0x100000000 + u32(b, pos + 5);
      case 0xcb:
        return view.readDoubleBE(pos + 1);
      default:
        return undefined;
    }
  }
  return undefined;
}
