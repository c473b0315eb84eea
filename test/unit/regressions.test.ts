/** Regression tests for defects found in review of the first version. */
import { describe, expect, it } from "vitest";
import { pack } from "msgpackr";
import { encodeKey } from "../../src/protocol/keys.js";
import { InvalidError } from "../../src/errors.js";
import { ExpiryQueue } from "../../src/store/expiry-queue.js";
import { PartitionStore, keyString } from "../../src/store/partition-store.js";
import { MemoryEngine } from "../../src/store/storage-engine.js";
import { PartitionHost } from "../../src/shard/partition-host.js";
import { DEFAULT_CONFIG, parseConfig } from "../../src/config/cluster-config.js";
import { decodeMessage } from "../../src/protocol/codec.js";
import { FakeClock } from "../helpers/fake-clock.js";

const val = (s: string) => Uint8Array.from(Buffer.from(s));

describe("keys with lone surrogates", () => {
  it("are refused instead of colliding with U+FFFD", () => {
    expect(() => encodeKey("\uD800")).toThrow(InvalidError);
    expect(() => encodeKey("a\uDC00b")).toThrow(InvalidError);
    expect(() => encodeKey({ ["\uD83D"]: 1 })).toThrow(InvalidError);
    expect(() => encodeKey(["\uD83D"])).toThrow(InvalidError);
    expect(encodeKey("\uFFFD")).toBeInstanceOf(Uint8Array);
    expect(encodeKey("😀")).toBeInstanceOf(Uint8Array);
  });
});

describe("expiry heap holds no deleted entries", () => {
  it("remove() takes an item out at once and keeps heap order", () => {
    type It = { scheduled: number; heapIndex: number };
    const q = new ExpiryQueue<It>();
    const items: It[] = Array.from({ length: 200 }, (_, i) => ({ scheduled: (i * 7919) % 200, heapIndex: -1 }));
    for (const it of items) q.push(it, it.scheduled);
    for (let i = 0; i < items.length; i += 3) q.remove(items[i] as It);
    q.remove(items[0] as It); // twice is harmless
    const out: number[] = [];
    for (let it = q.pop(); it; it = q.pop()) out.push(it.scheduled);
    expect(out).toHaveLength(200 - Math.ceil(200 / 3));
    expect(out).toEqual([...out].sort((a, b) => a - b));
  });

  it("put/delete churn does not grow the heap", () => {
    const s = new PartitionStore({ part: 0, ttlMs: 1000, engine: new MemoryEngine() });
    const k = keyString(encodeKey("churn"));
    for (let i = 0; i < 1000; i++) {
      s.put("d", k, val(`v${i}`), false, i);
      expect(s.delete("d", k, i)).toBe(true);
    }
    expect(s.queued).toBe(0);
    for (let i = 0; i < 100; i++) s.put("d", keyString(encodeKey(i)), val("x"), false, 0);
    for (let i = 0; i < 100; i += 2) s.pop("d", keyString(encodeKey(i)), 0);
    expect(s.queued).toBe(50);
  });

  it("a scan of an unknown dict does not create it, and a scan outlives the eviction of its session", () => {
    const s = new PartitionStore({ part: 0, ttlMs: 1000, engine: new MemoryEngine() });
    const page = s.scan("nope", null, undefined, 10, false, 0);
    expect(page.keys).toEqual([]);
    expect(page.next).toBeNull();
    expect(s.size).toBe(0);
    for (let i = 0; i < 20; i++) s.put("d", keyString(encodeKey(i)), val("x"), false, 0);
    let next = s.scan("d", null, undefined, 1, false, 0);
    const seen = [...next.keys.map(keyString)];
    // 1,100 other scans start meanwhile (sessions are capped at 1,024): positions still work.
    for (let i = 0; i < 1100 && next.next !== null; i++) {
      s.scan("d", null, undefined, 1, false, 1);
      if (i % 50 === 0) {
        next = s.scan("d", keyString(next.next), next.session, 1, false, 1);
        seen.push(...next.keys.map(keyString));
      }
    }
    while (next.next !== null) {
      next = s.scan("d", keyString(next.next), next.session, 5, false, 1);
      seen.push(...next.keys.map(keyString));
    }
    expect(seen).toHaveLength(20);
    expect(new Set(seen).size).toBe(20);
  });
});

describe("PartitionHost", () => {
  it("start() twice keeps one sweep timer", () => {
    const clock = new FakeClock(0);
    const host = new PartitionHost({ ttlMs: 1000, engine: new MemoryEngine(), clock });
    host.start();
    host.start();
    expect(clock.pendingTimers).toBe(1);
    host.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("config defaults", () => {
  it("a parsed config shares nothing with the defaults", () => {
    const a = parseConfig({});
    a.shards.push({ id: "extra", host: "127.0.0.1", port: 1 });
    a.coordinator.port = 1;
    expect(DEFAULT_CONFIG.shards).toHaveLength(3);
    expect(DEFAULT_CONFIG.coordinator.port).toBe(7700);
  });
});

describe("codec", () => {
  it("treats non-plain top-level values as not a frame", () => {
    expect(decodeMessage(pack(new Date(0)))).toBeNull();
    expect(decodeMessage(pack(Buffer.from("x")))).toBeNull();
    expect(decodeMessage(Buffer.from([0xc1]))).toBeNull();
  });
});

describe("sweep budget", () => {
  it("is shared by all partitions, so clearing a million entries is spread over many sweeps", () => {
    const clock = new FakeClock(0);
    const host = new PartitionHost({ ttlMs: 1_000_000, engine: new MemoryEngine(), clock });
    for (let p = 0; p < 50; p++) {
      const s = host.store(p);
      for (let i = 0; i < 1000; i++) s.put("d", keyString(encodeKey(`${p}-${i}`)), val("v"), false, 0);
      s.clear("d");
    }
    const queued = () => Array.from({ length: 50 }, (_, p) => host.store(p).queued).reduce((a, b) => a + b, 0);
    expect(queued()).toBe(50_000);
    host.sweep(20_000);
    expect(queued()).toBe(30_000);
    host.sweep(20_000);
    host.sweep(20_000);
    expect(queued()).toBe(0);
  });

  it("mass expiry is spread over sweeps too, and no partition is starved", () => {
    const clock = new FakeClock(0);
    const host = new PartitionHost({ ttlMs: 1000, engine: new MemoryEngine(), clock });
    for (let p = 0; p < 10; p++) for (let i = 0; i < 100; i++) host.store(p).put("d", keyString(encodeKey(`${p}-${i}`)), val("v"), false, 0);
    clock.advance(2000);
    host.sweep(250);
    expect(host.entryCount()).toBe(750);
    for (let i = 0; i < 3; i++) host.sweep(250);
    expect(host.entryCount()).toBe(0);
  });
});
