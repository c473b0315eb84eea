/**
 * MurmurHash3 (x86, 32-bit). Stable across processes and platforms, fast on short keys,
 * and well mixed, which is all placement needs (it is not a defence against chosen keys).
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixTail(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  return h ^ k;
}

function fmix(h: number, len: number): number {
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The murmur3 body and tail rounds over `bytes`. */
function update(h: number, bytes: Uint8Array): number {
  const len = bytes.length;
  const blocks = len & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= (bytes[blocks + 2] as number) << 16;
    if (tail >= 2) k ^= (bytes[blocks + 1] as number) << 8;
    k ^= bytes[blocks] as number;
    h = mixTail(h, k);
  }
  return h;
}

/** murmur3_32 of a byte string. */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  return fmix(update(seed | 0, bytes), bytes.length);
}

/** murmur3_32 of a UTF-8 string. */
export function hashString(s: string, seed = 0): number {
  return murmur3(Buffer.from(s, "utf8"), seed);
}

const dictSeeds = new Map<string, number>();

/**
 * The partition of a key: `hash(dictId, keyBytes) mod partitions`. The dict id seeds the
 * hash of the key bytes, so the same key in two dicts lands on unrelated partitions.
 */
export function partitionOf(dictId: string, keyBytes: Uint8Array, partitions: number): number {
  let seed = dictSeeds.get(dictId);
  if (seed === undefined) {
    seed = hashString(dictId);
    if (dictSeeds.size > 10_000) dictSeeds.clear();
    dictSeeds.set(dictId, seed);
  }
  return murmur3(keyBytes, seed) % partitions;
}
