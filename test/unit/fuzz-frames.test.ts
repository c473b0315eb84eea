/**
 * Fuzzing the frame decoders a peer reaches (msgpack frames and batches, the binary form
 * with embedded msgpack, replication items from nodes and from clients): any input decodes to valid frames within the
 * bounds or is refused (null: the socket closes; or a problem item answered with INVALID),
 * never an exception out of `decodeMessage`, never a hang. Valid frames round-trip, and
 * whatever the scanner accepts, msgpackr reads to the same end.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { decodeMessage, encodeFrames, readMessage } from "../../src/protocol/codec.js";
import type { Frame } from "../../src/protocol/frames.js";
import { FRAME_RULES } from "../../src/encoding/decode-limits.js";
import { ObjectBudget } from "../../src/encoding/decode-budget.js";
import { scanMsgpack } from "../../src/encoding/msgpack-bounds.js";
import { FUZZ_TIMEOUT_MS, fuzzParams, msgpackSoup, mutated } from "../helpers/fuzz.js";

const framePackr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

const rid = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));
const dict = fc.string({ minLength: 4, maxLength: 20, unit: "grapheme-ascii" });
const part = fc.nat(65535);
const epoch = fc.nat(1000);
// msgpackr writes -0 as the integer 0 (frames never relied on it): doubles without -0.
const double = (c: fc.DoubleConstraints = {}) => fc.double(c).map((x) => x + 0);
const mutation = fc.oneof(
  fc.record({ op: fc.constant("set" as const), part, dict, gen: fc.nat(5), key: bytes, value: bytes, deadline: double({ noNaN: true, noDefaultInfinity: true }), ver: fc.maxSafeNat(), ttl: fc.nat() }),
  fc.record({ op: fc.constant("delete" as const), part, dict, gen: fc.nat(5), key: bytes, ver: fc.maxSafeNat() }),
  fc.record({ op: fc.constant("clear" as const), part, dict, gen: fc.nat(5), ver: fc.maxSafeNat() }),
  fc.record({ op: fc.constant("reset" as const), part, ver: fc.maxSafeNat() }),
  fc.record({ op: fc.constant("dedup" as const), id: fc.string({ maxLength: 30 }), at: fc.nat(), answer: fc.record({ r: fc.oneof(fc.boolean(), fc.nat(), bytes) }), part }),
  fc.record({ op: fc.constant("floors" as const), part, floors: fc.array(fc.record({ client: fc.string({ minLength: 1, maxLength: 20 }), below: fc.maxSafeNat(), at: fc.nat() }), { maxLength: 3 }) }),
);

/** Frames of every shape the data path and its neighbours send. */
const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant("hello" as const), rid, v: fc.constant(1), clientId: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ type: fc.constantFrom("get" as const, "contains" as const, "pop" as const, "del" as const), rid, dict, part, epoch, key: bytes }),
  fc.record({ type: fc.constant("put" as const), rid, dict, part, epoch, key: bytes, value: bytes, ifAbsent: fc.boolean() }),
  fc
    .array(fc.record({ part, keys: fc.array(bytes, { maxLength: 5 }) }), { minLength: 1, maxLength: 4 })
    .chain((groups) => fc.record({ type: fc.constant("updateParts" as const), rid, op: rid, dict, epoch, parts: fc.constant(groups.map((g) => ({ part: g.part, keys: g.keys, values: g.keys }))) })),
  fc.record({ type: fc.constant("replb" as const), rid, items: fc.array(fc.record({ part, pepoch: epoch, muts: fc.array(mutation, { maxLength: 4 }) }), { minLength: 1, maxLength: 4 }) }),
  fc.record({ type: fc.constant("ok" as const), rid, result: fc.oneof(fc.boolean(), double(), bytes, fc.constant(null), fc.array(fc.string(), { maxLength: 4 })) }),
  fc.record({ type: fc.constant("ok" as const), rid }),
  fc.record({ type: fc.constant("err" as const), rid, code: fc.constantFrom("INVALID", "KEY_ERROR"), message: fc.string({ maxLength: 50 }) }),
  fc.record({ type: fc.constant("len" as const), rid, dict, epoch, parts: fc.array(part, { maxLength: 8 }) }),
) as fc.Arbitrary<Frame>;

const batch = fc.array(frame, { minLength: 1, maxLength: 8 });
const msgpackMessage = batch.map((fs) => encodeFrames(fs.length === 1 ? (fs[0] as Frame) : fs));
const binaryMessage = batch.map((fs) => encodeFrames(fs, true));

/** Byte fields as plain arrays, numbers as they compare (so both decoders' results match). */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** What a peer does with a decoded message, checked for sense. */
function checkOutcome(b: Uint8Array, node = true): void {
  const items = decodeMessage(b, { node });
  if (items === null) {
    // Refused as a whole: readMessage says why, with an Error.
    let err: unknown;
    try {
      readMessage(b, { node });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message.length).toBeGreaterThan(0);
    return;
  }
  expect(items.length).toBeGreaterThan(0);
  for (const it of items) {
    if (it.ok) expect(typeof it.frame.type).toBe("string");
    else {
      expect(it.problem.code).toBe("INVALID");
      expect(it.problem.message.length).toBeGreaterThan(0);
      if (it.problem.rid !== undefined) expect(Number.isSafeInteger(it.problem.rid) && it.problem.rid >= 0).toBe(true);
    }
  }
}

describe("fuzz: frames", () => {
  it(
    "valid frames round-trip in both forms",
    () => {
      fc.assert(
        fc.property(batch, (fs) => {
          const expected = plain(fs);
          for (const binary of [false, true]) {
            const items = decodeMessage(encodeFrames(fs, binary));
            expect(items?.every((it) => it.ok)).toBe(true);
            expect(items?.map((it) => (it.ok ? plain(it.frame) : it))).toEqual(expected);
          }
        }),
        fuzzParams(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "any bytes: decoded within the bounds or refused, never an exception",
    () => {
      const hostile = fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        msgpackSoup,
        mutated(msgpackMessage),
        mutated(binaryMessage),
        msgpackSoup.map((b) => Uint8Array.from([0x92, 0x80, ...b])),
        // A binary message embedding hostile msgpack, and a replication item with a hostile body.
        msgpackSoup.map((b) => Uint8Array.from([0xc1, 0, ...u32le(b.length), ...b])),
        msgpackSoup.map((b) => Uint8Array.from([0xc1, 7, ...new Array<number>(18).fill(0), ...u32le(b.length + 1), 0xc1, ...b])),
      );
      fc.assert(
        fc.property(hostile, fc.boolean(), (b, node) => checkOutcome(b, node)),
        fuzzParams(6),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "what the scanner accepts, msgpackr reads exactly to its end",
    () => {
      fc.assert(
        fc.property(fc.oneof(msgpackSoup, mutated(msgpackMessage)), (b) => {
          let scan;
          try {
            scan = scanMsgpack(b, FRAME_RULES, new ObjectBudget(1 << 20, "a message"));
          } catch {
            return;
          }
          if (scan.refused !== undefined) return;
          try {
            framePackr.unpack(b);
          } catch (err) {
            // A map key msgpackr will not turn into a property name is its only refusal left.
            expect((err as Error).message).toMatch(/Invalid property type/);
          }
        }),
        fuzzParams(6),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "frames decode the same from a client (everything under the message's budget) as from a node",
    () => {
      fc.assert(
        fc.property(batch, (fs) => {
          const b = encodeFrames(fs, true);
          const fromClient = decodeMessage(b, { node: false })?.map((it) => (it.ok ? plain(it.frame) : it));
          expect(fromClient).toEqual(decodeMessage(b, { node: true })?.map((it) => (it.ok ? plain(it.frame) : it)));
        }),
        fuzzParams(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
