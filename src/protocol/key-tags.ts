/** The canonical key encoding's type tags and limits (keys.ts writes and reads it, key-check.ts checks it). */

export const Tag = {
  Null: 0x00,
  False: 0x01,
  True: 0x02,
  Number: 0x03,
  BigInt: 0x04,
  String: 0x05,
  Bytes: 0x06,
  Array: 0x07,
  Object: 0x08,
} as const;

/** Nesting beyond this is refused: it protects both sides from stack exhaustion. */
export const MAX_DEPTH = 32;

/**
 * Arrays and objects one key may hold. An empty array is two bytes but ~40 bytes decoded:
 * this bounds what decoding a key (the SDK iterating keys) allocates, whatever its length.
 */
export const MAX_KEY_CONTAINERS = 1 << 16;
