/**
 * Entry versions and per-entry TTLs in a partition store, and across what a store is rebuilt
 * from: both storage engines (with a log snapshot that drops the records that had the
 * highest version), a replica's stream and a learner's copy.
 */
import { describe, expect, it } from "vitest";
import { PartitionStore, keyString } from "../../src/store/partition-store.js";
import { PartitionHost } from "../../src/shard/partition-host.js";
import { LogEngine } from "../../src/store/log-engine.js";
import { LmdbEngine } from "../../src/store/lmdb-engine.js";
import { MemoryEngine, type Mutation, type ReplMutation, type StorageEngine } from "../../src/store/storage-engine.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { tempFolders } from "../helpers/temp-folders.js";

const TTL = 7 * 24 * 3_600_000;
const D = "dict-a";
const k = (key: string): string => keyString(encodeKey(key));
const val = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "utf8"));
const folder = tempFolders("shardict-versions-");

class Recording extends MemoryEngine {
  batches: Mutation[][] = [];
  override commit(muts: readonly Mutation[] = []): undefined {
    this.batches.push([...muts]);
    return undefined;
  }
}

function store(engine: StorageEngine = new MemoryEngine(), record = false): PartitionStore {
  return new PartitionStore({ part: 3, ttlMs: TTL, engine, record });
}

describe("versions in a partition store", () => {
  it("every write takes a new, larger version; reads keep it", () => {
    const s = store();
    const v1 = s.write(D, k("a"), val("1"), 0);
    const v2 = s.write(D, k("b"), val("1"), 0);
    const v3 = s.write(D, k("a"), val("2"), 0);
    expect(v2).toBeGreaterThan(v1);
    expect(v3).toBeGreaterThan(v2);
    s.read(D, k("a"), 10);
    s.refresh(D, k("a"), 20);
    s.get(D, k("a"), 30);
    expect(s.peek(D, k("a"), 40)?.ver).toBe(v3);
    s.update(D, [k("a"), k("c")], [val("3"), val("4")], 50);
    expect(s.peek(D, k("a"), 50)!.ver).toBeGreaterThan(v3);
  });

  it("a re-created key never gets a version it had: not after delete, pop, clear or expiry", () => {
    const s = store();
    const seen = new Set<number>();
    const note = (v: number | undefined) => {
      expect(v).toBeDefined();
      expect(seen.has(v as number)).toBe(false);
      seen.add(v as number);
    };
    note(s.write(D, k("a"), val("1"), 0));
    s.delete(D, k("a"), 0);
    note(s.write(D, k("a"), val("1"), 0));
    s.pop(D, k("a"), 0);
    s.put(D, k("a"), val("1"), false, 0);
    note(s.peek(D, k("a"), 0)?.ver);
    s.clear(D);
    note(s.write(D, k("a"), val("1"), 0));
    s.expireDue(TTL + 1);
    note(s.write(D, k("a"), val("1"), TTL + 2));
  });

  it("refresh at a version moves the deadline only at that version", () => {
    const s = store();
    const v = s.write(D, k("a"), val("1"), 0);
    expect(s.refresh(D, k("a"), 100, v + 1)).toBe(false);
    expect(s.peek(D, k("a"), 100)!.deadline).toBe(TTL);
    expect(s.refresh(D, k("a"), 100, v)).toBe(true);
    expect(s.peek(D, k("a"), 100)!.deadline).toBe(100 + TTL);
    expect(s.refresh(D, k("missing"), 100)).toBe(false);
  });
});

describe("per-entry TTL in a partition store", () => {
  it("an entry with its own TTL expires by it and slides by it on reads", () => {
    const s = store();
    s.write(D, k("short"), val("1"), 0, 2_000);
    s.write(D, k("long"), val("1"), 0);
    expect(s.read(D, k("short"), 1_999)!.deadline).toBe(1_999 + 2_000);
    expect(s.get(D, k("short"), 3_998)).toBeDefined();
    expect(s.get(D, k("short"), 3_998 + 2_000)).toBeUndefined();
    expect(s.get(D, k("long"), 10_000)).toBeDefined();
  });

  it("a plain overwrite keeps the entry's TTL; a new TTL replaces it; a re-created entry has the dict's", () => {
    const s = store();
    s.write(D, k("a"), val("1"), 0, 2_000);
    s.put(D, k("a"), val("2"), false, 100);
    expect(s.peek(D, k("a"), 100)!.deadline).toBe(2_100);
    s.update(D, [k("a")], [val("3")], 200);
    expect(s.peek(D, k("a"), 200)!.deadline).toBe(2_200);
    s.write(D, k("a"), val("4"), 300, 5_000);
    expect(s.peek(D, k("a"), 300)!.deadline).toBe(5_300);
    s.delete(D, k("a"), 400);
    s.put(D, k("a"), val("5"), false, 500);
    expect(s.peek(D, k("a"), 500)!.deadline).toBe(500 + TTL);
  });

  it("records the version and TTL with the set, and a number of its own with every delete and clear", () => {
    const engine = new Recording();
    const s = store(engine, true);
    const v = s.write(D, k("a"), val("1"), 0, 2_000);
    s.delete(D, k("a"), 0);
    s.write(D, k("b"), val("1"), 0);
    s.clear(D);
    expect(engine.batches).toHaveLength(0);
    void s.commit();
    const [batch] = engine.batches;
    // Every change takes the next number of the partition's sequence: a delete and a clear too.
    expect(batch!.map((m) => [m.op, "ver" in m ? m.ver : undefined, "ttl" in m ? m.ttl : undefined])).toEqual([
      ["set", v, 2_000],
      ["delete", v + 1, undefined],
      ["set", v + 2, 0],
      ["clear", v + 3, undefined],
    ]);
    expect(s.version).toBe(v + 3);
  });
});

describe("versions and TTLs survive what a store is rebuilt from", () => {
  /** A store's state as `key=value@ver/ttl`. */
  const view = (s: PartitionStore, keys: string[], now: number) =>
    keys.map((key) => {
      const e = s.peek(D, k(key), now);
      return e ? `${key}@${e.ver}` : `${key}:absent`;
    });

  it("a replica applying the stream and a learner's copy hold the same versions, TTLs and highest version", () => {
    const primary = store(new MemoryEngine(), true);
    primary.write(D, k("a"), val("1"), 0, 2_000);
    primary.write(D, k("b"), val("1"), 0);
    const vc = primary.write(D, k("c"), val("1"), 0);
    primary.delete(D, k("c"), 0);
    // The delete took a number of its own: it is the highest, and the copies must keep it.
    const top = primary.version;
    expect(top).toBe(vc + 1);
    const stream = primary.takePending() as ReplMutation[];
    const replica = store(new MemoryEngine(), true);
    replica.applyReplicated(stream);
    const learner = store(new MemoryEngine(), true);
    learner.applyReplicated([...primary.snapshotChunks(100, () => 0)].flat());
    for (const copy of [replica, learner]) {
      expect(view(copy, ["a", "b", "c"], 0)).toEqual(view(primary, ["a", "b", "c"], 0));
      expect(copy.version).toBe(top);
      // Its own TTL came along: it expires by it (plus the slack a copy allows), long before the dict's.
      expect(copy.get(D, k("a"), 2_000 + 200 + 1)).toBeUndefined();
      expect(copy.write(D, k("c"), val("2"), 0)).toBeGreaterThan(top);
    }
  });

  for (const kind of ["log", "lmdb"] as const) {
    it(`${kind}: versions, TTLs and the highest version survive a restart${kind === "log" ? " and a snapshot" : ""}`, async () => {
      const dir = folder();
      const clock = new FakeClock(1_000_000);
      const open = () => (kind === "log" ? new LogEngine(dir, { segmentBytes: 64 * 1024, log: () => {} }) : new LmdbEngine(dir, { log: () => {} }));
      const boot = (engine: StorageEngine) => {
        const host = new PartitionHost({ ttlMs: TTL, engine, clock, log: () => {} });
        host.recover(engine.recover());
        return host;
      };
      let engine = open();
      let host = boot(engine);
      const s = host.store(3);
      const va = s.write(D, k("a"), val("1"), clock.now(), 2_000);
      s.write(D, k("b"), val("1"), clock.now());
      const vgone = s.write(D, k("gone"), val("1"), clock.now());
      s.delete(D, k("gone"), clock.now());
      // The delete took a number of its own: the highest, held by no entry (and, after the
      // log's snapshot, by no record of a key either).
      const top = s.version;
      expect(top).toBe(vgone + 1);
      await s.commit();
      if (engine instanceof LogEngine) {
        const src = host;
        engine.setSnapshotSource(function* () {
          for (const [, st] of src.all()) yield* st.storedChunks(100, () => clock.now());
        });
        await engine.compact();
      }
      await engine.close();
      engine = open();
      host = boot(engine);
      const again = host.store(3);
      expect(again.peek(D, k("a"), clock.now())?.ver).toBe(va);
      expect(again.version).toBe(top);
      expect(again.write(D, k("gone"), val("2"), clock.now())).toBeGreaterThan(top);
      // The 2 s TTL came back with it (plus the slack for unrecorded reads), not the 7 days.
      expect(again.peek(D, k("a"), clock.now() + 2_000 + 200 + 1)).toBeUndefined();
      expect(again.peek(D, k("b"), clock.now() + 2_000 + 200 + 1)).toBeDefined();
      await again.commit();
      await engine.close();
    });
  }
});
