import { describe, expect, it } from "vitest";
import { PartitionStore, keyString } from "../../src/store/partition-store.js";
import type { ScanPage } from "../../src/encoding/scan-page.js";
import { MemoryEngine, type Mutation, type RecoveredState, type StorageEngine } from "../../src/store/storage-engine.js";
import { decodeKey, encodeKey, type DictKey } from "../../src/protocol/keys.js";

const TTL = 1000;
const D = "dict-a";
const D2 = "dict-b";

const k = (key: DictKey): string => keyString(encodeKey(key));
const val = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "utf8"));
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString("utf8"));

function newStore(ttlMs = TTL, engine: StorageEngine = new MemoryEngine()): PartitionStore {
  return new PartitionStore({ part: 7, ttlMs, engine });
}

/** Where a scan goes on: the position (a key) and, optionally, the node's session. */
interface Cursor {
  after: string | null;
  session?: string;
}

interface Page {
  keys: Uint8Array[];
  values: Uint8Array[];
  cursor: Cursor | null;
}

/** One page, with the next position as a cursor (null when the partition is done). */
function scanPage(s: PartitionStore, dict: string, cursor: Cursor | null, limit: number, values: boolean, now: number, maxBytes?: number): Page {
  const p: ScanPage = s.scan(dict, cursor?.after ?? null, cursor?.session, limit, values, now, maxBytes);
  return { keys: p.keys, values: p.values, cursor: p.next === null ? null : { after: keyString(p.next), session: p.session } };
}

/** Scan a whole dict, page by page, calling `between` after each page. */
function scanAll(
  s: PartitionStore,
  dict: string,
  limit: number,
  now: number,
  between?: (pageNo: number, seen: readonly string[]) => void,
): { keys: string[]; pages: Page[] } {
  const keys: string[] = [];
  const pages: Page[] = [];
  let cursor: Cursor | null = null;
  do {
    const p: Page = scanPage(s, dict, cursor, limit, false, now);
    pages.push(p);
    for (const key of p.keys) keys.push(keyString(key));
    cursor = p.cursor;
    if (cursor !== null) between?.(pages.length, keys);
  } while (cursor !== null);
  return { keys, pages };
}

describe("keyString", () => {
  it("maps key bytes one-to-one to a latin1 string", () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const s = keyString(bytes);
    expect(s).toHaveLength(256);
    for (let i = 0; i < 256; i++) expect(s.charCodeAt(i)).toBe(i);
  });

  it("uses only the bytes a view covers", () => {
    const backing = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    expect(keyString(backing.subarray(2, 4))).toBe(keyString(Uint8Array.of(3, 4)));
  });

  it("is equal for equal keys and different for different keys", () => {
    expect(k({ a: 1, b: [2] })).toBe(k({ b: [2], a: 1 }));
    expect(k(1)).not.toBe(k("1"));
    expect(k(Buffer.from("xy"))).toBe(k(Uint8Array.from(Buffer.from("xy"))));
  });
});

describe("PartitionStore basics", () => {
  it("puts, gets, overwrites, deletes and pops", () => {
    const s = newStore();
    expect(s.get(D, k("a"), 0)).toBeUndefined();
    expect(s.put(D, k("a"), val("1"), false, 0)).toBe(true);
    expect(text(s.get(D, k("a"), 1))).toBe("1");
    expect(s.contains(D, k("a"), 1)).toBe(true);
    expect(s.contains(D, k("b"), 1)).toBe(false);
    expect(s.put(D, k("a"), val("2"), false, 2)).toBe(true);
    expect(text(s.get(D, k("a"), 3))).toBe("2");
    expect(s.count(D, 3)).toBe(1);
    expect(s.delete(D, k("a"), 4)).toBe(true);
    expect(s.delete(D, k("a"), 4)).toBe(false);
    expect(s.get(D, k("a"), 5)).toBeUndefined();
    s.put(D, k("p"), val("pv"), false, 5);
    expect(text(s.pop(D, k("p"), 6))).toBe("pv");
    expect(s.pop(D, k("p"), 6)).toBeUndefined();
    expect(s.count(D, 6)).toBe(0);
  });

  it("keeps dicts apart", () => {
    const s = newStore();
    s.put(D, k("x"), val("in a"), false, 0);
    s.put(D2, k("x"), val("in b"), false, 0);
    expect(text(s.get(D, k("x"), 1))).toBe("in a");
    expect(text(s.get(D2, k("x"), 1))).toBe("in b");
    s.delete(D, k("x"), 2);
    expect(s.get(D, k("x"), 3)).toBeUndefined();
    expect(text(s.get(D2, k("x"), 3))).toBe("in b");
  });

  it("copies the value it stores", () => {
    const s = newStore();
    const frame = val("hello world");
    s.put(D, k("a"), frame.subarray(0, 5), false, 0);
    frame.fill(0x21);
    expect(text(s.get(D, k("a"), 1))).toBe("hello");
  });

  it("update sets many keys at once", () => {
    const s = newStore();
    s.put(D, k(1), val("old"), false, 0);
    s.update(D, [k(1), k(2), k(3)], [val("a"), val("b"), val("c")], 10);
    expect(s.count(D, 10)).toBe(3);
    expect([1, 2, 3].map((i) => text(s.get(D, k(i), 11)))).toEqual(["a", "b", "c"]);
  });

  it("reports its partition and total size across dicts", () => {
    const s = newStore();
    expect(s.part).toBe(7);
    s.put(D, k(1), val("a"), false, 0);
    s.put(D, k(2), val("a"), false, 0);
    s.put(D2, k(1), val("a"), false, 0);
    expect(s.size).toBe(3);
  });
});

describe("PartitionStore expiry", () => {
  it("an entry is readable at deadline - 1", () => {
    const s = newStore();
    s.put(D, k("a"), val("v"), false, 100);
    expect(text(s.get(D, k("a"), 100 + TTL - 1))).toBe("v");
  });

  it("an entry is gone at exactly lastAccess + ttl", () => {
    for (const read of ["get", "contains", "pop", "delete", "put-ifAbsent"] as const) {
      const s = newStore();
      s.put(D, k("a"), val("v"), false, 100);
      const t = 100 + TTL;
      switch (read) {
        case "get":
          expect(s.get(D, k("a"), t)).toBeUndefined();
          break;
        case "contains":
          expect(s.contains(D, k("a"), t)).toBe(false);
          break;
        case "pop":
          expect(s.pop(D, k("a"), t)).toBeUndefined();
          break;
        case "delete":
          expect(s.delete(D, k("a"), t)).toBe(false);
          break;
        case "put-ifAbsent":
          expect(s.put(D, k("a"), val("new"), true, t)).toBe(true);
          break;
      }
      if (read !== "put-ifAbsent") expect(s.size).toBe(0);
    }
  });

  it("count() sees the boundary without refreshing anything", () => {
    const s = newStore();
    s.put(D, k("a"), val("v"), false, 0);
    expect(s.count(D, TTL - 1)).toBe(1);
    expect(s.count(D, TTL - 1)).toBe(1);
    expect(s.count(D, TTL)).toBe(0);
    expect(s.size).toBe(0);
  });

  it.each(["get", "contains", "put", "update"] as const)("%s refreshes the deadline to now + ttl", (op) => {
    const s = newStore();
    s.put(D, k("a"), val("v"), false, 0);
    const t = 600;
    switch (op) {
      case "get":
        expect(text(s.get(D, k("a"), t))).toBe("v");
        break;
      case "contains":
        expect(s.contains(D, k("a"), t)).toBe(true);
        break;
      case "put":
        expect(s.put(D, k("a"), val("v2"), false, t)).toBe(true);
        break;
      case "update":
        s.update(D, [k("a")], [val("v2")], t);
        break;
    }
    // Past the original deadline, still alive until t + ttl.
    expect(s.count(D, TTL)).toBe(1);
    expect(s.count(D, t + TTL - 1)).toBe(1);
    expect(s.count(D, t + TTL)).toBe(0);
  });

  it("a chain of reads keeps an entry alive indefinitely", () => {
    const s = newStore();
    s.put(D, k("a"), val("v"), false, 0);
    let t = 0;
    for (let i = 0; i < 50; i++) {
      t += TTL - 1;
      expect(text(s.get(D, k("a"), t))).toBe("v");
      s.expireDue(t);
    }
    expect(s.contains(D, k("a"), t + TTL - 1)).toBe(true);
    expect(s.get(D, k("a"), t + TTL - 1 + TTL)).toBeUndefined();
  });

  it("pop of a live entry returns it right up to its deadline", () => {
    const s = newStore();
    s.put(D, k("a"), val("v"), false, 0);
    s.get(D, k("a"), 500);
    expect(text(s.pop(D, k("a"), 500 + TTL - 1))).toBe("v");
    expect(s.contains(D, k("a"), 500 + TTL - 1)).toBe(false);
  });

  it("count() excludes expired entries and keeps live ones", () => {
    const s = newStore();
    for (let i = 0; i < 10; i++) s.put(D, k(i), val(`${i}`), false, i * 100);
    // Entry i expires at i*100 + TTL.
    expect(s.count(D, TTL - 1)).toBe(10);
    expect(s.count(D, TTL)).toBe(9);
    expect(s.count(D, TTL + 450)).toBe(5);
    expect(s.count(D, TTL + 900)).toBe(0);
    expect(s.count("no-such-dict", 0)).toBe(0);
  });

  it("expireDue removes only due entries and re-queues refreshed ones", () => {
    const s = newStore();
    s.put(D, k("a"), val("a"), false, 0); // deadline 1000, refreshed below to 1500
    s.put(D, k("b"), val("b"), false, 100); // deadline 1100
    s.put(D, k("c"), val("c"), false, 200); // deadline 1200
    s.get(D, k("a"), 500);
    expect(s.nextDeadline()).toBe(1000);

    expect(s.expireDue(999)).toBe(0);
    expect(s.size).toBe(3);

    expect(s.expireDue(1100)).toBe(1); // b only; a goes back in the heap at 1500
    expect(s.size).toBe(2);
    expect(s.nextDeadline()).toBe(1200);
    expect(s.contains(D, k("b"), 1100)).toBe(false);

    expect(s.expireDue(1200)).toBe(1); // c
    expect(s.nextDeadline()).toBe(1500);
    expect(text(s.get(D, k("a"), 1499))).toBe("a"); // refreshed again: 2499
    expect(s.expireDue(1500)).toBe(0);
    expect(s.size).toBe(1);
    expect(s.nextDeadline()).toBe(2499);
    expect(s.expireDue(2499)).toBe(1);
    expect(s.size).toBe(0);
    expect(s.nextDeadline()).toBeUndefined();
  });

  it("expireDue honours its budget", () => {
    const s = newStore();
    for (let i = 0; i < 10; i++) s.put(D, k(i), val("v"), false, 0);
    expect(s.expireDue(TTL, 4)).toBe(4);
    expect(s.size).toBe(6);
    expect(s.expireDue(TTL, 4)).toBe(4);
    expect(s.expireDue(TTL)).toBe(2);
    expect(s.size).toBe(0);
  });

  it("expireDue skips entries deleted or replaced since they were queued", () => {
    const s = newStore();
    s.put(D, k("a"), val("first"), false, 0);
    s.delete(D, k("a"), 10);
    s.put(D, k("a"), val("second"), false, 500); // a new entry, deadline 1500
    s.put(D, k("b"), val("b"), false, 0);
    s.pop(D, k("b"), 20);
    expect(s.expireDue(1000)).toBe(0);
    expect(text(s.get(D, k("a"), 1499))).toBe("second");
    expect(s.size).toBe(1);
  });

  it("entries overwritten after expiring (before the sweep) live on with the new deadline", () => {
    const s = newStore();
    s.put(D, k("a"), val("old"), false, 0);
    s.update(D, [k("a")], [val("new")], 5000);
    expect(s.expireDue(5000)).toBe(0);
    expect(text(s.get(D, k("a"), 5999))).toBe("new");
  });

  it("put with ifAbsent refuses a live entry and accepts once it expired", () => {
    const s = newStore();
    expect(s.put(D, k("a"), val("first"), true, 0)).toBe(true);
    expect(s.put(D, k("a"), val("second"), true, TTL - 1)).toBe(false);
    expect(text(s.get(D, k("a"), TTL - 1))).toBe("first");
    // The get above refreshed it to 2*TTL - 1.
    expect(s.put(D, k("a"), val("third"), true, 2 * TTL - 2)).toBe(false);
    expect(s.put(D, k("a"), val("fourth"), true, 2 * TTL - 1)).toBe(true);
    expect(text(s.get(D, k("a"), 2 * TTL))).toBe("fourth");
  });

  it("put with ifAbsent after a delete succeeds", () => {
    const s = newStore();
    s.put(D, k("a"), val("x"), false, 0);
    s.delete(D, k("a"), 1);
    expect(s.put(D, k("a"), val("y"), true, 2)).toBe(true);
    expect(text(s.get(D, k("a"), 3))).toBe("y");
  });
});

describe("PartitionStore clear and drop", () => {
  it("clear() empties one dict only", () => {
    const s = newStore();
    for (let i = 0; i < 20; i++) {
      s.put(D, k(i), val("a"), false, 0);
      s.put(D2, k(i), val("b"), false, 0);
    }
    s.clear(D);
    expect(s.count(D, 1)).toBe(0);
    expect(s.count(D2, 1)).toBe(20);
    expect(s.get(D, k(3), 1)).toBeUndefined();
    expect(text(s.get(D2, k(3), 1))).toBe("b");
    expect(s.size).toBe(20);
  });

  it("a cleared dict can be filled again and its old deadlines do not expire new entries", () => {
    const s = newStore();
    s.put(D, k("a"), val("old"), false, 0);
    s.clear(D);
    s.put(D, k("a"), val("new"), false, 500);
    // The cleared entry still sits in the heap until reclaimed, but cannot expire the new one.
    expect(s.reclaiming).toBe(true);
    expect(s.expireDue(1000)).toBe(0);
    expect(text(s.get(D, k("a"), 1499))).toBe("new");
    s.reclaim(10);
    expect(s.reclaiming).toBe(false);
    expect(s.nextDeadline()).toBe(1500); // a lower bound: the read at 1499 moved it lazily
  });

  it("reclaim() takes a cleared map's entries out of the heap in bounded batches", () => {
    const s = newStore();
    for (let i = 0; i < 1000; i++) s.put(D, k(i), val("v"), false, 0);
    s.clear(D);
    expect(s.count(D, 0)).toBe(0);
    expect(s.queued).toBe(1000);
    expect(s.reclaim(300)).toBe(300);
    expect(s.queued).toBe(700);
    expect(s.reclaim(10_000)).toBe(700);
    expect(s.queued).toBe(0);
    expect(s.reclaiming).toBe(false);
  });

  it("clear() of an empty or unknown dict removes nothing (it is still recorded, for watchers)", () => {
    const s = newStore();
    s.put(D2, k(1), val("b"), false, 0);
    s.clear(D);
    s.clear("never-seen");
    expect(s.count(D2, 0)).toBe(1);
  });

  it("drop() forgets a dict and its scans, leaving others alone", () => {
    const s = newStore();
    for (let i = 0; i < 10; i++) {
      s.put(D, k(i), val("a"), false, 0);
      s.put(D2, k(i), val("b"), false, 0);
    }
    const p = scanPage(s, D, null, 3, false, 0);
    const p2 = scanPage(s, D2, null, 3, false, 0);
    expect(p.cursor).not.toBeNull();
    s.drop(D);
    expect(s.count(D, 1)).toBe(0);
    expect(s.size).toBe(10);
    // Going on with the dropped dict finds nothing.
    expect(scanPage(s, D, p.cursor, 3, false, 1)).toEqual({ keys: [], values: [], cursor: null });
    // The other dict's scan carries on.
    const rest = scanPage(s, D2, p2.cursor, 100, false, 1);
    expect(rest.keys).toHaveLength(7);
    expect(rest.cursor).toBeNull();
    // The dropped name can be used again from scratch.
    s.put(D, k("fresh"), val("f"), false, 2);
    expect(s.count(D, 2)).toBe(1);
  });
});

describe("PartitionStore scan", () => {
  function fill(s: PartitionStore, dict: string, n: number, now: number, prefix = "k"): string[] {
    const ks: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = k(`${prefix}${i}`);
      s.put(dict, key, val(`v${i}`), false, now);
      ks.push(key);
    }
    return ks;
  }

  it("returns every entry exactly once across pages (10,000 entries, limit 333)", () => {
    const s = newStore();
    const all = fill(s, D, 10_000, 0);
    fill(s, D2, 50, 0, "other");
    const { keys, pages } = scanAll(s, D, 333, 1);
    expect(keys).toHaveLength(10_000);
    expect(new Set(keys).size).toBe(10_000);
    expect(new Set(keys)).toEqual(new Set(all));
    expect(pages).toHaveLength(Math.ceil(10_000 / 333));
    for (const p of pages) {
      expect(p.keys.length).toBeLessThanOrEqual(333);
      expect(p.values).toEqual([]);
    }
    // Keys come back as the canonical bytes that went in.
    expect(decodeKey(scanPage(s, D, null, 1, false, 1).keys[0] as Uint8Array)).toBe("k0");
  });

  it("returns values with keys when asked", () => {
    const s = newStore();
    fill(s, D, 100, 0);
    let cursor: Cursor | null = null;
    let n = 0;
    do {
      const p = scanPage(s, D, cursor, 7, true, 1);
      expect(p.values).toHaveLength(p.keys.length);
      p.keys.forEach((key, i) => {
        const name = decodeKey(key) as string;
        expect(text(p.values[i])).toBe(`v${name.slice(1)}`);
      });
      n += p.keys.length;
      cursor = p.cursor;
    } while (cursor !== null);
    expect(n).toBe(100);
  });

  it("does not refresh the entries it returns", () => {
    const s = newStore();
    fill(s, D, 5, 0);
    expect(scanPage(s, D, null, 10, false, TTL - 1).keys).toHaveLength(5);
    expect(s.count(D, TTL)).toBe(0);
  });

  it("skips expired entries", () => {
    const s = newStore();
    fill(s, D, 500, 0, "early");
    const late = fill(s, D, 500, 500, "late");
    const { keys } = scanAll(s, D, 64, TTL);
    expect(new Set(keys)).toEqual(new Set(late));
  });

  it("skips entries that expire while the scan is under way", () => {
    const s = newStore();
    const early = fill(s, D, 100, 0, "early");
    const late = fill(s, D, 100, 500, "late");
    const first = scanPage(s, D, null, 50, false, 10);
    const seen = first.keys.map(keyString);
    const firstKeys = [...seen];
    let cursor = first.cursor;
    while (cursor !== null) {
      const p = scanPage(s, D, cursor, 50, false, TTL);
      seen.push(...p.keys.map(keyString));
      cursor = p.cursor;
    }
    // Whatever the first page returned, then only entries still live after the early ones expired.
    expect(new Set(seen)).toEqual(new Set([...firstKeys, ...late]));
    expect(seen.filter((x) => early.includes(x) && !firstKeys.includes(x))).toEqual([]);
  });

  it("an empty or unknown dict scans to a single empty page", () => {
    const s = newStore();
    const p = scanPage(s, "nothing-here", null, 10, true, 0);
    expect(p).toEqual({ keys: [], values: [], cursor: null });
  });

  it("skips entries cleared after the scan began", () => {
    const s = newStore();
    fill(s, D, 1000, 0);
    const first = scanPage(s, D, null, 100, false, 1);
    expect(first.keys).toHaveLength(100);
    s.clear(D);
    const added = fill(s, D, 10, 2, "after-clear");
    const rest: string[] = [];
    let cursor = first.cursor;
    while (cursor !== null) {
      const p = scanPage(s, D, cursor, 100, false, 3);
      rest.push(...p.keys.map(keyString));
      cursor = p.cursor;
    }
    // Nothing from before the clear; entries put after it may or may not be seen.
    for (const x of rest) expect(added).toContain(x);
  });

  it("keys added during a scan do not break it", () => {
    const s = newStore();
    const original = fill(s, D, 2000, 0, "orig");
    const added: string[] = [];
    const { keys } = scanAll(s, D, 150, 1, (pageNo) => {
      added.push(...fill(s, D, 100, 1, `added${pageNo}-`));
    });
    expect(new Set(keys).size).toBe(keys.length); // no duplicates
    const got = new Set(keys);
    for (const x of original) expect(got.has(x)).toBe(true);
    const allowed = new Set([...original, ...added]);
    for (const x of keys) expect(allowed.has(x)).toBe(true);
  });

  it("entries deleted before being reached are not returned", () => {
    const s = newStore();
    const all = fill(s, D, 1000, 0);
    const first = scanPage(s, D, null, 100, false, 1);
    const seen = new Set(first.keys.map(keyString));
    const deleted = new Set<string>();
    all.forEach((x, i) => {
      if (!seen.has(x) && i % 2 === 0) {
        expect(s.delete(D, x, 2)).toBe(true);
        deleted.add(x);
      }
    });
    expect(deleted.size).toBe(450);
    const rest: string[] = [];
    let cursor = first.cursor;
    while (cursor !== null) {
      const p = scanPage(s, D, cursor, 100, false, 3);
      rest.push(...p.keys.map(keyString));
      cursor = p.cursor;
    }
    for (const x of rest) expect(deleted.has(x)).toBe(false);
    expect(rest).toHaveLength(1000 - 100 - 450);
    expect(new Set([...seen, ...rest]).size).toBe(550);
  });

  it("returns keys in byte order, and a position alone goes on where it left off", () => {
    const s = newStore();
    const all = fill(s, D, 500, 0);
    const p1 = scanPage(s, D, null, 100, false, 1);
    const got = p1.keys.map(keyString);
    expect(got).toEqual([...all].sort().slice(0, 100));
    // No session (another node after a move, or a restart): the position is enough.
    const rest = scanAll(s, D, 100, 1);
    expect(rest.keys).toEqual([...all].sort());
    let cursor: Cursor | null = { after: p1.cursor?.after ?? null };
    while (cursor !== null) {
      const p: Page = scanPage(s, D, cursor, 77, false, 1);
      got.push(...p.keys.map(keyString));
      cursor = p.cursor === null ? null : { after: p.cursor.after };
    }
    expect(got).toEqual([...all].sort());
  });

  it("continues on another store holding the same entries (a moved partition) exactly once", () => {
    const a = newStore();
    const all = fill(a, D, 1000, 0);
    const first = scanPage(a, D, null, 300, false, 1);
    // The partition moves: a new owner built from a snapshot, its map in another order.
    const b = newStore();
    b.applyReplicated([...a.snapshotChunks(100, () => 1)].flat().reverse().filter((m) => m.op !== "reset"));
    b.put(D, k("added-after-move"), val("x"), false, 2);
    const seen = first.keys.map(keyString);
    let cursor: Cursor | null = first.cursor === null ? null : { after: first.cursor.after, ...(first.cursor.session !== undefined && { session: first.cursor.session }) };
    while (cursor !== null) {
      const p: Page = scanPage(b, D, cursor, 300, false, 3);
      seen.push(...p.keys.map(keyString));
      cursor = p.cursor;
    }
    const counts = new Map<string, number>();
    for (const x of seen) counts.set(x, (counts.get(x) ?? 0) + 1);
    for (const x of all) expect(counts.get(x)).toBe(1);
  });

  it("a session of another dict is not used", () => {
    const s = newStore();
    fill(s, D, 10, 0);
    fill(s, D2, 3, 0, "other");
    const p = scanPage(s, D, null, 5, false, 1);
    const wrong = scanPage(s, D2, p.cursor, 5, false, 1);
    expect(wrong.keys.map(keyString).every((x) => String(decodeKey(Buffer.from(x, "latin1"))).startsWith("other"))).toBe(true);
    expect(scanPage(s, D, p.cursor, 5, false, 1).keys).toHaveLength(5);
  });

  it("idle sessions are dropped after five minutes; their positions still work", () => {
    const s = newStore(60 * 60_000);
    fill(s, D, 10, 0);
    const idle = scanPage(s, D, null, 2, false, 0).cursor;
    scanPage(s, D, null, 2, false, 5 * 60_000 + 1);
    expect(scanPage(s, D, idle, 2, false, 5 * 60_000 + 1).keys).toHaveLength(2);
  });

  it("stops a page once it holds maxBytes", () => {
    const s = newStore();
    for (let i = 0; i < 10; i++) s.put(D, k(i), new Uint8Array(100), false, 0);
    const p = scanPage(s, D, null, 1000, true, 1, 250);
    expect(p.keys).toHaveLength(3);
    expect(p.cursor).not.toBeNull();
  });
});

describe("PartitionStore with a durable engine", () => {
  class RecordingEngine implements StorageEngine {
    readonly durable = true;
    tight = false;
    reserve(): undefined {
      return undefined;
    }
    release(): void {}
    readonly batches: { part: number | undefined; mutations: Mutation[] }[] = [];
    commit(mutations: readonly Mutation[]): Promise<void> {
      const first = mutations[0];
      this.batches.push({ part: first && "part" in first ? first.part : undefined, mutations: [...mutations] });
      return Promise.resolve();
    }
    recover(): RecoveredState {
      return { entries: [], generations: new Map(), versions: new Map(), dicts: [], dedup: [] };
    }
    async idle(): Promise<void> {}
    expireDedup(): void {}
    async close(): Promise<void> {}
  }

  it("hands every mutation to the engine in order on commit", async () => {
    const engine = new RecordingEngine();
    const s = newStore(TTL, engine);
    expect(s.commit()).toBeUndefined();
    s.put(D, k("a"), val("1"), false, 0);
    s.delete(D, k("a"), 1);
    s.put(D, k("b"), val("2"), false, 2);
    s.clear(D);
    await s.commit();
    expect(engine.batches).toHaveLength(1);
    const batch = engine.batches[0];
    expect(batch?.part).toBe(7);
    expect(batch?.mutations.map((m) => m.op)).toEqual(["set", "delete", "set", "clear"]);
    const first = batch?.mutations[0];
    expect(first?.op === "set" && first.deadline).toBe(TTL);
    expect(s.commit()).toBeUndefined();
  });

  it("records expiry as a delete", async () => {
    const engine = new RecordingEngine();
    const s = newStore(TTL, engine);
    s.put(D, k("a"), val("1"), false, 0);
    await s.commit();
    s.expireDue(TTL);
    await s.commit();
    // It takes the next number of the partition's sequence (after the entry's 1), and says it
    // was an expiry (replicas record it as one for watchers).
    expect(engine.batches[1]?.mutations).toEqual([{ op: "delete", dict: D, part: 7, gen: 0, key: expect.any(Uint8Array), ver: 2, expired: true }]);
    expect(s.version).toBe(2);
  });

  it("the memory engine never receives anything", () => {
    const s = newStore();
    s.put(D, k("a"), val("1"), false, 0);
    s.delete(D, k("a"), 0);
    expect(s.commit()).toBeUndefined();
  });
});

describe("bytes held", () => {
  it("follow writes, overwrites, deletes, pops, expiry, clear and replication", () => {
    const s = new PartitionStore({ part: 7, ttlMs: TTL, engine: new MemoryEngine(), record: true });
    const size = (key: string, value: string) => k(key).length + val(value).byteLength;
    s.put(D, k("a"), val("12345"), false, 0);
    s.put(D2, k("b"), val("xy"), false, 0);
    expect(s.bytes).toBe(size("a", "12345") + size("b", "xy"));
    s.put(D, k("a"), val("1"), false, 0);
    expect(s.bytes).toBe(size("a", "1") + size("b", "xy"));
    expect(text(s.pop(D2, k("b"), 0))).toBe("xy");
    expect(s.bytes).toBe(size("a", "1"));
    s.put(D, k("c"), val("zz"), false, 0);
    s.expireDue(TTL + 1);
    expect(s.bytes).toBe(0);
    s.put(D, k("d"), val("abc"), false, 2 * TTL);
    s.put(D2, k("e"), val("abc"), false, 2 * TTL);
    s.clear(D);
    expect(s.bytes).toBe(size("e", "abc"));
    const replica = newStore();
    // Everything so far, from the start: the replica holds what the primary does.
    replica.applyReplicated(s.takePending() as never);
    expect(replica.bytes).toBe(s.bytes);
    expect(s.delete(D2, k("e"), 2 * TTL)).toBe(true);
    replica.applyReplicated(s.takePending() as never);
    expect(s.bytes).toBe(0);
    expect(replica.bytes).toBe(0);
  });
});
