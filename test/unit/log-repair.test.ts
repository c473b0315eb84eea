/**
 * `shardict repair`'s logic on real log files made by the engine: whatever the damage (a
 * flipped bit, a zeroed sector, a bad or cut-short snapshot, a file of the earlier format),
 * every record the damage did not touch is kept, the report names the file and the byte
 * range of exactly the records lost, the originals are kept, and the folder recovers.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { murmur3 } from "../../src/hashing/hash.js";
import { DataDirLockedError, openDataDir } from "../../src/store/data-dir.js";
import { LogEngine } from "../../src/store/log-engine.js";
import { KIND_SEGMENT, scanFile } from "../../src/store/log-file.js";
import { decodeBody, encodeBody, FLAG_TRAILER, HEADER } from "../../src/encoding/log-record.js";
import { RepairError, repairNode, type FileReport } from "../../src/store/log-repair.js";
import { CorruptStorageError } from "../../src/store/storage-errors.js";
import type { Mutation } from "../../src/store/storage-engine.js";
import { flipBit, truncateTo, zeroFill } from "../faults/helpers/bit-flip.js";
import { mulberry32 } from "../helpers/prng.js";
import { tempFolders } from "../helpers/temp-folders.js";

const folder = tempFolders("shardict-repair-");
const NODE = "n1";
const NOW = new Date("2026-01-02T03:04:05.678Z");

const b = (s: string) => Uint8Array.from(Buffer.from(s));
const set = (key: string, value: string): Mutation => ({ op: "set", part: 0, dict: "d", gen: 0, key: b(key), value: b(value), deadline: 1000, ver: 1, ttl: 0 });
const engineIn = (dir: string) => new LogEngine(dir, { segmentBytes: 64 * 1024, log: () => {} });
/** Every key is written once, so a record's keys are exactly what losing it loses. */
const batch = (tag: string, n = 5) => Array.from({ length: n }, (_, j) => set(`${tag}-${j}`, `value of ${tag}-${j} `.repeat(2)));

interface Rec {
  start: number;
  end: number;
  keys: string[];
}

/** The records of an undamaged format-2 file (trailers left out). */
function recordsOf(buf: Buffer): Rec[] {
  const out: Rec[] = [];
  for (let at = 8; at + HEADER <= buf.length && buf[at] === 0xa5; ) {
    const end = at + HEADER + buf.readUInt32LE(at + 4);
    if ((buf.readUInt16LE(at + 2) & FLAG_TRAILER) === 0) {
      const keys = decodeBody(buf.subarray(at + HEADER, end)).flatMap((m) => (m.op === "set" ? [Buffer.from(m.key).toString()] : []));
      out.push({ start: at, end, keys });
    }
    at = end;
  }
  return out;
}

/** The keys recovery gives back (the folder must recover). */
async function recoveredKeys(dir: string): Promise<string[]> {
  const engine = engineIn(dir);
  try {
    return [...engine.recover().entries].map((e) => Buffer.from(e.key).toString()).sort();
  } finally {
    await engine.close();
  }
}

/** Names and bytes of every file under `dir`, to show that nothing changed. */
function contents(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    if (statSync(path).isFile()) out.set(name, readFileSync(path));
  }
  return out;
}

const logDir = (dataDir: string) => join(dataDir, NODE, "log");
const segmentsWithRecords = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".log") && readFileSync(join(dir, f))[8] !== 0)
    .sort();

/**
 * A node folder with two segments: 12 records in the first (damaged by the tests: not the
 * newest, so no damage there can pass for a torn write) and 3 in the second.
 */
async function twoSegments(): Promise<{ dataDir: string; first: string; second: string; recs: Rec[]; all: string[] }> {
  const dataDir = folder();
  const dir = logDir(dataDir);
  const all: string[] = [];
  for (const [run, count] of [
    ["a", 12],
    ["b", 3],
  ] as const) {
    const engine = engineIn(dir);
    engine.recover();
    for (let i = 0; i < count; i++) {
      const muts = batch(`${run}${i}`);
      await engine.commit(muts);
      all.push(...muts.map((m) => (m.op === "set" ? Buffer.from(m.key).toString() : "")));
    }
    await engine.close();
  }
  const [first, second] = segmentsWithRecords(dir) as [string, string];
  return { dataDir, first, second, recs: recordsOf(readFileSync(join(dir, first))), all: all.sort() };
}

/** A node folder with a snapshot of 8 records (5 keys each) and 2 records in a segment after it. */
async function withSnapshot(): Promise<{ dataDir: string; snap: string; recs: Rec[]; all: string[] }> {
  const dataDir = folder();
  const dir = logDir(dataDir);
  const engine = engineIn(dir);
  engine.recover();
  const live: Mutation[] = [];
  for (let i = 0; i < 8; i++) {
    const muts = batch(`s${i}`);
    await engine.commit(muts);
    live.push(...muts);
  }
  engine.setSnapshotSource(function* () {
    for (let i = 0; i < live.length; i += 5) yield live.slice(i, i + 5);
  });
  await engine.compact();
  const after = [...batch("after0"), ...batch("after1")];
  await engine.commit(after.slice(0, 5));
  await engine.commit(after.slice(5));
  await engine.close();
  const snap = readdirSync(dir).find((f) => f.endsWith(".snap")) as string;
  const all = [...live, ...after].map((m) => (m.op === "set" ? Buffer.from(m.key).toString() : "")).sort();
  return { dataDir, snap, recs: recordsOf(readFileSync(join(dir, snap))), all };
}

const without = (all: string[], lost: Rec[]) => all.filter((k) => !lost.some((r) => r.keys.includes(k)));
const damagedFile = (files: FileReport[]) => files.filter((f) => f.status === "damaged");

describe("log repair", () => {
  it("a flipped bit at seeded random offsets in a segment's records: only the record it hit is dropped, and the report says where", async () => {
    const base = await twoSegments();
    const rand = mulberry32(41);
    for (let round = 0; round < 8; round++) {
      const dataDir = folder();
      cpSync(base.dataDir, dataDir, { recursive: true });
      const dir = logDir(dataDir);
      const last = base.recs.at(-1) as Rec;
      const offset = 8 + Math.floor(rand() * (last.end - 8));
      flipBit(join(dir, base.first), offset, Math.floor(rand() * 8));
      const hit = base.recs.find((r) => r.start <= offset && offset < r.end) as Rec;
      const second = readFileSync(join(dir, base.second));

      const report = await repairNode({ dataDir, node: NODE, now: NOW });
      expect(report.damaged, `flip at ${offset}`).toBe(1);
      const [f] = damagedFile(report.files) as [FileReport];
      expect(f.file).toBe(base.first);
      expect(f.refused?.offset).toBe(hit.start);
      expect(f.badRegions).toEqual([{ from: hit.start, to: hit.end, reason: expect.any(String) as string }]);
      expect(f.bytesDropped).toBe(hit.end - hit.start);
      expect(f.records).toBe(base.recs.length - 1);
      expect(report.lostWrites).toMatch(/lost writes.*value before it has come back/s);
      // The undamaged segment is left as it was.
      expect(readFileSync(join(dir, base.second)).equals(second)).toBe(true);
      expect(await recoveredKeys(dir), `flip at ${offset}`).toEqual(without(base.all, [hit]));
    }
  });

  it("a zeroed sector in the middle of a segment: the records it touched are one bad region, the rest are kept; the original is in the backup folder", async () => {
    const { dataDir, first, recs, all } = await twoSegments();
    const dir = logDir(dataDir);
    zeroFill(join(dir, first), 512, 512);
    const damaged = readFileSync(join(dir, first));
    const hit = recs.filter((r) => r.start < 1024 && r.end > 512);
    expect(hit.length).toBeGreaterThan(0);

    const report = await repairNode({ dataDir, node: NODE, now: NOW });
    const [f] = damagedFile(report.files) as [FileReport];
    expect(f.file).toBe(first);
    expect(f.badRegions.map((r) => [r.from, r.to])).toEqual([[(hit[0] as Rec).start, (hit.at(-1) as Rec).end]]);
    expect(f.records).toBe(recs.length - hit.length);
    expect(report.backup).toBe(join(dataDir, NODE, "repair-2026-01-02T03-04-05-678Z"));
    expect(readdirSync(report.backup as string)).toEqual([first]);
    expect(readFileSync(join(report.backup as string, first)).equals(damaged)).toBe(true);
    // The file in place is the repaired one: recovery reads it, with the records kept.
    expect(scanFile(readFileSync(join(dir, first)), first, KIND_SEGMENT, false).records).toBe(recs.length - hit.length);
    expect(await recoveredKeys(dir)).toEqual(without(all, hit));
  });

  it("a segment whose first record header was zeroed: repaired like other damage, not skipped as unwritten", async () => {
    const { dataDir, first, recs, all } = await twoSegments();
    const dir = logDir(dataDir);
    zeroFill(join(dir, first), 8, HEADER);
    const hit = recs.filter((r) => r.start === 8);
    expect(hit).toHaveLength(1);
    const report = await repairNode({ dataDir, node: NODE, now: NOW });
    expect(damagedFile(report.files).map((f) => f.file)).toEqual([first]);
    expect(await recoveredKeys(dir)).toEqual(without(all, hit));
  });

  it("a damaged snapshot record: the snapshot keeps the others and gets a trailer counting them; the report gives the old trailer's count", async () => {
    const { dataDir, snap, recs, all } = await withSnapshot();
    const dir = logDir(dataDir);
    expect(recs.length).toBe(8);
    const hit = recs[3] as Rec;
    flipBit(join(dir, snap), hit.start + HEADER + 10, 5);

    const report = await repairNode({ dataDir, node: NODE, now: NOW });
    const [f] = damagedFile(report.files) as [FileReport];
    expect(f).toMatchObject({ file: snap, kind: "snapshot", records: 7, trailer: { count: 8, before: 7 } });
    expect(f.badRegions.map((r) => [r.from, r.to])).toEqual([[hit.start, hit.end]]);
    expect(await recoveredKeys(dir)).toEqual(without(all, [hit]));
  });

  it("a snapshot cut short in a record, and a damaged trailer: what is left is kept, and the report says the trailer is missing", async () => {
    const { dataDir, snap, recs, all } = await withSnapshot();
    const dir = logDir(dataDir);
    const cut = recs[5] as Rec;
    // Cut in the record's value (text: the region ends at the cut, not at a zero byte before it).
    const at = cut.start + HEADER + 35;
    expect(readFileSync(join(dir, snap))[at - 1]).not.toBe(0);
    truncateTo(join(dir, snap), at);
    let report = await repairNode({ dataDir, node: NODE, now: NOW });
    let [f] = damagedFile(report.files) as [FileReport];
    expect(f).toMatchObject({ file: snap, records: 5, badRegions: [{ from: cut.start, to: at }] });
    expect(f.badRegions[0]?.reason).toMatch(/past the end of the file/);
    expect(f.trailer).toBeUndefined();
    expect(await recoveredKeys(dir)).toEqual(without(all, recs.slice(5)));

    // Now whole but for its trailer: every record is kept.
    const again = await withSnapshot();
    const path = join(logDir(again.dataDir), again.snap);
    flipBit(path, statSync(path).size - 2, 0);
    report = await repairNode({ dataDir: again.dataDir, node: NODE, now: NOW });
    [f] = damagedFile(report.files) as [FileReport];
    expect(f).toMatchObject({ file: again.snap, records: 8, bytesDropped: 20 });
    expect(f.trailer).toBeUndefined();
    expect(await recoveredKeys(logDir(again.dataDir))).toEqual(again.all);
  });

  it("a segment cut short: the records before the cut are kept", async () => {
    const { dataDir, first, recs, all } = await twoSegments();
    const dir = logDir(dataDir);
    const cut = recs[9] as Rec;
    truncateTo(join(dir, first), cut.start + 5);
    const report = await repairNode({ dataDir, node: NODE, now: NOW });
    const [f] = damagedFile(report.files) as [FileReport];
    expect(f).toMatchObject({ file: first, records: 9, badRegions: [{ from: cut.start, to: cut.start + 5 }] });
    expect(await recoveredKeys(dir)).toEqual(without(all, recs.slice(9)));
  });

  it("--dry-run reports the same and changes nothing", async () => {
    const { dataDir, first, recs } = await twoSegments();
    const hit = recs[4] as Rec;
    flipBit(join(logDir(dataDir), first), hit.start + 20, 1);
    const before = contents(dataDir);
    const dry = await repairNode({ dataDir, node: NODE, dryRun: true, now: NOW });
    expect(contents(dataDir)).toEqual(before);
    expect(dry).toMatchObject({ dryRun: true, damaged: 1, repaired: false, bytesDropped: hit.end - hit.start });
    expect(dry.backup).toBeUndefined();
    expect(() => engineIn(logDir(dataDir)).recover()).toThrow(CorruptStorageError);

    const real = await repairNode({ dataDir, node: NODE, now: NOW });
    expect(real).toMatchObject({ dryRun: false, damaged: 1, repaired: true });
    expect(real.files.map((f) => f.badRegions)).toEqual(dry.files.map((f) => f.badRegions));
  });

  it("a whole folder has nothing to repair and is left alone; a torn last write is recovery's to cut", async () => {
    const { dataDir } = await twoSegments();
    const dir = logDir(dataDir);
    // A third run writes one record of several sectors, and a crash leaves all but its first unwritten.
    const engine = engineIn(dir);
    engine.recover();
    await engine.commit(batch("big").map((m) => (m.op === "set" ? { ...m, value: b("x".repeat(1000)) } : m)));
    await engine.close();
    const third = segmentsWithRecords(dir).at(-1) as string;
    const [big] = recordsOf(readFileSync(join(dir, third))) as [Rec];
    expect(big.end).toBeGreaterThan(1024);
    zeroFill(join(dir, third), 512, big.end - 512);
    const before = contents(dataDir);
    const report = await repairNode({ dataDir, node: NODE, now: NOW });
    expect(report).toMatchObject({ damaged: 0, repaired: false, bytesDropped: 0 });
    expect(report.files.filter((f) => f.status === "ok").map((f) => f.file)).toEqual(segmentsWithRecords(dir));
    expect(report.lostWrites).toBeUndefined();
    expect(report.files.find((f) => f.file === third)?.torn?.offset).toBe(big.start);
    expect(contents(dataDir)).toEqual(before);
  });

  it("refuses while the node holds its folder, and when the node has no log folder (creating nothing)", async () => {
    const { dataDir } = await twoSegments();
    const held = await openDataDir(dataDir, NODE);
    try {
      await expect(repairNode({ dataDir, node: NODE })).rejects.toThrow(DataDirLockedError);
    } finally {
      held.release();
    }
    await expect(repairNode({ dataDir, node: "nobody" })).rejects.toThrow(RepairError);
    expect(existsSync(join(dataDir, "nobody"))).toBe(false);
  });

  it("a damaged segment of the earlier format (no file header, murmur3) keeps its valid records, rewritten in the current format", async () => {
    const dataDir = folder();
    const dir = logDir(dataDir);
    mkdirSync(dir, { recursive: true });
    const batches = Array.from({ length: 6 }, (_, i) => batch(`v1-${i}`));
    const recs = batches.map((muts) => {
      const body = encodeBody(muts);
      const head = Buffer.alloc(8);
      head.writeUInt32LE(body.length, 0);
      head.writeUInt32LE(murmur3(body), 4);
      return Buffer.concat([head, body]);
    });
    const file = "000000000000.log";
    writeFileSync(join(dir, file), Buffer.concat(recs));
    // Not the newest segment (a later run wrote another), so a bad record in it is corruption.
    writeFileSync(join(dir, "000000000001.log"), recs[0] as Buffer);
    const start2 = (recs[0] as Buffer).length + (recs[1] as Buffer).length;
    flipBit(join(dir, file), start2 + 12, 2);

    const report = await repairNode({ dataDir, node: NODE, now: NOW });
    const [f] = damagedFile(report.files) as [FileReport];
    expect(f).toMatchObject({ file, format: 1, records: 5, badRegions: [{ from: start2, to: start2 + (recs[2] as Buffer).length }] });
    expect(readFileSync(join(dir, file)).subarray(0, 4).toString("latin1")).toBe("SDLG");
    const keys = batches.flatMap((muts, i) => (i === 2 ? [] : muts.map((m) => (m.op === "set" ? Buffer.from(m.key).toString() : ""))));
    expect(await recoveredKeys(dir)).toEqual(keys.sort());
  });
});
