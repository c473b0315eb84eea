import { describe, expect, it } from "vitest";
import { Deferred } from "../../src/util/deferred.js";
import { PendingWrites } from "../../src/shard/pending-writes.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { keyString } from "../../src/store/partition-store.js";

const deferred = () => new Deferred();

const k = (s: string) => encodeKey(s);
const ks = (...xs: string[]) => xs.map((x) => keyString(encodeKey(x)));

function waitsFor(p: PendingWrites, part: number, dict: string, keys: string[] | undefined): Promise<unknown>[] {
  const out: Promise<unknown>[] = [];
  p.collect(part, dict, keys, out);
  return out;
}

describe("PendingWrites", () => {
  it("finds a pending write by partition, dict and key, and nothing else", () => {
    const p = new PendingWrites();
    const w = deferred();
    p.add(3, "d1", [k("a")], w.promise);
    expect(waitsFor(p, 3, "d1", ks("a"))).toEqual([w.promise]);
    expect(waitsFor(p, 3, "d1", ks("b"))).toEqual([]);
    expect(waitsFor(p, 3, "d2", ks("a"))).toEqual([]);
    expect(waitsFor(p, 4, "d1", ks("a"))).toEqual([]);
  });

  it("matches any of several keys against a many-key write", () => {
    const p = new PendingWrites();
    const w = deferred();
    p.add(0, "d", ["a", "b", "c"].map(k), w.promise);
    expect(waitsFor(p, 0, "d", ks("x", "c"))).toEqual([w.promise]);
    expect(waitsFor(p, 0, "d", ks("b"))).toEqual([w.promise]);
    expect(waitsFor(p, 0, "d", ks("x", "y"))).toEqual([]);
  });

  it("a whole-dict write (clear) holds every key of that dict, not of others", () => {
    const p = new PendingWrites();
    const w = deferred();
    p.add(1, "d", undefined, w.promise);
    expect(waitsFor(p, 1, "d", ks("anything"))).toEqual([w.promise]);
    expect(waitsFor(p, 1, "other", ks("anything"))).toEqual([]);
  });

  it("partition-wide readers see every write of their dict in the partition", () => {
    const p = new PendingWrites();
    const a = deferred();
    const b = deferred();
    const c = deferred();
    p.add(2, "d", [k("a")], a.promise);
    p.add(2, "d", [k("b")], b.promise);
    p.add(2, "e", [k("a")], c.promise);
    expect(waitsFor(p, 2, "d", undefined)).toEqual([a.promise, b.promise]);
    expect(p.all(2)).toEqual([a.promise, b.promise, c.promise]);
  });

  it("forgets a write once it settles, fulfilled or rejected", async () => {
    const p = new PendingWrites();
    const ok = deferred();
    const bad = deferred();
    p.add(5, "d", [k("a")], ok.promise);
    p.add(6, "d", [k("a")], bad.promise);
    expect(p.size).toBe(2);
    ok.resolve();
    bad.reject(new Error("lost"));
    await Promise.allSettled([ok.promise, bad.promise]);
    await Promise.resolve();
    expect(waitsFor(p, 5, "d", ks("a"))).toEqual([]);
    expect(waitsFor(p, 6, "d", ks("a"))).toEqual([]);
    expect(p.all(5)).toEqual([]);
    expect(p.size).toBe(0);
  });

  it("counts writes, not partitions, and says which partitions have any", async () => {
    const p = new PendingWrites();
    const a = deferred();
    const b = deferred();
    p.add(1, "d", [k("a")], a.promise);
    p.add(1, "d", [k("b")], b.promise);
    expect([p.size, p.any(1), p.any(2)]).toEqual([2, true, false]);
    a.resolve();
    await a.promise;
    await Promise.resolve();
    expect([p.size, p.any(1)]).toEqual([1, true]);
    b.resolve();
    await b.promise;
    await Promise.resolve();
    expect([p.size, p.any(1)]).toEqual([0, false]);
    // The partition's set is kept for its next write, and a write made then counts again.
    const c = deferred();
    p.add(1, "d", [k("c")], c.promise);
    expect(waitsFor(p, 1, "d", ks("c"))).toEqual([c.promise]);
    expect(p.size).toBe(1);
  });

  it("a write settling before later ones of its partition leaves exactly the others pending", async () => {
    const p = new PendingWrites();
    const ws = ["a", "b", "c", "d"].map((key) => ({ key, d: deferred() }));
    for (const w of ws) p.add(4, "d", k(w.key), w.d.promise);
    // The first and the third settle (one rejected), out of order.
    (ws[2] as (typeof ws)[number]).d.resolve();
    (ws[0] as (typeof ws)[number]).d.reject(new Error("lost"));
    await Promise.allSettled([ws[0]?.d.promise, ws[2]?.d.promise]);
    await Promise.resolve();
    expect(p.size).toBe(2);
    for (const w of ws) expect(waitsFor(p, 4, "d", ks(w.key))).toEqual(w.key === "b" || w.key === "d" ? [w.d.promise] : []);
    expect(p.all(4)).toHaveLength(2);
  });
});
