/**
 * The log's record format: binary sets and deletes, everything else as msgpack inside the
 * batch, and bodies written by the older all-msgpack format still read back.
 */
import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { decodeBody, encodeRecord, HEADER, RECORD_MAGIC, RECORD_VERSION, headerChecksum, bodyChecksum } from "../../src/encoding/log-record.js";
import type { Mutation } from "../../src/store/storage-engine.js";

const b = (s: string) => new Uint8Array(Buffer.from(s));

/** Compare with keys and values as plain byte arrays (decoding gives Buffer views). */
function plain(muts: Mutation[]): unknown[] {
  return muts.map((m) => {
    const o: Record<string, unknown> = { ...m };
    for (const f of ["key", "value"]) if (o[f] instanceof Uint8Array) o[f] = [...(o[f] as Uint8Array)];
    return o;
  });
}

/** A record's body, after checking its header: magic, version, length, and a checksum over both. */
function body(record: Buffer): Buffer {
  expect(record[0]).toBe(RECORD_MAGIC);
  expect(record[1]).toBe(RECORD_VERSION);
  expect(record.readUInt32LE(4)).toBe(record.length - HEADER);
  const body = record.subarray(HEADER);
  expect(record.readUInt32LE(8)).toBe(headerChecksum(record));
  expect(record.readUInt32LE(12)).toBe(bodyChecksum(body));
  return body;
}

describe("log records", () => {
  const muts: Mutation[] = [
    { op: "set", part: 65535, dict: "dict-é✓-id", gen: 4294967295, key: b("\xa3abc"), value: b("v".repeat(300)), deadline: 1_790_000_000_123.5, ver: 9_007_199_254_740_991, ttl: 1234 },
    { op: "delete", part: 0, dict: "d1234", gen: 0, key: b("k"), ver: 77 },
    { op: "set", part: 7, dict: "d1234", gen: 2, key: new Uint8Array(0), value: new Uint8Array(0), deadline: 0, ver: 0, ttl: 0 },
    { op: "clear", part: 3, dict: "d1234", gen: 9 },
    { op: "addDict", dict: "d1234" },
    { op: "dedup", id: "client:12", at: 5, answer: { r: true }, part: 3 },
    { op: "dedup", id: "client:13/7", at: 1_790_000_000_000, answer: { r: Buffer.from([1, 2, 3]) } },
    { op: "dedup", id: "c:1", at: 6, answer: { c: "KEY_ERROR", m: "key not found" }, memoryOnly: true, part: 0 },
    // A client id of multi-byte characters (its length in bytes is not its length in characters), and the other packed-once answer.
    { op: "dedup", id: "clïent-✓:14", at: 7, answer: { r: false }, part: 2 },
    { op: "dedup", id: "c:15", at: 8, answer: { r: null }, part: 2 },
    // Numbers the binary layout cannot hold travel as msgpack.
    { op: "set", part: 1, dict: "d1234", gen: 2 ** 40, key: b("big"), value: b("x"), deadline: 1, ver: 3, ttl: 5 },
  ];

  it("round-trips every kind of mutation, in order", () => {
    expect(plain(decodeBody(body(encodeRecord(muts))))).toEqual(plain(muts));
  });

  it("answers packed once are the bytes msgpack gives them", () => {
    const one = (answer: unknown) => body(encodeRecord([{ op: "dedup", id: "c:1", at: 1, answer, part: 0 }]));
    for (const r of [true, false]) expect(one({ r }).subarray(-pack({ r }).length)).toEqual(Buffer.from(pack({ r })));
  });

  it("reads bodies of the older all-msgpack format", () => {
    expect(plain(decodeBody(Buffer.from(pack(muts))))).toEqual(plain(muts));
  });

  it("the header has its own checksum: a flipped bit in the length or flags is caught", () => {
    const rec = encodeRecord(muts);
    for (const at of [2, 4, 5]) {
      const bad = Buffer.from(rec);
      bad[at] = (bad[at] as number) ^ 1;
      expect(headerChecksum(bad)).not.toBe(bad.readUInt32LE(8));
    }
  });

  it("an empty batch is a valid record", () => {
    expect(decodeBody(body(encodeRecord([])))).toEqual([]);
  });

  it("refuses a binary body with an unknown item, or one that runs past its end", () => {
    const good = body(encodeRecord(muts.slice(0, 1)));
    const unknown = Buffer.from(good);
    unknown[1] = 99;
    expect(() => decodeBody(unknown)).toThrow(/unknown log item/);
    expect(() => decodeBody(good.subarray(0, good.length - 10))).toThrow();
  });
});

describe("a put's answer written inside its set", () => {
  const put = (part: number, ttl: number, ver: number): Mutation => ({ op: "set", part, dict: "d1234", gen: 1, key: b(`\xa3k${ver}`), value: b("v".repeat(20)), deadline: 1_790_000_000_000, ver, ttl });
  /** An answer as a shard records it: with the parts of its id. */
  const answer = (part: number, client: string, rid: number, r: unknown = true): Extract<Mutation, { op: "dedup" }> => ({ op: "dedup", id: `${client}:${rid}`, at: 1_790_000_000_001 + rid, answer: { r }, part, client, rid });
  /** The same answer without the parts: what an answer written as an item of its own reads back as. */
  const bare = (m: Mutation): Mutation => {
    if (m.op !== "dedup") return m;
    const { client: _c, rid: _r, ...rest } = m;
    return rest;
  };

  it("round-trips, with or without the set's own TTL, in fewer bytes than as two items", () => {
    const muts = [put(3, 0, 1), answer(3, "client-é✓", 7), put(4, 5000, 2), answer(4, "client-é✓", 8), put(4, 0, 3), answer(4, "other", 2 ** 52)];
    const fused = body(encodeRecord(muts));
    expect(plain(decodeBody(fused))).toEqual(plain(muts));
    // Tags 8 (a set with the dict's TTL and its answer) and 9 (with its own TTL).
    expect(fused[1]).toBe(8);
    const apart = body(encodeRecord(muts.map(bare)));
    expect(plain(decodeBody(apart))).toEqual(plain(muts.map(bare)));
    // Per answer: no tag, flags, partition or answer of its own, and the request id as a number.
    expect(fused.length).toBeLessThan(apart.length - 3 * 10);
  });

  it("an answer that cannot go inside its set is an item of its own, and reads back as one", () => {
    const cases: Mutation[][] = [
      [put(3, 0, 1), answer(3, "c", 7, false)],
      [put(3, 0, 1), answer(3, "c", 7, 12)],
      [put(3, 0, 1), { ...answer(3, "c", 7), memoryOnly: true }],
      [put(3, 0, 1), answer(4, "c", 7)],
      [put(3, 0, 1), { ...answer(3, "c", 7), answer: { r: true, c: "X" } }],
      [answer(3, "c", 7), put(3, 0, 1)],
      [{ op: "delete", part: 3, dict: "d1234", gen: 1, key: b("k"), ver: 4 }, answer(3, "c", 7)],
    ];
    for (const muts of cases) {
      const got = decodeBody(body(encodeRecord(muts)));
      expect(plain(got)).toEqual(plain(muts.map(bare)));
    }
    // A request id the layout cannot hold.
    for (const rid of [-1, 1.5, 2 ** 53]) {
      const muts = [put(3, 0, 1), { ...answer(3, "c", 0), rid }];
      expect(plain(decodeBody(body(encodeRecord(muts))))).toEqual(plain(muts.map(bare)));
    }
  });

  it("refuses a fused item cut short, or with a request id that is not a whole number", () => {
    const good = body(encodeRecord([put(3, 0, 1), answer(3, "client", 7)]));
    expect(good[1]).toBe(8);
    for (let cut = 1; cut <= 30; cut++) expect(() => decodeBody(good.subarray(0, good.length - cut))).toThrow();
    // The request id sits after `at`, before the client id's length and bytes.
    const ridAt = good.length - "client".length - 2 - 8;
    for (const rid of [-1, 1.5, Number.NaN, 2 ** 53]) {
      const bad = Buffer.from(good);
      bad.writeDoubleLE(rid, ridAt);
      expect(() => decodeBody(bad)).toThrow(/bad request id/);
    }
  });
});
