/**
 * Shared pieces of the fuzz tests (test/unit/fuzz-*.test.ts): fast-check parameters with a
 * fixed seed (`npm test` runs a short fuzz, `npm run fuzz` a long one: FUZZ_RUNS, FUZZ_SEED),
 * byte-level mutations of valid encodings, and a soup of msgpack tokens chosen to hit what
 * decoders must refuse (lying lengths, records, every extension type, deep nesting).
 */
import fc from "fast-check";

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_611);

/** Parameters of one property: `weight` scales the number of runs (cheap properties get more). */
export function fuzzParams(weight = 1): fc.Parameters<unknown> {
  return { seed: SEED, numRuns: Math.max(1, Math.round(RUNS * weight)), endOnFailure: true };
}

/** A long fuzz (npm run fuzz) needs more time per test than vitest's default. */
export const FUZZ_TIMEOUT_MS = Math.max(60_000, RUNS * 200);

type Mutation = { kind: "set" | "len" | "cut" | "insert" | "dup"; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("set", "len", "cut", "insert", "dup"),
  at: fc.nat(),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }),
}) as fc.Arbitrary<Mutation>;

function apply(input: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(input);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case "set":
        b[at] = m.bytes[0] as number;
        break;
      case "len": // a length that lies: all ones, or a random 32-bit value
        for (let i = 0; i < 4 && at + i < b.length; i++) b[at + i] = m.bytes.length > 3 ? 0xff : (m.bytes[i % m.bytes.length] as number);
        break;
      case "cut":
        b = b.subarray(0, at);
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case "dup":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + 16), b.subarray(at)]);
        break;
    }
  }
  return b;
}

/** Valid encodings from `valid`, with up to four byte-level mutations each. */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([b, muts]) => apply(b, muts));
}

const u16 = (n: number) => [(n >>> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const smallOrHuge = fc.oneof(fc.nat(20), fc.constantFrom(0xffff, 0xffffffff, 1_000_000, 104_000_000));
const extType = fc.oneof(fc.constantFrom(0x00, 0x42, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0xff, 42), fc.nat(255));

/** One msgpack token (a header and maybe a payload), often hostile. */
const token: fc.Arbitrary<readonly number[]> = fc.oneof(
  fc.nat(0xff).map((b) => [b]),
  fc.nat(15).map((n) => [0x80 | n]),
  fc.nat(15).map((n) => [0x90 | n]),
  smallOrHuge.map((n) => [0xdc, ...u16(n & 0xffff)]),
  smallOrHuge.map((n) => [0xdd, ...u32(n)]),
  smallOrHuge.map((n) => [0xdf, ...u32(n)]),
  fc.string({ maxLength: 12 }).map((s) => [0xa0 | Math.min(31, Buffer.byteLength(s)), ...Buffer.from(s).subarray(0, 31)]),
  fc.constant([0xa9, ...Buffer.from("__proto__")]),
  fc.uint8Array({ maxLength: 8 }).map((b) => [0xc4, b.length, ...b]),
  fc.tuple(fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8), extType, fc.uint8Array({ minLength: 16, maxLength: 16 })).map(([t, type, b]) => [t, type, ...b.subarray(0, 1 << (t - 0xd4))]),
  fc.tuple(extType, smallOrHuge, fc.uint8Array({ maxLength: 8 })).map(([type, n, b]) => [0xc9, ...u32(n), type, ...b]),
  fc.nat(0x3f).map((id) => [0xd4, 0x72, 0x40 | id]),
  fc.nat(0x3f).map((id) => [0x40 | id]),
  fc.constantFrom([0xc1], [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], [0xce, 0xff, 0xff, 0xff, 0xff], [0xcf, 0, 0, 0, 0, 0, 0, 0, 1]),
);

/** A soup of msgpack tokens: mostly structured, often lying, sometimes deeply nested. */
export const msgpackSoup: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.array(token, { maxLength: 40 }).map((ts) => Uint8Array.from(ts.flat())),
  fc.nat(400).map((depth) => Uint8Array.from([...new Array<number>(depth).fill(0x91), 0xc0])),
);
