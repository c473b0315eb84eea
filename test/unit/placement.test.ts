import { describe, expect, it } from "vitest";
import { hashString, murmur3, partitionOf } from "../../src/hashing/hash.js";
import { placePartitions } from "../../src/hashing/ring.js";
import { encodeKey } from "../../src/protocol/keys.js";

const utf8 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "utf8"));

describe("murmur3 (x86, 32-bit)", () => {
  it("hashes the empty string with seed 0 to 0", () => {
    expect(murmur3(new Uint8Array(), 0)).toBe(0);
    expect(murmur3(new Uint8Array())).toBe(0);
  });

  it('hashes "hello" with seed 0 to 0x248bfa47', () => {
    expect(murmur3(utf8("hello"), 0)).toBe(0x248bfa47);
    expect(murmur3(utf8("hello"), 0)).toBe(613153351);
  });

  // Published MurmurHash3_x86_32 vectors, plus a few checked against an independent
  // reference implementation (the last three). They cover 0-3 byte tails, several body
  // blocks, and seeds with the top bit set.
  it.each<[string, Uint8Array, number, number]>([
    ["empty, seed 1", new Uint8Array(), 1, 0x514e28b7],
    ["empty, seed 0xffffffff", new Uint8Array(), 0xffffffff, 0x81f16f39],
    ["00 00 00 00", Uint8Array.of(0, 0, 0, 0), 0, 0x2362f9de],
    ["00 00 00", Uint8Array.of(0, 0, 0), 0, 0x85f0b427],
    ["00 00", Uint8Array.of(0, 0), 0, 0x30f4c306],
    ["00", Uint8Array.of(0), 0, 0x514e28b7],
    ["21 43 65 87", Uint8Array.of(0x21, 0x43, 0x65, 0x87), 0, 0xf55b516b],
    ["21 43 65 87, seed 0x5082edee", Uint8Array.of(0x21, 0x43, 0x65, 0x87), 0x5082edee, 0x2362f9de],
    ["21 43 65", Uint8Array.of(0x21, 0x43, 0x65), 0, 0x7e4a8634],
    ["21 43", Uint8Array.of(0x21, 0x43), 0, 0xa0f7b07a],
    ["21", Uint8Array.of(0x21), 0, 0x72661cf4],
    ["ff ff ff ff", Uint8Array.of(0xff, 0xff, 0xff, 0xff), 0, 0x76293b50],
    ['"Hello, world!", seed 1234', utf8("Hello, world!"), 1234, 0xfaf6cdb3],
    ['"Hello, world!", seed 4321', utf8("Hello, world!"), 4321, 0xbf505788],
    ["the quick brown fox", utf8("The quick brown fox jumps over the lazy dog"), 0x9747b28c, 0x2fa826cd],
    ['"x" * 100, seed 1234', utf8("x".repeat(100)), 1234, 0xd9cd4e9e],
    ["multibyte UTF-8, seed 7", utf8("héllo ✓ 😀"), 7, 0x3dd72538],
    ["bytes 0..255", Uint8Array.from({ length: 256 }, (_, i) => i), 0x9747b28c, 0xa7590507],
  ])("%s", (_, data, seed, expected) => {
    expect(murmur3(data, seed)).toBe(expected);
  });

  it("returns an unsigned 32-bit integer and depends only on the bytes a view covers", () => {
    const backing = utf8("__hello__");
    expect(murmur3(backing.subarray(2, 7))).toBe(0x248bfa47);
    for (let i = 0; i < 200; i++) {
      const h = murmur3(utf8(`key-${i}`), i * 7919);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThanOrEqual(0xffffffff);
    }
  });

  it("hashString hashes the UTF-8 bytes of a string", () => {
    for (const s of ["", "hello", "日本語", "😀", "a\u0000b"]) {
      expect(hashString(s)).toBe(murmur3(utf8(s)));
      expect(hashString(s, 99)).toBe(murmur3(utf8(s), 99));
    }
  });
});

describe("partitionOf", () => {
  const keys = Array.from({ length: 2000 }, (_, i) => encodeKey(i % 2 === 0 ? `user:${i}` : [i, { tag: "x" }]));

  it("is deterministic and always an integer in [0, partitions)", () => {
    for (const partitions of [1, 2, 7, 256, 65536]) {
      const bad: unknown[] = [];
      for (const k of keys) {
        const p = partitionOf("dict-abc", k, partitions);
        if (!Number.isInteger(p) || p < 0 || p >= partitions) bad.push({ partitions, p });
        if (partitionOf("dict-abc", Uint8Array.from(k), partitions) !== p) bad.push({ partitions, p, again: true });
      }
      expect(bad).toEqual([]);
    }
  });

  it("is the key's murmur3 seeded by the dict id hash, mod partitions", () => {
    for (const k of keys.slice(0, 50)) {
      expect(partitionOf("my-dict", k, 256)).toBe(murmur3(k, hashString("my-dict")) % 256);
    }
  });

  it("spreads keys over every partition", () => {
    const counts = new Array<number>(16).fill(0);
    for (const k of keys) {
      const p = partitionOf("spread", k, 16);
      counts[p] = (counts[p] ?? 0) + 1;
    }
    // 2000 keys over 16 partitions: 125 expected in each.
    for (const c of counts) {
      expect(c).toBeGreaterThan(70);
      expect(c).toBeLessThan(190);
    }
  });

  it("places the same key independently in different dicts", () => {
    let same = 0;
    for (const k of keys) if (partitionOf("dict-one", k, 256) === partitionOf("dict-two", k, 256)) same++;
    // By chance about 1/256 of them agree.
    expect(same).toBeLessThan(40);
  });
});

describe("placePartitions", () => {
  const shards3 = ["shard-1", "shard-2", "shard-3"];
  const shards4 = [...shards3, "shard-4"];
  const P = 256;

  const primaries = (owners: string[][]): string[] => owners.map((o) => o[0] as string);

  it("gives every partition exactly one primary among the shards", () => {
    const owners = placePartitions(shards3, P);
    expect(owners).toHaveLength(P);
    for (const o of owners) {
      expect(o).toHaveLength(1);
      expect(shards3).toContain(o[0]);
    }
  });

  it("gives each of 3 shards a reasonable share of 256 partitions", () => {
    const counts = new Map<string, number>();
    for (const p of primaries(placePartitions(shards3, P))) counts.set(p, (counts.get(p) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(shards3);
    for (const [, c] of counts) {
      expect(c / P).toBeGreaterThanOrEqual(0.15);
      expect(c / P).toBeLessThanOrEqual(0.55);
    }
  });

  it("moves about a quarter of partitions, all to the new shard, when a 4th shard joins", () => {
    const before = primaries(placePartitions(shards3, P));
    const after = primaries(placePartitions(shards4, P));
    let moved = 0;
    for (let p = 0; p < P; p++) {
      if (before[p] === after[p]) continue;
      moved++;
      expect(after[p]).toBe("shard-4");
    }
    expect(moved / P).toBeGreaterThanOrEqual(0.15);
    expect(moved / P).toBeLessThanOrEqual(0.35);
    // And the new shard got nothing except what moved.
    expect(after.filter((s) => s === "shard-4")).toHaveLength(moved);
  });

  it("moves only the removed shard's partitions when a shard leaves", () => {
    const before = primaries(placePartitions(shards4, P));
    const after = primaries(placePartitions(shards3, P));
    for (let p = 0; p < P; p++) {
      if (before[p] !== "shard-4") expect(after[p]).toBe(before[p]);
    }
  });

  it("does not depend on the order of the shard id list", () => {
    const reference = placePartitions(shards4, P, 3);
    for (const order of [
      ["shard-4", "shard-3", "shard-2", "shard-1"],
      ["shard-2", "shard-4", "shard-1", "shard-3"],
      ["shard-3", "shard-1", "shard-4", "shard-2"],
    ]) {
      expect(placePartitions(order, P, 3)).toEqual(reference);
    }
  });

  it("is deterministic", () => {
    expect(placePartitions(shards3, P, 2)).toEqual(placePartitions([...shards3], P, 2));
  });

  it("picks distinct replicas, primary first, matching the rf=1 placement", () => {
    const rf1 = primaries(placePartitions(shards4, P, 1));
    for (const rf of [2, 3, 4]) {
      const owners = placePartitions(shards4, P, rf);
      expect(owners).toHaveLength(P);
      owners.forEach((o, p) => {
        expect(o).toHaveLength(rf);
        expect(new Set(o).size).toBe(rf);
        for (const s of o) expect(shards4).toContain(s);
        expect(o[0]).toBe(rf1[p]);
      });
    }
  });

  it("replica lists are prefixes of each other as rf grows", () => {
    const rf2 = placePartitions(shards4, P, 2);
    const rf3 = placePartitions(shards4, P, 3);
    rf3.forEach((o, p) => expect(o.slice(0, 2)).toEqual(rf2[p]));
  });

  it("caps replicas at the number of distinct shards", () => {
    for (const o of placePartitions(shards3, 64, 5)) expect([...o].sort()).toEqual(shards3);
    for (const o of placePartitions(["only"], 16, 3)) expect(o).toEqual(["only"]);
    for (const o of placePartitions(["a", "a", "b"], 16, 3)) expect([...o].sort()).toEqual(["a", "b"]);
  });

  it("refuses zero shards", () => {
    expect(() => placePartitions([], P)).toThrow();
  });

  it("handles zero partitions and a single vnode", () => {
    expect(placePartitions(shards3, 0)).toEqual([]);
    const owners = placePartitions(shards3, 32, 2, 1);
    for (const o of owners) expect(new Set(o).size).toBe(2);
  });
});
