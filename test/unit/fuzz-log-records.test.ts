/**
 * Fuzzing the log's decoders: record bodies (also what a replication frame carries) and
 * whole segment and snapshot files. Valid batches round-trip; a hostile body, even behind
 * valid checksums, decodes within its bounds or throws, and reading a file either returns
 * its batches or refuses it as corrupt (CorruptStorageError), never anything else.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { pack } from "msgpackr";
import { decodeBody, encodeBody, encodeTrailer, frameRecord, HEADER } from "../../src/encoding/log-record.js";
import { fileHeader, KIND_SEGMENT, KIND_SNAPSHOT, scanFile } from "../../src/store/log-file.js";
import { CorruptStorageError } from "../../src/store/storage-errors.js";
import type { Mutation } from "../../src/store/storage-engine.js";
import { FUZZ_TIMEOUT_MS, fuzzParams, msgpackSoup, mutated } from "../helpers/fuzz.js";

const bytes = fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b));
const dict = fc.string({ minLength: 4, maxLength: 12 });
const part = fc.nat(65535);
const gen = fc.oneof(fc.nat(10), fc.constant(2 ** 40));
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // (msgpackr writes -0 as 0: the packed layout never kept it.)
  fc.record({ op: fc.constant("set" as const), part, dict, gen, key: bytes, value: bytes, deadline: fc.double({ noNaN: true }).map((x) => x + 0), ver: fc.maxSafeNat(), ttl: fc.nat() }),
  fc.record({ op: fc.constant("delete" as const), part, dict, gen, key: bytes, ver: fc.maxSafeNat() }),
  fc.record({ op: fc.constant("clear" as const), part, dict, gen }),
  fc.record({ op: fc.constant("addDict" as const), dict }),
  fc.record({ op: fc.constant("dedup" as const), id: fc.string({ maxLength: 40 }), at: fc.nat(), answer: fc.oneof(fc.record({ r: fc.oneof(fc.boolean(), fc.nat(), bytes) }), fc.record({ code: fc.constant("KEY_ERROR"), message: fc.string() })), part }),
);
const batch = fc.array(mutation, { maxLength: 8 });
const body = batch.map((muts) => encodeBody(muts));
/** Older bodies: one msgpack array of mutations. */
const oldBody = batch.filter((m) => m.length > 0).map((muts) => Buffer.from(pack(muts)));

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** A record around `b`, with valid checksums: hostile bodies reach the decoder. */
function record(b: Uint8Array): Buffer {
  const out = Buffer.alloc(HEADER + b.length);
  out.set(b, HEADER);
  return frameRecord(out);
}

function file(kind: number, bodies: readonly Uint8Array[]): Buffer {
  const parts = [fileHeader(kind), ...bodies.map(record)];
  if (kind === KIND_SNAPSHOT) parts.push(encodeTrailer(bodies.length));
  return Buffer.concat(parts);
}

describe("fuzz: log records and files", () => {
  it(
    "batches round-trip through a body, in the current and the older layout",
    () => {
      fc.assert(
        fc.property(batch, (muts) => {
          expect(plain(decodeBody(encodeBody(muts)))).toEqual(plain(muts));
          if (muts.length > 0) expect(plain(decodeBody(Buffer.from(pack(muts))))).toEqual(plain(muts));
        }),
        fuzzParams(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "any body decodes within its bounds or throws an Error",
    () => {
      const hostile = fc.oneof(fc.uint8Array({ maxLength: 120 }), msgpackSoup, mutated(body), mutated(oldBody), msgpackSoup.map((b) => Uint8Array.from([0xc1, 3, ...u32le(b.length), ...b])));
      fc.assert(
        fc.property(hostile, (b) => {
          try {
            decodeBody(Buffer.from(b));
          } catch (err) {
            expect(err).toBeInstanceOf(Error);
          }
        }),
        fuzzParams(6),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "segments and snapshots (hostile bodies behind valid checksums, or damaged files): read or refused as corrupt",
    () => {
      const bodies = fc.array(fc.oneof(body, mutated(body), msgpackSoup), { maxLength: 4 });
      const files = fc.oneof(
        fc.tuple(fc.constantFrom(KIND_SEGMENT, KIND_SNAPSHOT), bodies).map(([kind, bs]) => file(kind, bs)),
        mutated(fc.tuple(fc.constantFrom(KIND_SEGMENT, KIND_SNAPSHOT), fc.array(body, { maxLength: 3 })).map(([kind, bs]) => file(kind, bs))),
      );
      fc.assert(
        fc.property(files, fc.constantFrom(KIND_SEGMENT, KIND_SNAPSHOT), fc.boolean(), (f, kind, newest) => {
          try {
            const scanned = scanFile(Buffer.from(f), "fuzz.log", kind, newest);
            expect(scanned.batches.length).toBe(scanned.records);
          } catch (err) {
            expect(err).toBeInstanceOf(CorruptStorageError);
          }
        }),
        fuzzParams(4),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
