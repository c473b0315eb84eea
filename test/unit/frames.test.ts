import { describe, expect, it } from "vitest";
import { pack } from "msgpackr";
import { decodeMessage, encodeFrames, validateFrame, type DecodedItem } from "../../src/protocol/codec.js";
import type { Frame, FrameOf } from "../../src/protocol/frames.js";
import { WireCode } from "../../src/errors.js";
import { mulberry32 } from "../helpers/prng.js";


const getFrame: FrameOf<"get"> = {
  type: "get",
  rid: 1,
  dict: "dict-1234",
  part: 17,
  epoch: 3,
  key: Uint8Array.of(5, 1, 0x61),
};

const putFrame: FrameOf<"put"> = {
  type: "put",
  rid: 2,
  dict: "dict-1234",
  part: 65535,
  epoch: 0,
  key: Uint8Array.of(5, 0),
  value: new Uint8Array(1000).fill(7),
  ifAbsent: true,
};

const scanFrame: FrameOf<"scan"> = {
  type: "scan",
  rid: Number.MAX_SAFE_INTEGER,
  dict: "dict-1234",
  part: 0,
  epoch: 9,
  after: null,
  limit: 10000,
  values: false,
};

const helloFrame: FrameOf<"hello"> = { type: "hello", rid: 0, v: 1, clientId: "client-a", agent: "test" };
const okFrame: FrameOf<"ok"> = { type: "ok", rid: 2, result: { nested: [1, "two", null], flag: true } };
const errFrame: FrameOf<"err"> = { type: "err", rid: 3, code: "KEY_ERROR", message: "no such key", limit: 10, size: 20 };
const tableFrame: FrameOf<"shard.table"> = {
  type: "shard.table",
  rid: 4,
  table: { epoch: 2, partitions: 2, owners: [["s1"], ["s2", "s1"]], pepochs: [1, 3], learners: [[], []], shards: [{ id: "s1", url: "ws://a" }, { id: "s2", url: "" }] },
};

/** Compare frames with byte fields normalised (msgpackr hands back Buffers). */
function normalise(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString("hex") };
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([key, x]) => [key, normalise(x)]));
  }
  return v;
}

function okFrames(items: DecodedItem[] | null): Frame[] {
  expect(items).not.toBeNull();
  return (items ?? []).map((item) => {
    if (!item.ok) throw new Error(`expected a valid frame, got: ${item.problem.message}`);
    return item.frame;
  });
}

function problemOf(items: DecodedItem[] | null, index = 0): { rid: number | undefined; code: string; message: string } {
  expect(items).not.toBeNull();
  const item = items?.[index];
  expect(item?.ok).toBe(false);
  if (item === undefined || item.ok) throw new Error("expected a problem");
  return item.problem;
}

describe("encodeFrames / decodeMessage round trip", () => {
  it.each<[string, Frame]>([
    ["get", getFrame],
    ["put", putFrame],
    ["scan", scanFrame],
    ["hello", helloFrame],
    ["ok", okFrame],
    ["err", errFrame],
    ["shard.table", tableFrame],
  ])("a single %s frame", (_, frame) => {
    const frames = okFrames(decodeMessage(encodeFrames(frame)));
    expect(frames).toHaveLength(1);
    expect(normalise(frames[0])).toEqual(normalise(frame));
  });

  it("byte fields come back as Uint8Arrays with the same bytes", () => {
    const [frame] = okFrames(decodeMessage(encodeFrames(putFrame)));
    expect(frame?.type).toBe("put");
    if (frame?.type !== "put") return;
    expect(frame.key).toBeInstanceOf(Uint8Array);
    expect([...frame.key]).toEqual([5, 0]);
    expect(frame.value.byteLength).toBe(1000);
    expect(frame.value.every((b) => b === 7)).toBe(true);
  });

  it("a batch keeps its frames and their order", () => {
    const batch: Frame[] = [getFrame, putFrame, scanFrame, okFrame, errFrame];
    const frames = okFrames(decodeMessage(encodeFrames(batch)));
    expect(frames.map((f) => f.type)).toEqual(["get", "put", "scan", "ok", "err"]);
    expect(normalise(frames)).toEqual(normalise(batch));
  });

  it("a batch of one is still a batch", () => {
    const items = decodeMessage(encodeFrames([getFrame]));
    expect(items).toHaveLength(1);
    expect(items?.[0]?.ok).toBe(true);
  });

  it("a batch reports bad frames one by one, keeping the good ones", () => {
    const items = decodeMessage(
      pack([getFrame, { ...getFrame, rid: 8, part: -1 }, "not a frame", { type: "bogus", rid: 9 }, putFrame]),
    );
    expect(items?.map((i) => i.ok)).toEqual([true, false, false, false, true]);
    expect(problemOf(items, 1).rid).toBe(8);
    expect(problemOf(items, 2)).toMatchObject({ rid: undefined, message: "frame is not an object" });
    expect(problemOf(items, 3).rid).toBe(9);
  });
});

describe("decodeMessage: not a frame at all", () => {
  it.each<[string, Uint8Array]>([
    ["empty bytes", new Uint8Array()],
    ["a msgpack number", pack(42)],
    ["a msgpack negative number", pack(-1)],
    ["a msgpack string", pack("get")],
    ["msgpack nil", pack(null)],
    ["msgpack true", pack(true)],
    ["an empty array", pack([])],
    ["a truncated map", pack(getFrame).subarray(0, 10)],
    ["a truncated array header", Uint8Array.of(0xdc, 0xff)],
    ["a map with trailing bytes", Uint8Array.from([...pack({ type: "get" }), 0x00])],
    ["a str8 longer than the data", Uint8Array.of(0xd9, 0x20, 0x61)],
  ])("%s gives null", (_, bytes) => {
    expect(decodeMessage(bytes)).toBeNull();
  });

  it("seeded random bytes give null and never throw", () => {
    const rand = mulberry32(42);
    for (let i = 0; i < 1000; i++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256));
      expect(decodeMessage(bytes)).toBeNull();
    }
  });

  it("random bytes appended to a valid frame never decode as valid", () => {
    const rand = mulberry32(7);
    const good = encodeFrames(getFrame);
    for (let i = 0; i < 200; i++) {
      const tail = Uint8Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256));
      const items = decodeMessage(Uint8Array.from([...good, ...tail]));
      expect(items === null || items.every((item) => !item.ok)).toBe(true);
    }
  });
});

describe("decodeMessage: frames that fail validation", () => {
  it("an unknown type names the type and keeps the rid", () => {
    const p = problemOf(decodeMessage(pack({ type: "teleport", rid: 77 })));
    expect(p.rid).toBe(77);
    expect(p.code).toBe(WireCode.Invalid);
    expect(p.message).toContain("teleport");
  });

  it("a very long unknown type is cut short in the message", () => {
    const p = problemOf(decodeMessage(pack({ type: "x".repeat(10_000), rid: 1 })));
    expect(p.message).toContain("x".repeat(64));
    expect(p.message.length).toBeLessThan(200);
  });

  it("a missing or non-string type is refused", () => {
    expect(problemOf(decodeMessage(pack({ rid: 5 })))).toMatchObject({ rid: 5, code: WireCode.Invalid });
    expect(problemOf(decodeMessage(pack({ type: 3, rid: 6 }))).rid).toBe(6);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["key as a string", { ...getFrame, key: "abc" }, "/key"],
    ["a negative part", { ...getFrame, part: -1 }, "/part"],
    ["a part above 65535", { ...getFrame, part: 65536 }, "/part"],
    ["a fractional part", { ...getFrame, part: 1.5 }, "/part"],
    ["a negative epoch", { ...getFrame, epoch: -3 }, "/epoch"],
    ["an epoch of 1e308", { ...getFrame, epoch: 1e308 }, "/epoch"],
    ["an epoch past the exact integers", { ...getFrame, epoch: Number.MAX_SAFE_INTEGER + 1 }, "/epoch"],
    ["a pepoch of 1e308", { type: "replb", rid: 1, items: [{ part: 0, pepoch: 1e308, muts: [] }] }, "/items/0/pepoch"],
    ["a fractional client floor", { type: "replb", rid: 1, items: [{ part: 0, pepoch: 1, muts: [{ op: "floors", part: 0, floors: [{ client: "c", below: 1.5, at: 0 }] }] }] }, "/items/0/muts/0"],
    ["a floor of no client", { type: "replb", rid: 1, items: [{ part: 0, pepoch: 1, muts: [{ op: "floors", part: 0, floors: [{ client: "", below: 1, at: 0 }] }] }] }, "/items/0/muts/0"],
    ["a short dict id", { ...getFrame, dict: "abc" }, "/dict"],
    ["a missing dict", { type: "get", rid: 1, part: 0, epoch: 0, key: Uint8Array.of(0) }, "/dict"],
    ["ifAbsent as a number", { ...putFrame, ifAbsent: 1 }, "/ifAbsent"],
    ["a scan limit of 0", { ...scanFrame, limit: 0 }, "/limit"],
    ["a numeric scan cursor", { ...scanFrame, cursor: 5 }, "/cursor"],
    ["an extra property", { ...getFrame, extra: true }, "extra"],
  ])("%s", (_, raw, where) => {
    const p = problemOf(decodeMessage(pack(raw)));
    expect(p.rid).toBe(raw["rid"]);
    expect(p.code).toBe(WireCode.Invalid);
    expect(p.message).toContain(`invalid ${String(raw["type"])} frame`);
    expect(p.message).toContain(where);
  });

  it("the largest exact epoch is still one", () => {
    const items = decodeMessage(pack({ ...getFrame, epoch: Number.MAX_SAFE_INTEGER }));
    expect(items?.[0]?.ok).toBe(true);
  });

  it("an epoch of 1e308 in the binary form is refused like in msgpack", () => {
    const items = decodeMessage(encodeFrames([{ ...getFrame, epoch: 1e308 }], true));
    expect(items?.[0]?.ok).toBe(false);
    expect(problemOf(items).message).toContain("/epoch");
  });

  it.each<[string, unknown]>([
    ["missing", undefined],
    ["negative", -1],
    ["fractional", 1.5],
    ["a string", "12"],
    ["beyond safe integers", 2 ** 60],
  ])("a %s rid is refused and reported as undefined", (_, rid) => {
    const { rid: _drop, ...rest } = getFrame;
    const raw = rid === undefined ? rest : { ...rest, rid };
    const p = problemOf(decodeMessage(pack(raw)));
    expect(p.rid).toBeUndefined();
    expect(p.message).toContain("rid");
  });

  it("a nested object does not smuggle in a prototype", () => {
    // {"__proto__": {"type": "get"}} encoded by hand.
    const bytes = Uint8Array.from(Buffer.from("81a95f5f70726f746f5f5f81a474797065a3676574", "hex"));
    const p = problemOf(decodeMessage(bytes));
    expect(p.rid).toBeUndefined();
    expect(({} as { type?: unknown }).type).toBeUndefined();
  });

  it("validateFrame refuses non-objects directly", () => {
    for (const raw of [null, 1, "s", [getFrame]]) {
      const r = validateFrame(raw);
      expect(r.ok).toBe(false);
    }
    expect(validateFrame({ ...getFrame }).ok).toBe(true);
  });
});
