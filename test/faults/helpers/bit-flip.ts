/**
 * Corruption helpers for the on-disk log: each one damages a file the way real hardware or a
 * crash can (a flipped bit, a torn or zeroed page, a preallocated tail, a lost tail), so tests can
 * check that recovery detects the damage instead of serving bad data. All are synchronous and
 * touch only the bytes named.
 */
import { closeSync, fstatSync, openSync, readSync, truncateSync, writeSync } from "node:fs";
import { mulberry32 } from "../../helpers/prng.js";

/** Flips bit `bit` (0 = least significant) of the byte at `offset`; returns the byte before and after. */
export function flipBit(file: string, offset: number, bit: number): { before: number; after: number } {
  if (!Number.isInteger(bit) || bit < 0 || bit > 7) throw new RangeError(`bit must be 0..7, got ${bit}`);
  const fd = openSync(file, "r+");
  try {
    const size = fstatSync(fd).size;
    if (!Number.isInteger(offset) || offset < 0 || offset >= size) {
      throw new RangeError(`offset ${offset} is outside ${file} (${size} bytes)`);
    }
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    const before = b[0] ?? 0;
    b[0] = before ^ (1 << bit);
    writeSync(fd, b, 0, 1, offset);
    return { before, after: b[0] };
  } finally {
    closeSync(fd);
  }
}

/** Overwrites `length` bytes from `from` with zeros, like a torn or never-written page (extends the file if the range runs past its end). */
export function zeroFill(file: string, from: number, length: number): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, Buffer.alloc(length), 0, length, from);
  } finally {
    closeSync(fd);
  }
}

/**
 * Appends `n` zero bytes, like space a file system allocated but a crash left unwritten. Real
 * zeros are written (not a hole from ftruncate), so they take space like a real tail would.
 */
export function appendZeros(file: string, n: number): void {
  const fd = openSync(file, "a");
  try {
    writeSync(fd, Buffer.alloc(n));
  } finally {
    closeSync(fd);
  }
}

/** Cuts the file to `size` bytes, like a tail lost in a crash before it was synced. */
export function truncateTo(file: string, size: number): void {
  truncateSync(file, size);
}

/** A deterministic offset in [0, size) for `seed` (mulberry32 from test/helpers/prng.ts), so a failing case can be replayed. */
export function randomOffset(seed: number, size: number): number {
  if (!(size > 0)) throw new RangeError(`size must be > 0, got ${size}`);
  return Math.floor(mulberry32(seed)() * size);
}
