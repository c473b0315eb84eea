/** Canonical keys and structured values, end to end. */
import { describe, expect, it } from "vitest";
import { DeserializationError, Dict, InvalidError, RequestSizeError } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { partitionOf } from "../../src/hashing/hash.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { RawPeer } from "../helpers/raw-peer.js";

let tc: TestCluster;
let client: ClusterClient;
let n = 0;
const fresh = () => Dict.fromName(`kv-${++n}`, { createIfMissing: true, client });
useTestCluster({ maxEntryBytes: 256 * 1024 }, (t, c) => {
  tc = t;
  client = c;
});

describe("keys", () => {
  it("equal keys are one key whatever the property order; 1 and '1' differ", async () => {
    const d = fresh();
    await d.put({ a: 1, b: 2 }, "first");
    expect(await d.get({ b: 2, a: 1 })).toBe("first");
    await d.put(1, "number");
    await d.put("1", "string");
    await d.put(1n, "bigint");
    await d.put(true, "bool");
    await d.put(null, "null");
    await d.put(new Uint8Array([1, 2, 3]), "bytes");
    await d.put([1, "1", [null]], "array");
    expect(await d.get(1)).toBe("number");
    expect(await d.get("1")).toBe("string");
    expect(await d.get(1n)).toBe("bigint");
    expect(await d.get(true)).toBe("bool");
    expect(await d.get(null)).toBe("null");
    expect(await d.get(Buffer.from([1, 2, 3]))).toBe("bytes");
    expect(await d.get([1, "1", [null]])).toBe("array");
    expect(await d.len()).toBe(8);
    const keys: unknown[] = [];
    for await (const k of d.keys()) keys.push(k);
    expect(keys).toContainEqual({ a: 1, b: 2 });
    expect(keys).toContainEqual(1n);
    expect(keys).toContainEqual(new Uint8Array([1, 2, 3]));
  });

  it("refuses keys that are not canonical types before sending", async () => {
    const d = fresh();
    for (const bad of [undefined, () => 1, Symbol("s"), new Date(), new Map(), new (class K {})(), new Float64Array(1), { nested: undefined }]) {
      await expect(d.put(bad as never, 1)).rejects.toBeInstanceOf(InvalidError);
      await expect(d.get(bad as never)).rejects.toBeInstanceOf(InvalidError);
    }
    expect(await d.len()).toBe(0);
  });
});

describe("values", () => {
  it("round-trips structured values", async () => {
    const d = fresh();
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const value = {
      nested: { deep: [1, 2, { x: "y" }] },
      map: new Map<unknown, unknown>([["a", 1], [2, new Set([3])]]),
      set: new Set(["s"]),
      date: new Date(1_700_000_000_000),
      big: 2n ** 100n,
      bytes: new Uint8Array([9, 8, 7]),
      buf: Buffer.from("hello"),
      floats: new Float32Array([1.5, 2.5]),
      nil: null,
      cyclic,
    };
    await d.put("v", value);
    const got = (await d.get("v")) as typeof value;
    expect(got.nested).toEqual(value.nested);
    expect(got.map).toEqual(value.map);
    expect(got.set).toEqual(value.set);
    expect(got.date).toEqual(value.date);
    expect(got.big).toBe(2n ** 100n);
    expect(Buffer.from(got.bytes)).toEqual(Buffer.from([9, 8, 7]));
    expect(Buffer.from(got.buf).toString()).toBe("hello");
    expect(got.floats).toBeInstanceOf(Float32Array);
    expect([...got.floats]).toEqual([1.5, 2.5]);
    expect(got.nil).toBeNull();
    expect((got.cyclic as { self: unknown }).self).toBe(got.cyclic);
  });

  it("stores Dict handles that come back as live dicts", async () => {
    const inner = fresh();
    await inner.put("inside", "yes");
    const outer = fresh();
    await outer.put("ref", { handle: inner, list: [inner] });
    const got = (await outer.get("ref")) as { handle: Dict; list: Dict[] };
    expect(got.handle).toBeInstanceOf(Dict);
    expect(await got.handle.get("inside")).toBe("yes");
    expect(got.handle.objectId).toBe(inner.objectId);
    // an unhydrated handle is resolved before it is stored
    const lazy = Dict.fromName(`kv-lazy`, { createIfMissing: true, client });
    await outer.put("lazy", lazy);
    const back = (await outer.get("lazy")) as Dict;
    await back.put("x", 1);
    expect(await lazy.get("x")).toBe(1);
  });

  it("RequestSizeError carries the limit and size and nothing is sent", async () => {
    const d = fresh();
    const err = await d.put("big", new Uint8Array(300 * 1024)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestSizeError);
    expect((err as RequestSizeError).name).toBe("RequestSizeError");
    expect((err as RequestSizeError).limit).toBe(256 * 1024);
    expect((err as RequestSizeError).size).toBeGreaterThan(300 * 1024);
    await expect(d.update({ ok: 1, big: new Uint8Array(300 * 1024) })).rejects.toBeInstanceOf(RequestSizeError);
    expect(await d.len()).toBe(0);
    await d.put("fits", new Uint8Array(200 * 1024));
    expect((await d.get("fits")) as Uint8Array).toHaveLength(200 * 1024);
  });

  it("a value this process cannot decode is a DeserializationError naming dict and key", async () => {
    const d = fresh();
    await d.hydrate();
    const key = encodeKey("corrupt");
    const part = partitionOf(d.objectId, key, client.table.partitions);
    const owner = client.table.primaryOf(part) as string;
    const raw = await RawPeer.open(tc.cluster.urlOf(owner) as string);
    // Bytes no reader could decode are refused by the shard itself: an array header
    // promising two items, followed by one (truncated msgpack)...
    const put = (value: Buffer, rid: number) => raw.request({ type: "put", rid, dict: d.objectId, part, epoch: client.table.epoch, key, value, ifAbsent: false });
    const truncated = await put(Buffer.from([0x92, 0x01]), 1);
    expect(truncated).toMatchObject({ type: "err", code: "INVALID" });
    // ...while well-formed bytes whose meaning fails are stored: a RegExp of pattern "(".
    const reply = await put(Buffer.from([0xd4, 0x78, 0x00, 0x92, 0xa1, 0x28, 0xa0]), 2);
    expect(reply.type).toBe("ok");
    raw.close();
    const err = await d.get("corrupt").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeserializationError);
    expect((err as DeserializationError).message).toContain(d.name as string);
    expect((err as DeserializationError).message).toContain('"corrupt"');
    expect((err as DeserializationError).key).toBe("corrupt");
  });
});
