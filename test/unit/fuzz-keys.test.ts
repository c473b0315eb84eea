/**
 * Fuzzing the canonical key encoding: every key round-trips to the same bytes (object keys
 * such as `__proto__` as own properties), the shard's in-place canonical check agrees with
 * a decode-and-encode round trip on any bytes, and decoding refuses with InvalidError only.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeKey, encodeKey, isCanonicalKey, MAX_KEY_CONTAINERS, roundTrips, type DictKey } from "../../src/protocol/keys.js";
import { InvalidError } from "../../src/errors.js";
import { FUZZ_TIMEOUT_MS, fuzzParams, mutated } from "../helpers/fuzz.js";

const name = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("__proto__", "constructor", "prototype", "0", "10", "é", "😀", "\uffff"));

function objectOf(entries: readonly (readonly [string, DictKey])[]): DictKey {
  const o: Record<string, DictKey> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const keys = fc.letrec<{ key: DictKey; array: DictKey[]; object: DictKey }>((tie) => ({
  key: fc.oneof(
    { depthSize: "small" },
    fc.string({ maxLength: 12, unit: "binary" }).filter((s) => s.isWellFormed()),
    fc.double(),
    fc.bigInt({ min: -(1n << 100n), max: 1n << 100n }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 6 }),
    tie("array"),
    tie("object"),
  ),
  array: fc.array(tie("key"), { maxLength: 4 }),
  object: fc.array(fc.tuple(name, tie("key")), { maxLength: 4 }).map(objectOf),
}));

const encoded = keys.key.map((k) => encodeKey(k));

const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/ /g, ""), "hex"));

describe("the in-place canonical check on edge cases", () => {
  it.each([
    ["-0", "03 8000000000000000", false],
    ["0", "03 0000000000000000", true],
    ["the canonical NaN", "03 7ff8000000000000", true],
    ["another NaN", "03 7ff8000000000001", false],
    ["a negative NaN", "03 fff8000000000000", false],
    ["-Infinity", "03 fff0000000000000", true],
    ["bigint 0", "04 00 01 00", true],
    ["bigint -0", "04 01 01 00", false],
    ["bigint 0 without bytes", "04 00 00", false],
    ["bigint with a leading zero byte", "04 00 02 0001", false],
    ["bigint -1", "04 01 01 01", true],
    ["bigint with sign byte 2", "04 02 01 01", false],
    ["a non-minimal varint", "06 8000", false],
    ["a 5-byte varint", "06 8080808000", false],
    ["an empty array", "07 00", true],
    ["sorted names", "08 02 0161 00 0162 00", true],
    ["unsorted names", "08 02 0162 00 0161 00", false],
    ["a repeated name", "08 02 0161 00 0161 00", false],
    // U+1F600 is the code units d83d de00: before U+FFFF in UTF-16, after it in UTF-8.
    ["names in UTF-16 order (U+1F600 before U+FFFF)", "08 02 04f09f9880 00 03efbfbf 00", true],
    ["names in UTF-8 order instead", "08 02 03efbfbf 00 04f09f9880 00", false],
    ["an invalid UTF-8 name", "08 01 01ff 00", false],
    ["trailing bytes", "00 00", false],
  ])("%s", (_what, h, canonical) => {
    const b = hex(h);
    expect(isCanonicalKey(b)).toBe(canonical);
    expect(roundTrips(b)).toBe(canonical);
  });

  it("nesting: 33 arrays deep is the limit; containers past the cap are refused", () => {
    const nested = (n: number) => Uint8Array.from([...new Array<number>(n).fill(0).flatMap(() => [7, 1]), 0]);
    expect(isCanonicalKey(nested(32))).toBe(true);
    expect(isCanonicalKey(nested(33))).toBe(false);
    expect(roundTrips(nested(33))).toBe(false);
    const wide = (n: number) => Uint8Array.from([7, ...varint(n), ...new Array<number>(n).fill(0).flatMap(() => [7, 0])]);
    expect(isCanonicalKey(wide(MAX_KEY_CONTAINERS - 1))).toBe(true);
    expect(isCanonicalKey(wide(MAX_KEY_CONTAINERS))).toBe(false);
    expect(() => decodeKey(wide(MAX_KEY_CONTAINERS))).toThrow(InvalidError);
    expect(() => encodeKey(new Array(MAX_KEY_CONTAINERS).fill([]))).toThrow(InvalidError);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

describe("fuzz: keys", () => {
  it(
    "every key encodes canonically and decodes to the same bytes, __proto__ as an own key",
    () => {
      fc.assert(
        fc.property(keys.key, (k) => {
          const bytes = encodeKey(k);
          expect(isCanonicalKey(bytes)).toBe(true);
          const back = decodeKey(bytes);
          expect(Buffer.from(encodeKey(back)).equals(Buffer.from(bytes))).toBe(true);
          expect(({} as Record<string, unknown>).constructor).toBe(Object);
        }),
        fuzzParams(2),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "the in-place canonical check agrees with a round trip on any bytes; decoding throws InvalidError only",
    () => {
      const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), mutated(encoded), fc.uint8Array({ maxLength: 20 }).map((b) => Uint8Array.from([7, 2, ...b])));
      fc.assert(
        fc.property(bytes, (b) => {
          expect(isCanonicalKey(b)).toBe(roundTrips(b));
          try {
            decodeKey(b);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidError);
          }
        }),
        fuzzParams(8),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
