/**
 * The append-only log engine on a real temporary folder: what is committed comes back,
 * generations and drops replay right, a torn tail is cut off, and a snapshot replaces the
 * segments before it without losing what was written while it was taken.
 */
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LogEngine } from "../../src/store/log-engine.js";
import { KIND_SEGMENT, scanFile } from "../../src/store/log-file.js";
import type { Mutation, RecoveredState } from "../../src/store/storage-engine.js";
import { tempFolders } from "../helpers/temp-folders.js";

const folder = tempFolders("shardict-log-");

const b = (s: string) => Uint8Array.from(Buffer.from(s));
const set = (part: number, dict: string, gen: number, key: string, value: string, deadline = 1000): Mutation => ({
  op: "set",
  part,
  dict,
  gen,
  key: b(key),
  value: b(value),
  deadline,
  ver: 1,
  ttl: 0,
});

/** Entries as `part/dict/gen/key=value@deadline`, sorted. */
function view(state: RecoveredState): string[] {
  return [...state.entries].map((e) => `${e.part}/${e.dict}/${e.gen}/${Buffer.from(e.key).toString()}=${Buffer.from(e.value).toString()}@${e.deadline}`).sort();
}

/** The segments that hold records, and how many each holds. */
function written(dir: string): { name: string; records: number }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".log"))
    .sort()
    .map((name) => ({ name, records: scanFile(readFileSync(join(dir, name)), name, KIND_SEGMENT, true).records }))
    .filter((s) => s.records > 0);
}

function reopen(dir: string): { engine: LogEngine; state: RecoveredState } {
  const engine = new LogEngine(dir, { segmentBytes: 64 * 1024, log: () => {} });
  return { engine, state: engine.recover() };
}

describe("LogEngine", () => {
  it("accounts its wall time to the phases of its rounds, one round per sync", async () => {
    const dir = folder();
    const started = performance.now();
    let syncs = 0;
    let syncSeconds = 0;
    const engine = new LogEngine(dir, {
      segmentBytes: 64 * 1024,
      log: () => {},
      onBatch: (_mutations, seconds) => {
        syncs++;
        syncSeconds += seconds;
      },
    });
    engine.recover();
    for (let i = 0; i < 5; i++) await engine.commit([set(0, "d", 0, `k${i}`, "v")]);
    // Two commits of one turn share a round.
    await Promise.all([engine.commit([set(0, "d", 0, "a", "1")]), engine.commit([set(0, "d", 0, "b", "2")])]);
    const { seconds, rounds } = engine.roundTimes.snapshot();
    const ended = performance.now();
    expect(rounds).toBe(syncs);
    expect(rounds).toBe(6);
    for (const phase of ["turn", "write", "sync"] as const) expect(seconds[phase], phase).toBeGreaterThan(0);
    // The sync phase and the syncs reported to the metrics are the same readings of one clock.
    expect(seconds.sync).toBeCloseTo(syncSeconds, 12);
    // Every moment since the engine was made is in exactly one phase.
    const total = Object.values(seconds).reduce((a, x) => a + x, 0) * 1000;
    expect(total).toBeLessThanOrEqual(ended - started + 0.001);
    expect(total).toBeGreaterThan((ended - started) * 0.9);
    await engine.close();
  });

  it("gives back what was committed: sets, deletes, clears (generations), dicts and durable answers", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    await engine.commit([{ op: "addDict", dict: "d1" }, { op: "addDict", dict: "d2" }, set(0, "d1", 0, "a", "1"), set(0, "d1", 0, "b", "2"), set(3, "d2", 0, "x", "9")]);
    await engine.commit([{ op: "delete", part: 0, dict: "d1", gen: 0, key: b("b"), ver: 0 }, set(0, "d1", 0, "a", "1b", 2000)]);
    await engine.commit([set(5, "d1", 0, "old", "gone"), { op: "clear", part: 5, dict: "d1", gen: 1 }, set(5, "d1", 1, "new", "kept")]);
    // A late write of the older generation (a replica's reordering cannot do this, but replay must not revive it).
    await engine.commit([set(5, "d1", 0, "stale", "no")]);
    await engine.commit([
      { op: "dedup", id: "c:1", at: 10, answer: { r: true }, part: 0 },
      { op: "dedup", id: "c:2", at: 11, answer: { r: 1 }, memoryOnly: true },
      { op: "addDict", dict: "d3" },
      set(1, "d3", 0, "z", "dropped"),
      { op: "dropDict", dict: "d3" },
    ]);
    await engine.close();

    const { engine: again, state } = reopen(dir);
    expect(view(state)).toEqual(["0/d1/0/a=1b@2000", "3/d2/0/x=9@1000", "5/d1/1/new=kept@1000"]);
    expect(state.generations.get("5:d1")).toBe(1);
    expect(state.dicts.sort()).toEqual(["d1", "d2"]);
    expect(state.dedup).toEqual([{ id: "c:1", at: 10, answer: { r: true }, part: 0 }]);
    await again.close();
  });

  it("a put's answer written inside its set comes back with it after a restart, under the same id", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    await engine.commit([{ op: "addDict", dict: "d1" }]);
    await engine.commit([
      set(2, "d1", 0, "a", "1"),
      { op: "dedup", id: "client-1:41", at: 10, answer: { r: true }, part: 2, client: "client-1", rid: 41 },
      set(2, "d1", 0, "b", "2"),
      { op: "dedup", id: "client-1:42", at: 11, answer: { r: false }, part: 2, client: "client-1", rid: 42 },
    ]);
    await engine.close();
    // On disk the first answer went inside its set (it reads back with its id's parts), the
    // second, another answer, as an item of its own (without them).
    const answers = readdirSync(dir)
      .filter((f) => f.endsWith(".log"))
      .flatMap((name) => scanFile(readFileSync(join(dir, name)), name, KIND_SEGMENT, true).batches.flat())
      .filter((m) => m.op === "dedup");
    expect(answers.map((m) => [m.id, m.client, m.rid])).toEqual([
      ["client-1:41", "client-1", 41],
      ["client-1:42", undefined, undefined],
    ]);
    const { engine: again, state } = reopen(dir);
    expect(view(state)).toEqual(["2/d1/0/a=1@1000", "2/d1/0/b=2@1000"]);
    // Both come back.
    expect(state.dedup).toEqual([
      { id: "client-1:41", at: 10, answer: { r: true }, part: 2 },
      { id: "client-1:42", at: 11, answer: { r: false }, part: 2 },
    ]);
    await again.close();
  });

  it("many commits of one event-loop turn share one append, and each resolves once it is synced", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    await engine.commit([{ op: "addDict", dict: "d" }]);
    const all = Array.from({ length: 100 }, (_, i) => engine.commit([set(i % 7, "d", 0, `k${i}`, `v${i}`)]));
    await Promise.all(all);
    await engine.close();
    // The 100 commits went out as one record (one append, one sync) after the first one.
    expect(written(dir)).toEqual([{ name: expect.stringMatching(/\.log$/) as unknown as string, records: 2 }]);
    const { engine: again, state } = reopen(dir);
    expect(view(state)).toHaveLength(100);
    await again.close();
  });

  it("the commits of one round share one promise; the next round has its own", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    await engine.commit([{ op: "addDict", dict: "d" }]);
    const a = engine.commit([set(0, "d", 0, "a", "1")]);
    const b2 = engine.commit([set(1, "d", 0, "b", "2")]);
    expect(b2).toBe(a);
    await a;
    const c = engine.commit([set(2, "d", 0, "c", "3")]);
    expect(c).not.toBe(a);
    await c;
    await engine.close();
    const again = reopen(dir);
    expect(view(again.state)).toHaveLength(3);
    await again.engine.close();
  });

  it("commits made later in the same turn (after promise hops) share the round", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    await engine.commit([{ op: "addDict", dict: "d" }]);
    const first = engine.commit([set(0, "d", 0, "a", "1")]);
    // A write that reaches the engine a few promise hops later (a replica's apply does).
    const hops = (async () => {
      for (let i = 0; i < 5; i++) await Promise.resolve();
      return engine.commit([set(1, "d", 0, "b", "2")]);
    })();
    await Promise.all([first, hops]);
    await engine.close();
    // The addDict, then one record for both.
    expect(written(dir)).toEqual([{ name: expect.stringMatching(/\.log$/) as unknown as string, records: 2 }]);
  });

  it("a small round waits for a write of a later turn and syncs both at once (group commit's delay)", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    const first = engine.commit([{ op: "addDict", dict: "d" }, set(0, "d", 0, "a", "1")]);
    // The next turn's write (another connection's message): the round is waiting for it.
    const later = new Promise<void>((resolve, reject) => setImmediate(() => engine.commit([set(1, "d", 0, "b", "2")]).then(resolve, reject)));
    await Promise.all([first, later]);
    expect(engine.linger?.joined).toBe(1);
    await engine.close();
    expect(written(dir)).toEqual([{ name: expect.stringMatching(/\.log$/) as unknown as string, records: 1 }]);
  });

  it("a lone writer's round waits once, then rounds start at once for a while; linger: false never waits", async () => {
    const dir = folder();
    // A frozen clock: however slow this disk's syncs, the pause after the first wait lasts.
    const engine = new LogEngine(dir, { segmentBytes: 64 * 1024, log: () => {}, lingerClock: () => 0 });
    engine.recover();
    const synced: number[] = [];
    await engine.commit([{ op: "addDict", dict: "d" }]);
    expect(engine.linger?.ranOut).toBe(1);
    for (let i = 0; i < 20; i++) await engine.commit([set(0, "d", 0, `k${i}`, "v")]);
    // Paused after the wait that ran out: none of the next rounds waited.
    expect([engine.linger?.ranOut, engine.linger?.joined]).toEqual([1, 0]);
    await engine.close();
    expect(written(dir)[0]?.records).toBe(21);
    const plain = new LogEngine(folder(), { segmentBytes: 64 * 1024, log: () => {}, linger: false, onBatch: (n) => synced.push(n) });
    plain.recover();
    const a = plain.commit([{ op: "addDict", dict: "d" }]);
    const b2 = new Promise<void>((resolve, reject) => setImmediate(() => plain.commit([set(1, "d", 0, "b", "2")]).then(resolve, reject)));
    await Promise.all([a, b2]);
    expect(plain.linger).toBeUndefined();
    expect(synced).toEqual([1, 1]);
    await plain.close();
  });

  it("a torn last record (an untouched sector inside it) is cut off and zeroed; later starts write new segments", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    await engine.commit([{ op: "addDict", dict: "d" }, set(0, "d", 0, "a", "1")]);
    await engine.commit([set(0, "d", 0, "b", "2".repeat(3000))]);
    await engine.close();
    const [seg] = written(dir);
    const log = join(dir, seg?.name as string);
    // A crash in the middle of the second append: its last sectors never reached the disk.
    const buf = readFileSync(log);
    const second = buf.indexOf(Buffer.from("2".repeat(100)));
    const sector = Math.ceil((second + 1000) / 512) * 512;
    writeFileSync(log, Buffer.concat([buf.subarray(0, sector), Buffer.alloc(buf.length - sector)]));
    const first = reopen(dir);
    expect(view(first.state)).toEqual(["0/d/0/a=1@1000"]);
    await first.engine.commit([set(0, "d", 0, "c", "3")]);
    await first.engine.close();
    const again = reopen(dir);
    expect(view(again.state)).toEqual(["0/d/0/a=1@1000", "0/d/0/c=3@1000"]);
    await again.engine.close();
  });

  it("a snapshot replaces the segments before it; writes made while it is taken survive", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    await engine.commit([{ op: "addDict", dict: "d" }]);
    for (let i = 0; i < 50; i++) await engine.commit([set(i % 4, "d", 0, `k${i}`, `v${i}`)]);
    await engine.commit([{ op: "delete", part: 0, dict: "d", gen: 0, key: b("k0"), ver: 0 }]);
    // The live state the shard would hand over, read in chunks; a write lands between chunks.
    const live = new Map<string, Mutation>();
    for (let i = 1; i < 50; i++) live.set(`k${i}`, set(i % 4, "d", 0, `k${i}`, `v${i}`));
    let during: Promise<void> | undefined;
    engine.setSnapshotSource(function* () {
      yield [{ op: "addDict", dict: "d" }];
      const all = [...live.values()];
      yield all.slice(0, 20);
      during = engine.commit([set(2, "d", 0, "k2", "changed"), set(1, "d", 0, "late", "x")]);
      yield all.slice(20);
    });
    await engine.compact();
    await during;
    await engine.close();
    const files = readdirSync(dir).sort();
    expect(files.filter((f) => f.endsWith(".snap"))).toHaveLength(1);
    // Only the segment started with the snapshot is left, besides it.
    const snapSeq = Number((files.find((f) => f.endsWith(".snap")) as string).slice(0, 12));
    for (const f of files.filter((x) => x.endsWith(".log"))) expect(Number(f.slice(0, 12))).toBeGreaterThanOrEqual(snapSeq);
    const { engine: again, state } = reopen(dir);
    const got = view(state);
    expect(got).toHaveLength(50);
    expect(got).toContain("2/d/0/k2=changed@1000");
    expect(got).toContain("1/d/0/late=x@1000");
    expect(got.some((x) => x.includes("/k0="))).toBe(false);
    await again.close();
  });

  it("a snapshot that never completed is ignored and removed", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    await engine.commit([{ op: "addDict", dict: "d" }, set(0, "d", 0, "a", "1")]);
    await engine.close();
    appendFileSync(join(dir, "000000000099.tmp"), Buffer.from("half a snapshot"));
    const { engine: again, state } = reopen(dir);
    expect(view(state)).toEqual(["0/d/0/a=1@1000"]);
    expect(readdirSync(dir).some((f) => f.endsWith(".tmp"))).toBe(false);
    await again.close();
  });

  it("refuses commits once closed", async () => {
    const { engine } = reopen(folder());
    await engine.close();
    await expect(engine.commit([{ op: "addDict", dict: "d" }])).rejects.toThrow(/closed/);
  });
});

describe("LogEngine commits of answers kept for replicas only", () => {
  it("resolves at once, writes nothing, and does not delay other commits", async () => {
    const dir = folder();
    const { engine } = reopen(dir);
    await engine.commit([{ op: "dedup", id: "c:9", at: 1, answer: { r: true }, memoryOnly: true }]);
    await engine.commit([{ op: "addDict", dict: "d" }, { op: "dedup", id: "c:10", at: 2, answer: { r: 1 }, memoryOnly: true }, set(0, "d", 0, "a", "1")]);
    await engine.close();
    const { engine: again, state } = reopen(dir);
    expect(view(state)).toEqual(["0/d/0/a=1@1000"]);
    expect(state.dedup).toEqual([]);
    await again.close();
  });
});
