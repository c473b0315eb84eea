/** The shard's versioned operations on a store: conditions, counters, and parked waiters. */
import { describe, expect, it } from "vitest";
import { Packr } from "msgpackr";
import { PartitionStore, keyString } from "../../src/store/partition-store.js";
import { MemoryEngine } from "../../src/store/storage-engine.js";
import { applyEntryOp, counterValue, type EntryFrame } from "../../src/shard/entry-ops.js";
import { KeyWaiters, MAX_WAITERS } from "../../src/shard/key-waiters.js";
import { InvalidError } from "../../src/errors.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { FakeClock } from "../helpers/fake-clock.js";

const D = "dict-a";
const packr = new Packr({ structuredClone: true });
const key = encodeKey("k");
const k = keyString(key);
const noCheck = () => {};

function op(store: PartitionStore, frame: Partial<EntryFrame> & { type: EntryFrame["type"] }, now = 0): unknown {
  return applyEntryOp({ rid: 1, dict: D, part: 0, epoch: 1, key, ...frame } as EntryFrame, store, k, now, noCheck);
}
const newStore = () => new PartitionStore({ part: 0, ttlMs: 10_000, engine: new MemoryEngine() });

describe("counterValue", () => {
  it("reads every number encoding msgpackr writes, and bigints of any size", () => {
    for (const v of [0, 1, 127, 128, 255, 65_536, 2 ** 32, -1, -33, -(2 ** 31), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0n, 5n, -5n, 2n ** 63n, 2n ** 64n, -(2n ** 200n)]) {
      expect(counterValue(packr.pack(v), "x")).toBe(v);
    }
  });

  it("refuses anything else with InvalidError, without decoding non-numbers", () => {
    for (const v of ["5", 1.5, Number.NaN, Infinity, null, true, [1], { n: 1 }, new Date(0), new Uint8Array([1])]) {
      expect(() => counterValue(packr.pack(v), "x")).toThrow(InvalidError);
    }
    expect(() => counterValue(new Uint8Array(0), "x")).toThrow(InvalidError);
    expect(() => counterValue(Uint8Array.from([0xcb, 1, 2]), "x")).toThrow(InvalidError); // cut short
  });
});

describe("applyEntryOp", () => {
  it("incr adds to numbers and bigints, refuses mixes and overflow, and changes nothing then", () => {
    const s = newStore();
    const incr = (delta: number | bigint) => packr.unpack(op(s, { type: "incr", delta: packr.pack(delta) }) as Uint8Array) as number | bigint;
    expect(incr(5)).toBe(5);
    expect(incr(-7)).toBe(-2);
    const ver = s.peek(D, k, 0)!.ver;
    expect(() => incr(1n)).toThrow(InvalidError);
    expect(() => incr(Number.MIN_SAFE_INTEGER)).toThrow(InvalidError);
    expect(s.peek(D, k, 0)!.ver).toBe(ver);
    expect(packr.unpack(Buffer.from(s.peek(D, k, 0)!.value, "latin1"))).toBe(-2);
  });

  it("putEntry answers the new version, or the current one when its condition fails", () => {
    const s = newStore();
    const first = op(s, { type: "putEntry", value: packr.pack(1), ifAbsent: false, ifVersion: null }) as { ok: boolean; ver: number };
    expect(first.ok).toBe(true);
    expect(op(s, { type: "putEntry", value: packr.pack(2), ifAbsent: false, ifVersion: null })).toEqual({ ok: false, ver: first.ver });
    expect(op(s, { type: "putEntry", value: packr.pack(2), ifAbsent: false, ifVersion: first.ver + 1 })).toEqual({ ok: false, ver: first.ver });
    expect(op(s, { type: "putEntry", value: packr.pack(2), ifAbsent: true })).toEqual({ ok: false, ver: first.ver });
    const second = op(s, { type: "putEntry", value: packr.pack(2), ifAbsent: false, ifVersion: first.ver }) as { ok: boolean; ver: number };
    expect(second.ok && second.ver > first.ver).toBe(true);
    expect(op(s, { type: "delEntry", ifVersion: first.ver })).toBe(false);
    expect(op(s, { type: "delEntry", ifVersion: null })).toBe(false);
    expect(op(s, { type: "delEntry", ifVersion: second.ver })).toBe(true);
    expect(op(s, { type: "putEntry", value: packr.pack(3), ifAbsent: false, ifVersion: second.ver })).toEqual({ ok: false, ver: null });
  });
});

describe("KeyWaiters", () => {
  const setup = () => {
    const clock = new FakeClock(0);
    const s = newStore();
    const w = new KeyWaiters(clock);
    return { clock, s, w };
  };
  const settled = async (p: unknown) => {
    let out: unknown = "pending";
    void Promise.resolve(p).then((v) => (out = v));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    return out;
  };

  it("answers at once when the key already left the version, else parks until a write", async () => {
    const { s, w } = setup();
    expect(w.wait(s, D, k, 5, 1_000)).toBe(true); // absent, not at 5
    const ver = s.write(D, k, Uint8Array.of(1), 0);
    const p = w.wait(s, D, k, ver, 1_000);
    expect(await settled(p)).toBe("pending");
    s.write(D, k, Uint8Array.of(2), 0);
    expect(await settled(p)).toBe(true);
    expect(w.size).toBe(0);
    expect(s.onChange).toBeUndefined();
  });

  it("wakes on delete, clear and expiry by the sweep, and does not move the deadline while it waits", async () => {
    const { clock, s, w } = setup();
    for (const end of ["delete", "clear", "expire"] as const) {
      const ver = s.write(D, k, Uint8Array.of(1), clock.now());
      const deadline = s.peek(D, k, clock.now())!.deadline;
      const p = w.wait(s, D, k, ver, 60_000);
      if (end === "delete") s.delete(D, k, clock.now());
      if (end === "clear") s.clear(D);
      if (end === "expire") {
        clock.advance(5_000);
        expect(await settled(p)).toBe("pending");
        expect(s.peek(D, k, clock.now())!.deadline).toBe(deadline);
        clock.advance(5_000);
        s.expireDue(clock.now());
      }
      expect(await settled(p)).toBe(true);
    }
  });

  it("answers false at its timeout, and refuses to park past MAX_WAITERS", async () => {
    const { clock, s, w } = setup();
    const ver = s.write(D, k, Uint8Array.of(1), 0);
    const p = w.wait(s, D, k, ver, 1_000);
    clock.advance(999);
    expect(await settled(p)).toBe("pending");
    clock.advance(1);
    expect(await settled(p)).toBe(false);
    expect(w.wait(s, D, k, ver, 0)).toBe(false);
    expect(MAX_WAITERS).toBeGreaterThan(1000);
  });
});
