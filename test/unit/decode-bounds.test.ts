/**
 * The hostile inputs of the issue at the decoder level: each is refused with a typed error
 * before msgpackr reads a byte of it (a spy on msgpackr's reader), and the object budget
 * stops counting at its limit (the error's `size`): bounded work shown by counts, never
 * by timing.
 *
 * 1. An array of 104 M empty maps (the 104 MB "map bomb") as a batch, inside a frame, as a
 *    value, as a log record, embedded in a binary message.
 * 2. A record definition with 1 M keys used 4 times; a 64 MiB BigInt as a request id.
 * 5. A value of the bomb's kind refused at put (SDK and shard), not found by every reader.
 * 6. Own `__proto__` keys round-trip exactly, in values and keys, without pollution.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Packr, Unpackr } from "msgpackr";
import { decodeMessage, encodeFrames, readMessage } from "../../src/protocol/codec.js";
import type { Frame } from "../../src/protocol/frames.js";
import { BINARY_MESSAGE } from "../../src/protocol/binary-frames.js";
import { DecodeLimitError } from "../../src/encoding/decode-budget.js";
import { FRAME_MAX_OBJECTS, MAX_UPDATE_ENTRIES, VALUE_MAX_BIGINT_BYTES, VALUE_MAX_DEPTH, VALUE_MAX_OBJECTS, logBodyBudgetLimit } from "../../src/encoding/decode-limits.js";
import { checkValueBytes } from "../../src/protocol/value-check.js";
import { decodeValue, encodeValue, encodeValueNow } from "../../src/client/value-codec.js";
import { decodeBody } from "../../src/encoding/log-record.js";
import { decodeKey, encodeKey, isCanonicalKey } from "../../src/protocol/keys.js";
import { DeserializationError, InvalidError, RequestSizeError } from "../../src/errors.js";

const MAPS = 104_000_000;
const HEAD = 32;
/** One buffer for every variant of the bomb: headers are written into the first HEAD bytes. */
let bomb: Buffer;

/** The bomb behind `prefix` (the array header `dd <u32 104M>` is appended to it). */
function bombWith(prefix: number[]): Buffer {
  const head = [...prefix, 0xdd, (MAPS >>> 24) & 0xff, (MAPS >>> 16) & 0xff, (MAPS >>> 8) & 0xff, MAPS & 0xff];
  const from = HEAD - head.length;
  bomb.set(head, from);
  return bomb.subarray(from);
}

const str = (s: string) => [...Buffer.from(pack(s))];
const packr = new Packr({ useRecords: false });
const pack = (v: unknown) => packr.pack(v);

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

let unpackSpy: ReturnType<typeof vi.spyOn>;

beforeAll(() => {
  bomb = Buffer.alloc(HEAD + MAPS, 0x80);
});

afterEach(() => {
  unpackSpy?.mockRestore();
});

function spyOnMsgpackr(): void {
  unpackSpy = vi.spyOn(Unpackr.prototype, "unpack");
}

describe("1. the map bomb: 104 M empty maps in one message", () => {
  it("as a batch: refused from its header, no frame read", () => {
    spyOnMsgpackr();
    const err = thrown(() => readMessage(bombWith([])));
    expect(err).toBeInstanceOf(DecodeLimitError);
    expect((err as DecodeLimitError).kind).toBe("batch");
    expect(decodeMessage(bombWith([]))).toBeNull(); // the socket is closed, as for any non-frame
    expect(unpackSpy).not.toHaveBeenCalled();
  });

  it("inside one frame: refused once the message's object budget is spent, counting stops there", () => {
    spyOnMsgpackr();
    const bytes = bombWith([0x82, ...str("type"), ...str("put"), ...str("x")]);
    const err = thrown(() => readMessage(bytes)) as DecodeLimitError;
    expect(err).toBeInstanceOf(DecodeLimitError);
    expect(err.kind).toBe("objects");
    expect(err.limit).toBe(FRAME_MAX_OBJECTS);
    expect(err.size).toBe(FRAME_MAX_OBJECTS + 1);
    expect(decodeMessage(bytes)).toBeNull();
    expect(unpackSpy).not.toHaveBeenCalled();
  });

  it("embedded in a binary message: the same budget", () => {
    spyOnMsgpackr();
    const len = 5 + MAPS;
    const bytes = bombWith([BINARY_MESSAGE, 0, len & 0xff, (len >>> 8) & 0xff, (len >>> 16) & 0xff, len >>> 24]);
    const err = thrown(() => readMessage(bytes)) as DecodeLimitError;
    expect(err.kind).toBe("objects");
    expect(err.size).toBe(FRAME_MAX_OBJECTS + 1);
    expect(unpackSpy).not.toHaveBeenCalled();
  });

  it("as a stored value: every reader refuses it with a DeserializationError, without decoding", () => {
    spyOnMsgpackr();
    const err = thrown(() => decodeValue(bombWith([]), undefined, "d", "k")) as DeserializationError;
    expect(err).toBeInstanceOf(DeserializationError);
    expect(err.cause).toBeInstanceOf(DecodeLimitError);
    expect((err.cause as DecodeLimitError).size).toBe(VALUE_MAX_OBJECTS + 1);
    expect(unpackSpy).not.toHaveBeenCalled();
  });

  it("as a log record or replication body: refused within a budget proportional to its length", () => {
    spyOnMsgpackr();
    const body = bombWith([]);
    const err = thrown(() => decodeBody(body)) as DecodeLimitError;
    expect(err).toBeInstanceOf(DecodeLimitError);
    expect(err.kind).toBe("objects");
    expect(err.size).toBe(logBodyBudgetLimit(body.length) + 1);
    expect(unpackSpy).not.toHaveBeenCalled();
  });
});

describe("replication bodies: bounded by their length from a node, by the message's budget from anyone else", () => {
  it("a body of 530,000 deletes is decoded from a node, refused from a client once the budget is spent", () => {
    const n = 530_000;
    const item = Buffer.from([2, 0, 0, 0, 0, 0, 0, 4, 0, 0x64, 0x69, 0x63, 0x74, 1, 0, 0, 0, 0]); // delete, dict "dict", key [0]
    const body = Buffer.concat([Buffer.from([0xc1]), ...new Array<Buffer>(n).fill(item)]);
    const head = Buffer.alloc(1 + 1 + 8 + 2 + 2 + 8 + 4);
    head[0] = BINARY_MESSAGE;
    head[1] = 8; // replication, one item: partition 0 at epoch 1
    head.writeDoubleLE(9, 2);
    head.writeUInt16LE(1, 10);
    head.writeUInt16LE(0, 12);
    head.writeDoubleLE(1, 14);
    head.writeUInt32LE(body.length, 22);
    const message = Buffer.concat([head, body]);
    const err = thrown(() => readMessage(message, { node: false })) as DecodeLimitError;
    expect(err.kind).toBe("objects");
    expect(err.size).toBeLessThanOrEqual(FRAME_MAX_OBJECTS + 2);
    expect(decodeMessage(message, { node: false })).toBeNull();
    const items = decodeMessage(message, { node: true });
    expect(items?.[0]?.ok && items[0].frame.type === "replb" && items[0].frame.items[0]?.muts.length).toBe(n);
  });
});

describe("the limits leave room for what our own nodes and SDK send", () => {
  it("the largest update request the SDK sends, over 65,536 partitions, decodes within a message's budget", () => {
    const one = Buffer.from([0]);
    const parts = Array.from({ length: 65536 }, (_, part) => ({ part, keys: [] as Buffer[], values: [] as Buffer[] }));
    for (let i = 0; i < MAX_UPDATE_ENTRIES; i++) {
      const g = parts[i % 65536] as (typeof parts)[number];
      g.keys.push(one);
      g.values.push(one);
    }
    const frame: Frame = { type: "updateParts", rid: 1, op: 1, dict: "dict-1234", epoch: 1, parts };
    for (const binary of [true, false]) {
      const items = decodeMessage(encodeFrames(frame, binary), { node: false });
      expect(items?.[0]?.ok).toBe(true);
    }
  });

  it("a partition table of 65,536 partitions (3 owners, learners, hand-offs) decodes within a message's budget", () => {
    const n = 65536;
    const table = {
      epoch: 1,
      partitions: n,
      owners: Array.from({ length: n }, () => ["a", "b", "c"]),
      pepochs: new Array<number>(n).fill(1),
      learners: Array.from({ length: n }, () => ["d"]),
      shards: ["a", "b", "c", "d"].map((id) => ({ id, url: `ws://h/${id}` })),
      handoffs: Array.from({ length: n }, () => ({ to: "d", id: 1 })),
    };
    const items = decodeMessage(encodeFrames({ type: "shard.table", rid: 1, table }), { node: false });
    expect(items?.[0]?.ok).toBe(true);
  });
});

describe("2. stalls: records and a huge BigInt", () => {
  /** An array of `uses` objects of one record: `d4 72 40` + `n` one-character keys + values, then `40` + values. */
  function recordBomb(n: number, uses: number): Buffer {
    const out = Buffer.alloc(1 + 3 + 5 + 2 * n + n + (uses - 1) * (1 + n));
    out[0] = 0x90 + uses;
    let at = out.writeUInt32BE(0xd4724000, 1) - 1; // d4 72 40, then the keys array header
    out[at++] = 0xdd;
    at = out.writeUInt32BE(n, at);
    for (let i = 0; i < n; i++) {
      out[at++] = 0xa1;
      out[at++] = 0x61;
    }
    at += n; // the first object's values: n zero bytes (fixint 0)
    for (let u = 1; u < uses; u++) {
      out[at] = 0x40;
      at += 1 + n;
    }
    expect(at).toBe(out.length);
    return out;
  }

  it("a record definition is refused in a frame: frames never use records", () => {
    spyOnMsgpackr();
    const rec = recordBomb(1_000_000, 4);
    // In a batch, the record is no single msgpack value for a reader that knows no records
    // (`d4 72 40` is one, its keys and values the next ones): not a batch at all, closed.
    const batch = Buffer.concat([Buffer.from([0x92]), pack({ type: "hello", rid: 5, v: 1, clientId: "c" }), rec.subarray(1, rec.length - 3 * 1_000_001)]);
    expect(decodeMessage(batch)).toBeNull();
    expect(decodeMessage(rec)).toBeNull();
    expect(thrown(() => readMessage(batch))).toBeInstanceOf(DecodeLimitError);
    // A record alone as the message: not a map, so not a frame.
    expect((thrown(() => readMessage(rec.subarray(1, rec.length - 3 * 1_000_001))) as Error).message).toMatch(/records are not accepted/);
    expect(unpackSpy).not.toHaveBeenCalled();
  });

  it("in a value, repeated records are refused past the keys msgpackr would compile", () => {
    spyOnMsgpackr();
    const err = thrown(() => decodeValue(recordBomb(1_000_000, 4), undefined, "d", "k")) as DeserializationError;
    expect(err).toBeInstanceOf(DeserializationError);
    expect((err.cause as DecodeLimitError).kind).toBe("records");
    expect(unpackSpy).not.toHaveBeenCalled();
    // Used three times, the same record is only read (a million properties: decodable).
    expect(() => checkValueBytes(recordBomb(1_000_000, 3))).not.toThrow();
  });

  it("a 64 MiB BigInt as a request id: refused unread, the frame answered as invalid", () => {
    spyOnMsgpackr();
    const big = Buffer.alloc(6 + 64 * 2 ** 20);
    big[0] = 0xc9; // ext 32
    big.writeUInt32BE(64 * 2 ** 20, 1);
    big[5] = 0x42;
    big[6] = 1;
    const frame = Buffer.concat([Buffer.from([0x82]), Buffer.from(str("type")), Buffer.from(str("get")), Buffer.from(str("rid")), big]);
    const items = decodeMessage(frame);
    expect(items).toHaveLength(1);
    const item = items?.[0];
    expect(item?.ok).toBe(false);
    if (item && !item.ok) {
      expect(item.problem.rid).toBeUndefined();
      expect(item.problem.message).toMatch(/extension type 66 is not accepted/);
    }
    // As a value, a BigInt of more than a MiB is refused too; one of a MiB is read.
    const err = thrown(() => decodeValue(big, undefined, "d", "k")) as DeserializationError;
    expect((err.cause as DecodeLimitError).kind).toBe("ext");
    expect(unpackSpy).not.toHaveBeenCalled();
    unpackSpy.mockRestore();
    const mib = (1n << BigInt(8 * VALUE_MAX_BIGINT_BYTES - 2)) + 7n;
    expect(decodeValue(encodeValueNow(mib) as Uint8Array, undefined, "d", "k")).toBe(mib);
  });

  it("a frame with a readable rid that breaks a rule gets an INVALID reply, not a closed socket", () => {
    const withDate = Buffer.concat([Buffer.from([0x83]), Buffer.from(str("type")), Buffer.from(str("get")), Buffer.from(str("rid")), Buffer.from([0x07]), Buffer.from(str("key")), pack(new Date(0))]);
    const items = decodeMessage(withDate);
    expect(items?.map((it) => (it.ok ? "ok" : [it.problem.rid, it.problem.code]))).toEqual([[7, "INVALID"]]);
  });
});

describe("5. a value no reader could decode is refused at put", () => {
  it("by the shard's check, with RequestSizeError for too many objects", () => {
    const err = thrown(() => checkValueBytes(bombWith([])));
    expect(err).toBeInstanceOf(RequestSizeError);
    expect((err as RequestSizeError).limit).toBe(VALUE_MAX_OBJECTS);
  });

  it("by the SDK: too many objects (RequestSizeError), too deep (InvalidError)", async () => {
    await expect(encodeValue([[[]]])).resolves.toBeInstanceOf(Uint8Array);
    // (A Map's entries count as objects: the cheapest such value to build.)
    const many = new Map(Array.from({ length: VALUE_MAX_OBJECTS }, (_, i) => [i, 0]));
    expect(thrown(() => encodeValueNow(many))).toBeInstanceOf(RequestSizeError);
    let deep: unknown = 1;
    for (let i = 0; i < VALUE_MAX_DEPTH + 1; i++) deep = [deep];
    expect(thrown(() => encodeValueNow(deep))).toBeInstanceOf(InvalidError);
    let fine: unknown = 1;
    for (let i = 0; i < VALUE_MAX_DEPTH; i++) fine = [fine];
    const bytes = encodeValueNow(fine) as Uint8Array;
    expect(decodeValue(bytes, undefined, "d", "k")).toEqual(fine);
  });
});

describe("6. own __proto__, constructor and prototype keys round-trip exactly", () => {
  const json = '{"__proto__":{"polluted":1},"constructor":{"prototype":2},"prototype":3,"x":[{"__proto_":4,"__proto__":5}]}';

  it("in values, also in repeated shapes (compiled records), Maps, Sets and cycles", () => {
    const v = JSON.parse(json) as Record<string, unknown>;
    const shapes = Array.from({ length: 6 }, () => JSON.parse('{"a":1,"__proto__":2,"b":3}') as object);
    const cyclic = JSON.parse('{"__proto__":null}') as Record<string, unknown>;
    cyclic.self = cyclic;
    const value = { v, shapes, m: new Map([["__proto__", JSON.parse(json)]]), s: new Set([JSON.parse(json)]), cyclic };
    const back = decodeValue(encodeValueNow(value) as Uint8Array, undefined, "d", "k") as typeof value;
    expect(JSON.stringify(back.v)).toBe(json);
    expect(Object.hasOwn(back.v, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(back.v)).toBe(Object.prototype);
    expect(Object.keys(back.v)).toEqual(["__proto__", "constructor", "prototype", "x"]);
    expect(Object.keys((back.v.x as object[])[0] as object)).toEqual(["__proto_", "__proto__"]);
    for (const s of back.shapes) expect(Object.keys(s)).toEqual(["a", "__proto__", "b"]);
    expect(JSON.stringify(back.m.get("__proto__"))).toBe(json);
    expect(JSON.stringify([...back.s][0])).toBe(json);
    expect(back.cyclic.self).toBe(back.cyclic);
    expect(Object.hasOwn(back.cyclic, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("in keys: encoded, checked and decoded as own properties", () => {
    const key = JSON.parse('{"__proto__":1,"constructor":2,"prototype":3}') as Record<string, number>;
    const bytes = encodeKey(key);
    expect(isCanonicalKey(bytes)).toBe(true);
    const back = decodeKey(bytes) as Record<string, number>;
    expect(Object.hasOwn(back, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(JSON.stringify(back)).toBe(JSON.stringify(key));
    expect(Buffer.from(encodeKey(back)).equals(Buffer.from(bytes))).toBe(true);
  });

  it("in frames, a __proto__ field is renamed by msgpackr and refused by the schema: nothing is polluted", () => {
    const frame = Buffer.from(pack(JSON.parse('{"type":"hello","rid":3,"v":1,"clientId":"c","__proto__":{"polluted":1}}')));
    const items = decodeMessage(frame);
    expect(items?.[0]?.ok).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
