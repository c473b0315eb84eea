/**
 * The binary form of the data path's frames: every hot frame round-trips to the same object
 * msgpack would give, frames without a binary form travel inside the batch as msgpack, what
 * does not fit the layout still reaches validation, and malformed binary is refused whole.
 */
import { describe, expect, it } from "vitest";
import { decodeMessage, encodeFrames } from "../../src/protocol/codec.js";
import { BINARY_MESSAGE } from "../../src/protocol/binary-frames.js";
import type { Frame, FrameOf } from "../../src/protocol/frames.js";
import { ScanPage } from "../../src/encoding/scan-page.js";
import { Latin1Bytes } from "../../src/encoding/latin1-bytes.js";
import { mulberry32 } from "../helpers/prng.js";

const b = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

/** Byte fields as arrays, so frames from either decoder compare equal. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function roundTrip(frames: Frame[]): unknown[] {
  const bytes = encodeFrames(frames, true);
  expect(bytes[0]).toBe(BINARY_MESSAGE);
  const items = decodeMessage(bytes);
  expect(items).not.toBeNull();
  return (items ?? []).map((it) => {
    expect(it.ok, it.ok ? "" : it.problem.message).toBe(true);
    return it.ok ? plain(it.frame) : undefined;
  });
}

const dict = "dict-0123456789";
const frames: Frame[] = [
  { type: "get", rid: 1, dict, part: 0, epoch: 0, key: b("\xa1k") },
  { type: "contains", rid: Number.MAX_SAFE_INTEGER, dict: "d-é✓-x", part: 65535, epoch: 2 ** 40, key: b("\xa1k") },
  { type: "pop", rid: 3, dict, part: 7, epoch: 9, key: new Uint8Array(0) },
  { type: "del", rid: 4, dict, part: 7, epoch: 9, key: b("\x2a") },
  { type: "put", rid: 5, dict, part: 8, epoch: 9, key: b("\xa1k"), value: b("v".repeat(300)), ifAbsent: false },
  { type: "put", rid: 6, dict, part: 8, epoch: 9, key: b("\xa1k"), value: new Uint8Array(0), ifAbsent: true },
  {
    type: "updateParts",
    rid: 7,
    op: 12345,
    dict,
    epoch: 3,
    parts: [
      { part: 1, keys: [b("\xa1a"), b("\xa1b")], values: [b("\x01"), b("")] },
      { part: 2, keys: [], values: [] },
    ],
  },
  {
    type: "replb",
    rid: 18,
    items: [
      {
        part: 5,
        pepoch: 3,
        muts: [
      { op: "reset", part: 5 },
      { op: "set", part: 5, dict, gen: 2, key: b("\xa1k"), value: b("v".repeat(200)), deadline: 1_790_000_000_123.5, ver: 17, ttl: 2000 },
      { op: "delete", part: 5, dict, gen: 2, key: b("\xa1j"), ver: 17 },
      { op: "set", part: 5, dict: "d-é✓-x", gen: 2 ** 40, key: b("\xa1k"), value: b(""), deadline: 0, ver: 2 ** 40, ttl: 0 },
      { op: "clear", part: 5, dict, gen: 3 },
      { op: "dedup", id: "c1:9", at: 17, answer: { r: true }, memoryOnly: true, part: 5 },
      { op: "dedup", id: "c1:10", at: 18.5, answer: { r: b("old") }, part: 5 },
      { op: "floors", part: 5, floors: [{ client: "c1", below: 11, at: 19 }, { client: "c:2", below: 0, at: 0 }] },
        ],
      },
      { part: 65535, pepoch: 1, muts: [] },
    ],
  },
  { type: "replb", rid: 19, items: [{ part: 65535, pepoch: 1, muts: [] }] },
  { type: "ok", rid: 8 },
  { type: "ok", rid: 9, result: true },
  { type: "ok", rid: 10, result: false },
  { type: "ok", rid: 11, result: null },
  { type: "ok", rid: 12, result: 4.5 },
  { type: "ok", rid: 13, result: b("value") },
  // No binary form: carried as msgpack inside the batch.
  { type: "ok", rid: 14, result: { keys: [b("a")], values: [], next: null, session: "s" } },
  { type: "err", rid: 15, code: "INVALID", message: "nope" },
  { type: "scan", rid: 16, dict, part: 3, epoch: 1, after: null, limit: 10, values: true },
  { type: "hello", rid: 17, v: 1, clientId: "c" },
];

describe("binary frames", () => {
  it("round-trip every frame to what msgpack gives", () => {
    expect(roundTrip(frames)).toEqual(frames.map(plain));
    const viaMsgpack = decodeMessage(encodeFrames(frames))?.map((it) => (it.ok ? plain(it.frame) : undefined));
    expect(roundTrip(frames)).toEqual(viaMsgpack);
  });

  it("round-trip a single frame, and seeded random batches of them", () => {
    expect(roundTrip([frames[0] as Frame])).toEqual([plain(frames[0])]);
    const rand = mulberry32(3);
    for (let n = 0; n < 200; n++) {
      const batch = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => frames[Math.floor(rand() * frames.length)] as Frame);
      expect(roundTrip(batch)).toEqual(batch.map(plain));
    }
  });

  it("frames that do not fit the layout still reach validation, with their rid", () => {
    const bad = [
      { type: "get", rid: 20, dict, part: 70_000, epoch: 0, key: b("k") },
      { type: "get", rid: 21, dict: "x".repeat(300), part: 0, epoch: 0, key: b("k") },
      { type: "put", rid: 22, dict, part: 0, epoch: 0, key: b("k"), value: "not bytes", ifAbsent: false },
      { type: "get", rid: 23, dict: "abc", part: 0, epoch: 0, key: b("k") },
    ] as unknown as Frame[];
    const items = decodeMessage(encodeFrames(bad, true));
    expect(items?.map((it) => (it.ok ? "ok" : it.problem.rid))).toEqual([20, 21, 22, 23]);
  });

  it("carry a scan page and a value kept as byte strings as the same bytes in both forms", () => {
    const latin = (bs: number[]) => String.fromCharCode(...bs);
    const pages = [
      new ScanPage([latin([0xa1, 0x61]), latin([0xff, 0x00, 0x80])], [latin([0xc3]), latin([])], latin([0xff, 0x00, 0x80]), "3.abcdefghijkl"),
      new ScanPage([], [], null, "0.x"),
    ];
    const replies: Frame[] = pages.map((p, i) => ({ type: "ok", rid: 100 + i, result: p }));
    const expected = pages.map((p, i) => plain({ type: "ok", rid: 100 + i, result: p.toWire() }));
    expect(roundTrip(replies)).toEqual(expected);
    expect(decodeMessage(encodeFrames(replies))?.map((it) => (it.ok ? plain(it.frame) : undefined))).toEqual(expected);
    // A value kept as a byte string travels as the same bytes too.
    const value: Frame[] = [{ type: "ok", rid: 200, result: new Latin1Bytes("\xff\x00ab") }];
    const valueBytes = [plain({ type: "ok", rid: 200, result: b("\xff\x00ab") })];
    expect(roundTrip(value)).toEqual(valueBytes);
    expect(decodeMessage(encodeFrames(value))?.map((it) => (it.ok ? plain(it.frame) : undefined))).toEqual(valueBytes);
    expect(plain(pages[0]?.toWire())).toEqual(plain({ keys: [b("\xa1a"), b("\xff\x00\x80")], values: [b("\xc3"), b("")], next: b("\xff\x00\x80"), session: "3.abcdefghijkl" }));
  });

  it("refuse malformed binary messages whole: truncated, unknown tag, trailing or impossible counts", () => {
    const good = encodeFrames(frames, true);
    const whole = decodeMessage(good)?.map((it) => (it.ok ? plain(it.frame) : undefined));
    for (let cut = 1; cut < good.length; cut += 7) {
      const got = decodeMessage(good.subarray(0, cut));
      // A cut that falls exactly between two frames is a shorter message of whole frames.
      if (got !== null) expect(got.map((it) => (it.ok ? plain(it.frame) : undefined)), `cut at ${cut}`).toEqual(whole?.slice(0, got.length));
      if (got !== null) expect(got.length, `cut at ${cut}`).toBeLessThan(frames.length);
    }
    expect(decodeMessage(Buffer.from([BINARY_MESSAGE]))).toBeNull();
    expect(decodeMessage(Buffer.from([BINARY_MESSAGE, 99, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeNull();
    const huge = Buffer.alloc(40);
    huge[0] = BINARY_MESSAGE;
    huge[1] = 6; // updateParts with 2^32-1 groups in a 40-byte message
    huge.writeUInt8(4, 25);
    huge.write("dict", 26);
    huge.writeUInt32LE(0xffffffff, 30);
    expect(decodeMessage(huge)).toBeNull();
    const packedGarbage = Buffer.from([BINARY_MESSAGE, 0, 2, 0, 0, 0, 0xc1, 0xc1]);
    expect(decodeMessage(packedGarbage)).toBeNull();
  });

  it("refuse a replication body that does not parse, and validate one that parses to the wrong thing", () => {
    // One item: partition 1 at epoch 1, with `body`.
    const repl = (body: number[], tag = 8) => {
      const head = Buffer.alloc(1 + 1 + 8 + 2 + 2 + 8 + 4);
      head[0] = BINARY_MESSAGE;
      head[1] = tag;
      head.writeDoubleLE(42, 2);
      head.writeUInt16LE(1, 10);
      head.writeUInt16LE(1, 12);
      head.writeDoubleLE(1, 14);
      head.writeUInt32LE(body.length, 22);
      return Buffer.concat([head, Buffer.from(body)]);
    };
    // Replication travels in its binary form (tag 8), not as embedded msgpack.
    const replFrame = frames.find((f) => f.type === "replb") as Frame;
    expect(encodeFrames([replFrame], true)[1]).toBe(8);
    // Tag 7, the single-partition frame it replaced, is no longer read.
    expect(decodeMessage(repl([0xc1], 7))).toBeNull();
    expect(decodeMessage(repl([0xc1]))?.[0]?.ok).toBe(true);
    // A set whose key length runs past the body; an unknown item tag; an empty body.
    expect(decodeMessage(repl([0xc1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0x61, 0xff, 0, 0, 0]))).toBeNull();
    expect(decodeMessage(repl([0xc1, 9]))).toBeNull();
    expect(decodeMessage(repl([]))).toBeNull();
    // A msgpack body (the older form) holding a number instead of mutations: invalid, with its rid.
    const items = decodeMessage(repl([0x2a]));
    expect(items?.map((it) => (it.ok ? "ok" : it.problem.rid))).toEqual([42]);
  });

  it("carry a replication batch (tag 8) item by item, and refuse one whose count runs past the message", () => {
    const r = (frames.find((f) => f.type === "replb") as FrameOf<"replb">).items[0] as FrameOf<"replb">["items"][number];
    const batch = { type: "replb", rid: 5, items: [{ part: 1, pepoch: 3, muts: r.muts }, { part: 2, pepoch: 4, muts: [] }] } as unknown as Frame;
    const bytes = encodeFrames([batch], true);
    expect(bytes[1]).toBe(8);
    const back = decodeMessage(bytes);
    expect(back?.[0]?.ok).toBe(true);
    const f = back?.[0]?.ok ? (back[0].frame as FrameOf<"replb">) : undefined;
    expect(f?.items.map((it) => [it.part, it.pepoch, it.muts.length])).toEqual([
      [1, 3, r.muts.length],
      [2, 4, 0],
    ]);
    // 1,000 items announced, none there.
    const head = Buffer.alloc(1 + 1 + 8 + 2);
    head[0] = BINARY_MESSAGE;
    head[1] = 8;
    head.writeDoubleLE(6, 2);
    head.writeUInt16LE(1000, 10);
    expect(decodeMessage(head)).toBeNull();
  });
});
