import { describe, expect, it } from "vitest";
import { PartitionHost } from "../../src/shard/partition-host.js";
import { keyString } from "../../src/store/partition-store.js";
import { MemoryEngine } from "../../src/store/storage-engine.js";
import { encodeKey, type DictKey } from "../../src/protocol/keys.js";
import { FakeClock } from "../helpers/fake-clock.js";

const TTL = 1000;
const SWEEP = 250;
const D = "dict-a";
const D2 = "dict-b";

const k = (key: DictKey): string => keyString(encodeKey(key));
const val = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "utf8"));

function setup(sweepMs = SWEEP): { clock: FakeClock; host: PartitionHost } {
  const clock = new FakeClock(0);
  const host = new PartitionHost({ ttlMs: TTL, engine: new MemoryEngine(), clock, sweepMs });
  return { clock, host };
}

describe("PartitionHost", () => {
  it("creates one store per partition on first use", () => {
    const { host } = setup();
    expect(host.existing(3)).toBeUndefined();
    const s = host.store(3);
    expect(s.part).toBe(3);
    expect(host.store(3)).toBe(s);
    expect(host.existing(3)).toBe(s);
    expect(host.entryCount()).toBe(0);
  });

  it("counts entries over every partition and dict", () => {
    const { host, clock } = setup();
    host.store(0).put(D, k(1), val("a"), false, clock.now());
    host.store(1).put(D, k(1), val("a"), false, clock.now());
    host.store(1).put(D2, k(1), val("a"), false, clock.now());
    expect(host.entryCount()).toBe(3);
  });

  it("after start(), the sweep timer removes entries within sweepMs of their deadline, never before", () => {
    const { host, clock } = setup();
    // Deadlines spread over several partitions and off the sweep grid.
    const deadlines: number[] = [];
    const puts: [part: number, at: number][] = [
      [0, 0],
      [1, 0],
      [2, 130],
      [0, 249],
      [3, 250],
      [1, 371],
      [4, 599],
      [2, 777],
    ];
    host.start();
    let i = 0;
    for (const [part, at] of [...puts].sort((a, b) => a[1] - b[1])) {
      clock.advanceTo(at);
      host.store(part).put(D, k(i++), val("v"), false, clock.now());
      deadlines.push(at + TTL);
    }
    const liveAt = (t: number): number => deadlines.filter((d) => d > t).length;
    const end = Math.max(...deadlines) + SWEEP;
    for (let t = clock.now(); t <= end; t++) {
      clock.advanceTo(t);
      const n = host.entryCount();
      // Nothing goes before its deadline...
      expect(n).toBeGreaterThanOrEqual(liveAt(t));
      // ...and everything goes within sweepMs of it.
      expect(n).toBeLessThanOrEqual(liveAt(t - SWEEP));
    }
    expect(host.entryCount()).toBe(0);
  });

  it("an entry is swept at the first tick at or after its deadline", () => {
    const { host, clock } = setup();
    host.start();
    clock.advanceTo(100);
    host.store(0).put(D, k("a"), val("v"), false, clock.now()); // deadline 1100
    clock.advanceTo(1000);
    expect(host.entryCount()).toBe(1); // the tick at 1000 is before the deadline
    clock.advanceTo(1249);
    expect(host.entryCount()).toBe(1); // expired, but no tick since
    clock.advanceTo(1250);
    expect(host.entryCount()).toBe(0);
  });

  it("entries read before their deadline survive the sweep", () => {
    const { host, clock } = setup();
    host.start();
    host.store(0).put(D, k("read"), val("r"), false, clock.now());
    host.store(0).put(D, k("unread"), val("u"), false, clock.now());
    clock.advanceTo(900);
    expect(host.store(0).get(D, k("read"), clock.now())).toBeDefined(); // deadline now 1900
    clock.advanceTo(1000 + SWEEP);
    expect(host.entryCount()).toBe(1);
    expect(host.store(0).contains(D, k("unread"), clock.now())).toBe(false);
    clock.advanceTo(1899);
    expect(host.entryCount()).toBe(1);
    clock.advanceTo(1900 + SWEEP);
    expect(host.entryCount()).toBe(0);
  });

  it("keeps exactly one timer scheduled while running", () => {
    const { host, clock } = setup();
    expect(clock.pendingTimers).toBe(0);
    host.start();
    for (let t = 0; t < 5000; t += 97) {
      clock.advanceTo(t);
      expect(clock.pendingTimers).toBe(1);
    }
  });

  it("stop() cancels the timer: expired entries then wait for an explicit sweep", () => {
    const { host, clock } = setup();
    host.start();
    host.store(0).put(D, k("a"), val("v"), false, clock.now());
    clock.advanceTo(500);
    host.stop();
    expect(clock.pendingTimers).toBe(0);
    clock.advanceTo(5000);
    expect(host.entryCount()).toBe(1); // not swept...
    expect(host.store(0).get(D, k("a"), clock.now())).toBeUndefined(); // ...but not readable either
  });

  it("sweep() can be called directly and only removes what is due", () => {
    const { host, clock } = setup();
    host.store(0).put(D, k("a"), val("v"), false, 0);
    host.store(5).put(D, k("b"), val("v"), false, 500);
    clock.advanceTo(999);
    host.sweep();
    expect(host.entryCount()).toBe(2);
    clock.advanceTo(1000);
    host.sweep();
    expect(host.entryCount()).toBe(1);
    clock.advanceTo(1500);
    host.sweep();
    expect(host.entryCount()).toBe(0);
  });

  it("a large backlog is swept over several ticks, in bounded steps", () => {
    const { host, clock } = setup();
    const keys = Array.from({ length: 25_000 }, (_, i) => k(i));
    host.store(0).update(D, keys, keys.map(() => val("v")), 0);
    host.start();
    clock.advanceTo(TTL);
    const afterFirst = host.entryCount();
    expect(afterFirst).toBeGreaterThan(0);
    expect(afterFirst).toBeLessThan(25_000);
    clock.advanceTo(TTL + 10 * SWEEP);
    expect(host.entryCount()).toBe(0);
  });

  it("dropDict forgets a dict in every partition", () => {
    const { host, clock } = setup();
    for (let p = 0; p < 4; p++) {
      host.store(p).put(D, k(p), val("a"), false, clock.now());
      host.store(p).put(D2, k(p), val("b"), false, clock.now());
    }
    host.dropDict(D);
    expect(host.entryCount()).toBe(4);
    for (let p = 0; p < 4; p++) {
      expect(host.store(p).count(D, clock.now())).toBe(0);
      expect(host.store(p).count(D2, clock.now())).toBe(1);
    }
  });
});
