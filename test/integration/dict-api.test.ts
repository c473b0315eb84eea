/** Every Dict entry operation against a real 3-shard cluster. */
import { describe, expect, it } from "vitest";
import { Dict, KeyError, NotFoundError, InvalidError, type Client } from "../../src/index.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";

let tc: TestCluster;
let client: Client;
let n = 0;
const fresh = () => Dict.fromName(`api-${++n}`, { createIfMissing: true, client });
useTestCluster({}, (t, c) => {
  tc = t;
  client = c;
});

describe("fromName / hydrate", () => {
  it("returns a handle at once and looks the name up on first use", async () => {
    const d = Dict.fromName("never-created", { client });
    expect(d.name).toBe("never-created");
    await expect(d.get("x")).rejects.toBeInstanceOf(NotFoundError);
    await expect(d.hydrate()).rejects.toMatchObject({ name: "NotFoundError" });
  });

  it("creates with createIfMissing, and hydrate() gives the id", async () => {
    const d = Dict.fromName("hydrate-me", { createIfMissing: true, client });
    expect(() => d.objectId).toThrow(InvalidError);
    await d.hydrate();
    expect(d.objectId).toMatch(/^di-[A-Za-z0-9_-]+$/);
    const again = await Dict.fromName("hydrate-me", { client }).hydrate();
    expect(again.objectId).toBe(d.objectId);
  });

  it("throws InvalidError synchronously for bad names", () => {
    for (const bad of ["", "has space", "x".repeat(65), "slash/name", "ünï"]) {
      expect(() => Dict.fromName(bad, { client })).toThrow(InvalidError);
    }
    expect(() => Dict.fromName("ok", { environmentName: "bad env", client })).toThrow(InvalidError);
    expect(Dict.fromName("A-z_0.9-" + "x".repeat(56), { client }).name).toHaveLength(64);
  });

  it("keeps the same name in two environments apart", async () => {
    const a = Dict.fromName("shared-name", { createIfMissing: true, client });
    const b = Dict.fromName("shared-name", { createIfMissing: true, environmentName: "dev", client });
    await a.put("k", "main");
    await b.put("k", "dev");
    expect(await a.get("k")).toBe("main");
    expect(await b.get("k")).toBe("dev");
    expect(a.objectId).not.toBe(b.objectId);
  });

  it("fromId reaches the same dict; an unknown id is NotFoundError on use", async () => {
    const d = fresh();
    await d.put("k", 42);
    const same = Dict.fromId(d.objectId, { client });
    expect(await same.get("k")).toBe(42);
    await expect(Dict.fromId("di-doesnotexist0000000", { client }).get("k")).rejects.toBeInstanceOf(NotFoundError);
    expect(() => Dict.fromId("not-an-id", { client })).toThrow(InvalidError);
  });
});

describe("entries", () => {
  it("get returns the default only when the key is absent; a stored null is null", async () => {
    const d = fresh();
    expect(await d.get("missing")).toBeUndefined();
    expect(await d.get("missing", "dflt")).toBe("dflt");
    await d.put("nul", null);
    expect(await d.get("nul", "dflt")).toBeNull();
    await d.put("zero", 0);
    expect(await d.get("zero", 7)).toBe(0);
  });

  it("put overwrites and reports true; skipIfExists keeps the first value", async () => {
    const d = fresh();
    expect(await d.put("k", 1)).toBe(true);
    expect(await d.put("k", 2)).toBe(true);
    expect(await d.get("k")).toBe(2);
    expect(await d.put("k", 3, { skipIfExists: true })).toBe(false);
    expect(await d.get("k")).toBe(2);
    expect(await d.put("new", 9, { skipIfExists: true })).toBe(true);
    expect(await d.get("new")).toBe(9);
  });

  it("contains", async () => {
    const d = fresh();
    expect(await d.contains("k")).toBe(false);
    await d.put("k", undefined);
    expect(await d.contains("k")).toBe(true);
  });

  it("update takes an object, a Map or pairs, and extra overrides", async () => {
    const d = fresh();
    await d.update({ a: 1, b: 2 });
    await d.update(new Map<unknown, number>([[1, 10], [{ x: 1 }, 11]]) as Map<never, number>);
    await d.update([["p", 5], ["q", 6]] as const, { q: 60, r: 70 });
    expect(await d.len()).toBe(7);
    expect(await d.get("a")).toBe(1);
    expect(await d.get(1)).toBe(10);
    expect(await d.get({ x: 1 })).toBe(11);
    expect(await d.get("q")).toBe(60);
    expect(await d.get("r")).toBe(70);
    await d.update({ a: 100 }, { a: 200 });
    expect(await d.get("a")).toBe(200);
  });

  it("update writes nothing when any value is bad", async () => {
    const d = fresh();
    const many: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) many[`k${i}`] = i;
    many.k150 = () => "functions cannot be stored";
    await expect(d.update(many as Record<string, number>)).rejects.toBeInstanceOf(InvalidError);
    await expect(d.update([["ok", 1], ["also", Symbol("no")]] as never)).rejects.toBeInstanceOf(InvalidError);
    await expect(d.update([["ok", 1], [undefined, 2]] as never)).rejects.toBeInstanceOf(InvalidError);
    await expect(d.update("not a mapping" as never)).rejects.toBeInstanceOf(InvalidError);
    // Something that is not a [key, value] pair, in an array or in any other iterable.
    await expect(d.update([["ok", 1], ["short"]] as never)).rejects.toBeInstanceOf(InvalidError);
    await expect(d.update(new Set<unknown>([["ok", 1], 5]) as never)).rejects.toBeInstanceOf(InvalidError);
    expect(await d.len()).toBe(0);
  });

  it("pop returns and removes; KeyError only without a default", async () => {
    const d = fresh();
    await d.put("k", { v: 1 });
    expect(await d.pop("k")).toEqual({ v: 1 });
    expect(await d.contains("k")).toBe(false);
    await expect(d.pop("k")).rejects.toBeInstanceOf(KeyError);
    await expect(d.pop("k")).rejects.toMatchObject({ name: "KeyError" });
    expect(await d.pop("k", "dflt")).toBe("dflt");
    expect(await d.pop("k", undefined)).toBeUndefined();
    expect(await d.pop("k", null)).toBeNull();
  });

  it("delete removes; KeyError when missing", async () => {
    const d = fresh();
    await d.put("k", 1);
    await d.delete("k");
    expect(await d.contains("k")).toBe(false);
    const err = await d.delete("k").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyError);
    expect((err as Error).message).toContain('"k"');
  });

  it("clear empties the dict but the dict stays", async () => {
    const d = fresh();
    await d.update(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])));
    expect(await d.len()).toBe(300);
    await d.clear();
    expect(await d.len()).toBe(0);
    expect(await d.get("k1")).toBeUndefined();
    await d.put("after", 1);
    expect(await d.len()).toBe(1);
  });

  it("len is exact across shards", async () => {
    const d = fresh();
    expect(await d.len()).toBe(0);
    await d.update(Object.fromEntries(Array.from({ length: 1234 }, (_, i) => [`k${i}`, i])));
    expect(await d.len()).toBe(1234);
    await d.delete("k7");
    await d.pop("k8");
    await d.put("k9", "overwritten");
    expect(await d.len()).toBe(1232);
  });

  it("keys, values and items stream every entry once", async () => {
    const d = fresh();
    const want = new Map<string, number>(Array.from({ length: 2500 }, (_, i) => [`key-${i}`, i * 2]));
    await d.update(want);
    const keys: unknown[] = [];
    for await (const k of d.keys()) keys.push(k);
    expect(keys).toHaveLength(2500);
    expect(new Set(keys)).toEqual(new Set(want.keys()));
    const values: unknown[] = [];
    for await (const v of d.values()) values.push(v);
    expect(values.sort((a, b) => (a as number) - (b as number))).toEqual([...want.values()].sort((a, b) => a - b));
    const items = new Map<unknown, unknown>();
    for await (const [k, v] of d.items()) items.set(k, v);
    expect(items).toEqual(want);
  });

  it("iterating an empty dict yields nothing", async () => {
    const d = fresh();
    const seen: unknown[] = [];
    for await (const item of d.items()) seen.push(item);
    expect(seen).toEqual([]);
  });

  it("info gives name, creation time and creator", async () => {
    const before = Date.now();
    const d = Dict.fromName("with-info", { createIfMissing: true, client });
    const info = await d.info();
    expect(info.name).toBe("with-info");
    expect(info.createdAt).toBeInstanceOf(Date);
    expect(info.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(info.createdAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    expect(typeof info.createdBy).toBe("string");
  });
});
