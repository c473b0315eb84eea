/** Versions, compare-and-set, counters, per-entry TTLs and locks against a real 3-shard cluster. */
import { describe, expect, it } from "vitest";
import { ConflictError, Dict, DictError, InvalidError, KeyError, LockTimeoutError, type Client } from "../../src/index.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { parseSamples, sumOf } from "../helpers/prom-text.js";

let tc: TestCluster;
let client: Client;
let n = 0;
const fresh = <V = unknown>() => Dict.fromName<V>(`coord-${++n}`, { createIfMissing: true, client });
useTestCluster({}, (t, c) => {
  tc = t;
  client = c;
});

/** Separate connections, so concurrent callers really race. */
const clients = (k: number): Promise<Client[]> => Promise.all(Array.from({ length: k }, () => tc.client()));

describe("getEntry / versions", () => {
  it("returns value, an opaque version and expiresAt; null when absent", async () => {
    const d = fresh();
    expect(await d.getEntry("k")).toBeNull();
    const before = Date.now();
    await d.put("k", { a: 1 });
    const e = await d.getEntry("k");
    expect(e).not.toBeNull();
    expect(e!.value).toEqual({ a: 1 });
    expect(typeof e!.version).toBe("string");
    expect(e!.expiresAt).toBeInstanceOf(Date);
    // The default TTL of the test cluster is days away.
    expect(e!.expiresAt.getTime()).toBeGreaterThan(before + 60_000);
  });

  it("gives every write of a key a new version, never reused after delete and re-create or clear", async () => {
    const d = fresh();
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await d.putEntry("k", i);
      expect(seen.has(r!.version)).toBe(false);
      seen.add(r!.version);
      expect((await d.getEntry("k"))!.version).toBe(r!.version);
    }
    const old = (await d.getEntry("k"))!.version;
    await d.delete("k");
    await d.put("k", 4);
    const recreated = (await d.getEntry("k"))!.version;
    expect(recreated).not.toBe(old);
    expect(await d.put("k", 5, { ifVersion: old })).toBe(false);
    expect(await d.get("k")).toBe(4);
    await d.clear();
    await d.put("k", 6);
    const afterClear = (await d.getEntry("k"))!.version;
    expect(seen.has(afterClear) || afterClear === recreated).toBe(false);
    expect(await d.delete("k", { ifVersion: recreated })).toBe(false);
  });

  it("a read does not change the version", async () => {
    const d = fresh();
    const { version } = (await d.putEntry("k", "v"))!;
    await d.get("k");
    await d.contains("k");
    await d.touch("k");
    expect((await d.getEntry("k"))!.version).toBe(version);
  });
});

describe("put / delete with ifVersion", () => {
  it("writes only at the named version; null means only if absent", async () => {
    const d = fresh();
    expect(await d.put("k", 1, { ifVersion: null })).toBe(true);
    expect(await d.put("k", 2, { ifVersion: null })).toBe(false);
    const v1 = (await d.getEntry("k"))!.version;
    expect(await d.put("k", 3, { ifVersion: v1 })).toBe(true);
    expect(await d.put("k", 4, { ifVersion: v1 })).toBe(false);
    expect(await d.get("k")).toBe(3);
    expect(await d.put("absent", 1, { ifVersion: v1 })).toBe(false);
    expect(await d.contains("absent")).toBe(false);
  });

  it("putEntry returns the new version or null", async () => {
    const d = fresh();
    const a = await d.putEntry("k", "a", { skipIfExists: true });
    expect(a).not.toBeNull();
    expect(await d.putEntry("k", "b", { skipIfExists: true })).toBeNull();
    const b = await d.putEntry("k", "b", { ifVersion: a!.version });
    expect(b!.version).not.toBe(a!.version);
    expect(await d.putEntry("k", "c", { ifVersion: a!.version })).toBeNull();
  });

  it("delete with ifVersion answers true/false and never KeyError", async () => {
    const d = fresh();
    expect(await d.delete("missing", { ifVersion: null })).toBe(false);
    expect(await d.delete("missing", { ifVersion: "7" })).toBe(false);
    const { version } = (await d.putEntry("k", 1))!;
    expect(await d.delete("k", { ifVersion: null })).toBe(false);
    await d.put("k", 2);
    expect(await d.delete("k", { ifVersion: version })).toBe(false);
    const now = (await d.getEntry("k"))!.version;
    expect(await d.delete("k", { ifVersion: now })).toBe(true);
    expect(await d.contains("k")).toBe(false);
    await expect(d.delete("k")).rejects.toBeInstanceOf(KeyError);
  });

  it("refuses versions it never gave and contradictory options, changing nothing", async () => {
    const d = fresh();
    await d.put("k", 1);
    for (const bad of ["", "abc", "-1", "1.5", "01", "99999999999999999999"]) {
      await expect(d.put("k", 2, { ifVersion: bad })).rejects.toBeInstanceOf(InvalidError);
    }
    const { version } = (await d.getEntry("k"))!;
    await expect(d.put("k", 2, { ifVersion: version, skipIfExists: true })).rejects.toBeInstanceOf(InvalidError);
    expect(await d.get("k")).toBe(1);
  });

  it("of many concurrent compare-and-sets on one version exactly one wins", async () => {
    const d = fresh();
    const { version } = (await d.putEntry("k", 0))!;
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => d.put("k", i + 1, { ifVersion: version })));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await d.get("k")).toBe(results.indexOf(true) + 1);
  });
});

describe("modify", () => {
  it("applies fn to the current value (or the default) and returns the new value", async () => {
    const d = fresh<number[]>();
    expect(await d.modify("xs", (xs) => [...xs, 1], { default: [] })).toEqual([1]);
    expect(await d.modify("xs", (xs) => [...xs, 2])).toEqual([1, 2]);
    expect(await d.get("xs")).toEqual([1, 2]);
  });

  it("writes nothing when fn returns undefined", async () => {
    const d = fresh<number>();
    await d.put("k", 1);
    const { version } = (await d.getEntry("k"))!;
    expect(await d.modify("k", () => undefined)).toBeUndefined();
    expect((await d.getEntry("k"))!.version).toBe(version);
  });

  it("8 clients × 200 appends: every append present exactly once", async () => {
    const d = await fresh<string[]>().hydrate();
    const k = 8;
    const each = 200;
    const cs = await clients(k);
    await Promise.all(
      cs.map(async (cl, c) => {
        const h = Dict.fromName<string[]>(d.name as string, { client: cl });
        for (let i = 0; i < each; i++) await h.modify("log", (xs) => [...xs, `${c}:${i}`], { default: [], maxAttempts: 1000 });
      }),
    );
    const log = (await d.get("log")) as string[];
    expect(log).toHaveLength(k * each);
    expect(new Set(log).size).toBe(k * each);
    // Each client's appends are in its own order.
    for (let c = 0; c < k; c++) {
      const mine = log.filter((x) => x.startsWith(`${c}:`)).map((x) => Number(x.split(":")[1]));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
  }, 120_000);

  it("gives up with ConflictError (a DictError, with the entry as last read) after maxAttempts", async () => {
    const d = fresh<number>();
    await d.put("k", 0);
    let calls = 0;
    const err = await d
      .modify("k", async (x) => {
        calls++;
        await d.put("k", x + 100); // a conflicting writer, every time
        return x + 1;
      }, { maxAttempts: 3 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toBeInstanceOf(DictError);
    expect((err as ConflictError).name).toBe("ConflictError");
    expect((err as ConflictError).attempts).toBe(3);
    expect((err as ConflictError).current).not.toBeNull();
    expect(calls).toBe(3);
  });
});

describe("incr", () => {
  it("counts from 0, returns the new value, takes negative deltas", async () => {
    const d = fresh();
    expect(await d.incr("c")).toBe(1);
    expect(await d.incr("c", 41)).toBe(42);
    expect(await d.incr("c", -2)).toBe(40);
    expect(await d.get("c")).toBe(40);
  });

  it("20 clients × 500 incr on one key → exactly 10,000", async () => {
    const d = await fresh().hydrate();
    const cs = await clients(20);
    await Promise.all(
      cs.map(async (cl) => {
        const h = Dict.fromName(d.name as string, { client: cl });
        for (let i = 0; i < 500; i++) await h.incr("hits");
      }),
    );
    expect(await d.get("hits")).toBe(10_000);
  }, 120_000);

  it("bigint counters have no bound and stay bigints", async () => {
    const d = fresh();
    expect(await d.incr("b", 10n ** 30n)).toBe(10n ** 30n);
    expect(await d.incr("b", 1n)).toBe(10n ** 30n + 1n);
    expect(await d.get("b")).toBe(10n ** 30n + 1n);
  });

  it("refuses mixed types, non-integers, non-numbers and overflow with InvalidError, changing nothing", async () => {
    const d = fresh();
    await d.put("n", 5);
    await expect(d.incr("n", 1n)).rejects.toBeInstanceOf(InvalidError);
    await expect(d.incr("n", 1.5)).rejects.toBeInstanceOf(InvalidError);
    await expect(d.incr("n", Number.NaN)).rejects.toBeInstanceOf(InvalidError);
    await expect(d.incr("n", "1" as unknown as number)).rejects.toBeInstanceOf(InvalidError);
    await d.put("s", "text");
    await expect(d.incr("s")).rejects.toBeInstanceOf(InvalidError);
    await d.put("f", 1.25);
    await expect(d.incr("f")).rejects.toBeInstanceOf(InvalidError);
    await d.put("big", Number.MAX_SAFE_INTEGER - 1);
    expect(await d.incr("big")).toBe(Number.MAX_SAFE_INTEGER);
    await expect(d.incr("big")).rejects.toBeInstanceOf(InvalidError);
    expect(await d.get("big")).toBe(Number.MAX_SAFE_INTEGER);
    expect(await d.get("n")).toBe(5);
    expect(await d.get("s")).toBe("text");
  });
});

describe("per-entry TTL", () => {
  it("put/update with ttlMs expire those entries while the dict default is days", async () => {
    const d = fresh();
    await d.put("short", 1, { ttlMs: 300 });
    await d.update({ a: 1, b: 2 }, { ttlMs: 300 });
    await d.put("long", 1);
    const e = await d.getEntry("short");
    expect(e!.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(300);
    // len() moves no deadline (a read would slide them): it only counts what is live.
    await until(async () => (await d.len()) === 1);
    expect(await d.getEntry("short")).toBeNull();
    expect(await d.get("a")).toBeUndefined();
    expect(await d.get("long")).toBe(1);
  });

  it("a plain overwrite keeps the entry's own TTL; a new ttlMs replaces it", async () => {
    const d = fresh();
    await d.put("k", 1, { ttlMs: 60_000 });
    await d.put("k", 2);
    const e = await d.getEntry("k");
    expect(e!.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    await d.put("k", 3, { ttlMs: 120_000 });
    expect((await d.getEntry("k"))!.expiresAt.getTime() - Date.now()).toBeGreaterThan(60_000);
  });

  it("touch refreshes without reading; false when absent", async () => {
    const d = fresh();
    expect(await d.touch("nope")).toBe(false);
    await d.put("k", 1, { ttlMs: 60_000 });
    const before = (await d.getEntry("k"))!.expiresAt.getTime();
    await new Promise((r) => setTimeout(r, 20));
    expect(await d.touch("k")).toBe(true);
    expect((await d.getEntry("k"))!.expiresAt.getTime()).toBeGreaterThan(before);
  });

  it("refuses bad ttlMs with InvalidError", async () => {
    const d = fresh();
    for (const bad of [0, -1, 1.5, Number.NaN, "5"]) {
      await expect(d.put("k", 1, { ttlMs: bad as number })).rejects.toBeInstanceOf(InvalidError);
      await expect(d.update({ k: 1 }, { ttlMs: bad as number })).rejects.toBeInstanceOf(InvalidError);
    }
    expect(await d.contains("k")).toBe(false);
  });
});

describe("lock", () => {
  it("grants one holder, refuses others without waitMs, and hands over on release with a larger token", async () => {
    const d = fresh();
    const a = await d.lock("job", { ttlMs: 5_000 });
    expect(typeof a.token).toBe("number");
    const err = await d.lock("job", { ttlMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect(err).toBeInstanceOf(ConflictError);
    const waiting = d.lock("job", { ttlMs: 5_000, waitMs: 10_000 });
    // The waiter waits on a watch of the key, parked on its shard (the metrics say so), not polling.
    await until(async () => (await parkedWatches()) === 1);
    await a.release();
    const b = await waiting;
    expect(b.token).toBeGreaterThan(a.token);
    await b[Symbol.asyncDispose]();
    const c = await d.lock("job", { ttlMs: 5_000 });
    expect(c.token).toBeGreaterThan(b.token);
    await c.release();
    await c.release(); // once
  });

  it("is renewed while held, so it outlives its TTL", async () => {
    const d = fresh();
    const a = await d.lock("renewed", { ttlMs: 300 });
    await new Promise((r) => setTimeout(r, 1_000));
    await expect(d.lock("renewed", { ttlMs: 300 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(a.signal.aborted).toBe(false);
    await a.release();
  });

  it("a holder that lost its lock is told (signal), and its release leaves the next holder's lock alone", async () => {
    const d = fresh();
    const a = await d.lock("stolen", { ttlMs: 600 });
    // As if its lease had run out while it was paused: the entry goes, another takes it.
    await d.delete("stolen");
    const b = await d.lock("stolen", { ttlMs: 5_000 });
    await until(async () => a.signal.aborted);
    expect(a.signal.reason).toBeInstanceOf(LockTimeoutError);
    await a.release();
    await expect(d.lock("stolen", { ttlMs: 5_000 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(b.signal.aborted).toBe(false);
    await b.release();
    expect(await d.contains("stolen")).toBe(false);
  });

  it("a waiter gives up with LockTimeoutError after waitMs", async () => {
    const d = fresh();
    const a = await d.lock("busy", { ttlMs: 10_000 });
    const t0 = Date.now();
    await expect(d.lock("busy", { ttlMs: 1_000, waitMs: 300 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    await a.release();
  });
});

/** Watch requests parked on the shards, from their /metrics. */
async function parkedWatches(): Promise<number> {
  let n = 0;
  for (const shard of ["shard-1", "shard-2", "shard-3"]) {
    const res = await fetch(`${(tc.cluster.urlOf(shard) as string).replace(/^ws:/, "http:")}/metrics`);
    n += sumOf(parseSamples(await res.text()), "shardict_parked_watches");
  }
  return n;
}

async function until(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}
