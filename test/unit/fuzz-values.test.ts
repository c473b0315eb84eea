/**
 * Fuzzing the value codec: every value the SDK can store comes back exactly (own
 * `__proto__`, `constructor` and `prototype` keys and key order included, shapes repeated
 * often enough for msgpackr to compile their records, shared references), and any bytes a
 * reader is handed decode or fail with a DeserializationError, never anything else. What
 * the shard's check accepts, msgpackr reads to its end.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeValue, encodeValueNow } from "../../src/client/value-codec.js";
// The SDK registers its Dict handle extension (type 42) when dict.ts loads: as in any SDK.
import "../../src/client/dict.js";
import { checkValueBytes } from "../../src/protocol/value-check.js";
import { DeserializationError, InvalidError, RequestSizeError } from "../../src/errors.js";
import { dump } from "../helpers/value-dump.js";
import { FUZZ_TIMEOUT_MS, fuzzParams, msgpackSoup, mutated } from "../helpers/fuzz.js";

const key = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("__proto__", "constructor", "prototype", "__proto_", "toString", "0", "10"));
const leaf = fc.oneof(
  fc.string({ maxLength: 20, unit: "binary" }).filter((s) => s.isWellFormed()),
  // msgpackr writes -0 as the integer 0 (the codec never kept it): not generated.
  fc.double().map((x) => (Object.is(x, -0) ? 0 : x)),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt({ min: -(1n << 200n), max: 1n << 200n }),
  fc.date(),
  fc.uint8Array({ maxLength: 8 }),
  fc.float64Array({ maxLength: 3 }),
  fc.bigInt64Array({ maxLength: 2 }),
  fc.int16Array({ maxLength: 3 }),
  fc.uint8Array({ maxLength: 6 }).map((b) => b.slice().buffer),
  fc.uint8Array({ maxLength: 6 }).map((b) => new DataView(b.slice().buffer)),
  fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(Error, TypeError, RangeError)).map(([m, E]) => new E(m)),
  fc.constantFrom(/a+b/gi, /x/, /[\]\/]/u),
);

function objectOf(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const tree = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown>; map: Map<unknown, unknown>; set: Set<unknown>; shapes: unknown[] }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object"), tie("map"), tie("set"), tie("shapes")),
  array: fc.array(tie("value"), { maxLength: 5 }),
  object: fc.array(fc.tuple(key, tie("value")), { maxLength: 5 }).map(objectOf),
  map: fc.array(fc.tuple(fc.oneof(key, fc.integer()), tie("value")), { maxLength: 4 }).map((e) => new Map(e)),
  set: fc.array(tie("value"), { maxLength: 4 }).map((x) => new Set(x)),
  // Objects of one shape, four times or more: msgpackr compiles a reader for their record.
  shapes: fc
    .tuple(fc.uniqueArray(key, { maxLength: 4 }), fc.integer({ min: 4, max: 6 }))
    .chain(([keys, n]) => fc.array(fc.array(leaf, { minLength: keys.length, maxLength: keys.length }), { minLength: n, maxLength: n }).map((rows) => rows.map((row) => objectOf(keys.map((k, i) => [k, row[i]] as const))))),
}));


const encoded = tree.value.map((v) => encodeValueNow(v) as Uint8Array);

describe("fuzz: values", () => {
  it(
    "every value round-trips exactly, shared references and __proto__ keys included",
    () => {
      fc.assert(
        fc.property(tree.value, (v) => {
          const pair = [v, v]; // the same value twice: a shared reference when it is an object
          const back = decodeValue(encodeValueNow(pair) as Uint8Array, undefined, "d", "k");
          expect(dump(back)).toBe(dump(pair));
          expect(({} as Record<string, unknown>).constructor).toBe(Object);
        }),
        fuzzParams(2),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "any bytes: a value or a DeserializationError; the put check refuses with typed errors only",
    () => {
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 100 }), msgpackSoup, mutated(encoded)), (b) => {
          let accepted = true;
          try {
            checkValueBytes(b);
          } catch (err) {
            accepted = false;
            expect(err instanceof InvalidError || err instanceof RequestSizeError).toBe(true);
          }
          try {
            decodeValue(b, undefined, "d", "k");
          } catch (err) {
            expect(err).toBeInstanceOf(DeserializationError);
            // What the check accepts, msgpackr reads to its end: any failure left is about
            // meaning (a reference to no object, a bad RegExp…), never about where values end.
            if (accepted) expect((err as Error).message).not.toMatch(/Unexpected end|end of buffer not reached|Unknown extension|Record id is not defined/);
          }
        }),
        fuzzParams(6),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
