/**
 * Corruption is detected, never silently skipped: one flipped bit anywhere in a segment or a
 * snapshot either leaves every committed write readable or makes recovery refuse with
 * CorruptStorageError naming the file and offset; only a torn last write is cut off.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LogEngine } from "../../src/store/log-engine.js";
import { zerosFrom } from "../../src/store/log-file.js";
import { CorruptStorageError } from "../../src/store/storage-errors.js";
import type { Mutation, RecoveredState } from "../../src/store/storage-engine.js";
import { mulberry32 } from "../helpers/prng.js";
import { tempFolders } from "../helpers/temp-folders.js";

const folder = tempFolders("shardict-corrupt-");

const b = (s: string) => Uint8Array.from(Buffer.from(s));
const set = (key: string, value: string): Mutation => ({ op: "set", part: 0, dict: "d", gen: 0, key: b(key), value: b(value), deadline: 1000, ver: 1, ttl: 0 });
const view = (state: RecoveredState) => [...state.entries].map((e) => `${Buffer.from(e.key).toString()}=${Buffer.from(e.value).toString()}`).sort();
const engineIn = (dir: string) => new LogEngine(dir, { segmentBytes: 64 * 1024, log: () => {} });

/** A folder with 4 committed batches (one per record); returns what recovery must give back. */
async function written(dir: string, snapshot: boolean): Promise<string[]> {
  const engine = engineIn(dir);
  engine.recover();
  const live = new Map<string, string>();
  for (let i = 0; i < 4; i++) {
    const muts = Array.from({ length: 20 }, (_, j) => set(`k${i}-${j}`, `value ${i}/${j} `.repeat(3)));
    await engine.commit(muts);
    for (const m of muts) if (m.op === "set") live.set(Buffer.from(m.key).toString(), Buffer.from(m.value).toString());
  }
  if (snapshot) {
    engine.setSnapshotSource(function* () {
      yield [...live].map(([k, v]) => set(k, v));
    });
    await engine.compact();
  }
  await engine.close();
  return [...live].map(([k, v]) => `${k}=${v}`).sort();
}

function recoverOrRefuse(dir: string): string[] | CorruptStorageError {
  const engine = engineIn(dir);
  try {
    return view(engine.recover());
  } catch (err) {
    if (err instanceof CorruptStorageError) return err;
    throw err;
  } finally {
    void engine.close();
  }
}

describe("corruption in the log engine's files", () => {
  for (const kind of ["segment", "snapshot"] as const) {
    it(`one flipped bit at 60 seeded random offsets of a ${kind}: everything comes back, or recovery refuses naming file and offset`, async () => {
      const base = folder();
      const expected = await written(base, kind === "snapshot");
      const name = readdirSync(base).find((f) => f.endsWith(kind === "snapshot" ? ".snap" : ".log") && readFileSync(join(base, f))[8] !== 0) as string;
      const original = readFileSync(join(base, name));
      // Where the records end: past it a flip lands in a preallocated segment's zeros.
      let end = original.length;
      while (end > 0 && original[end - 1] === 0) end--;
      const rand = mulberry32(kind === "snapshot" ? 7 : 13);
      let refused = 0;
      for (let round = 0; round < 60; round++) {
        const offset = Math.floor(rand() * end);
        const bad = Buffer.from(original);
        bad[offset] = (bad[offset] as number) ^ (1 << Math.floor(rand() * 8));
        const dir = folder();
        for (const f of readdirSync(base)) writeFileSync(join(dir, f), f === name ? bad : readFileSync(join(base, f)));
        const got = recoverOrRefuse(dir);
        if (got instanceof CorruptStorageError) {
          refused++;
          expect(got.file).toBe(name);
          expect(got.message).toMatch(/corrupt at offset \d+/);
        } else {
          expect(got, `flip at ${offset}`).toEqual(expected);
        }
      }
      // Nearly every flip lands in records (checksummed): they must be refused, not skipped.
      expect(refused).toBeGreaterThan(50);
    });
  }

  it("a snapshot cut short at a record boundary is refused (its trailer counts the records)", async () => {
    const dir = folder();
    await written(dir, true);
    const name = readdirSync(dir).find((f) => f.endsWith(".snap")) as string;
    const buf = readFileSync(join(dir, name));
    writeFileSync(join(dir, name), buf.subarray(0, buf.length - 20));
    expect(recoverOrRefuse(dir)).toBeInstanceOf(CorruptStorageError);
  });

  it("a zeroed sector before other records is refused; zeros appended at the end are harmless", async () => {
    const dir = folder();
    const expected = await written(dir, false);
    const name = readdirSync(dir).find((f) => f.endsWith(".log") && readFileSync(join(dir, f))[8] !== 0) as string;
    const buf = readFileSync(join(dir, name));
    writeFileSync(join(dir, name), Buffer.concat([buf, Buffer.alloc(4096)]));
    expect(recoverOrRefuse(dir)).toEqual(expected);
    const zeroed = Buffer.from(buf);
    zeroed.fill(0, 512, 1024);
    writeFileSync(join(dir, name), zeroed);
    expect(recoverOrRefuse(dir)).toBeInstanceOf(CorruptStorageError);
  });

  it("an older segment's bad record is refused even if it is at that segment's end", async () => {
    const dir = folder();
    await written(dir, false);
    // A second run writes to a new segment.
    const engine = engineIn(dir);
    engine.recover();
    await engine.commit([set("later", "x")]);
    await engine.close();
    const segs = readdirSync(dir)
      .filter((f) => f.endsWith(".log") && readFileSync(join(dir, f))[8] !== 0)
      .sort();
    expect(segs.length).toBe(2);
    const first = join(dir, segs[0] as string);
    const buf = readFileSync(first);
    let end = buf.length;
    while (buf[end - 1] === 0) end--;
    buf[end - 3] = (buf[end - 3] as number) ^ 4;
    writeFileSync(first, buf);
    expect(recoverOrRefuse(dir)).toBeInstanceOf(CorruptStorageError);
  });

  it("a segment whose first record header was zeroed is refused, not taken for an unwritten one", async () => {
    const dir = folder();
    await written(dir, false);
    const name = readdirSync(dir).find((f) => f.endsWith(".log") && readFileSync(join(dir, f))[8] !== 0) as string;
    const buf = readFileSync(join(dir, name));
    buf.fill(0, 8, 8 + 16);
    writeFileSync(join(dir, name), buf);
    const refused = recoverOrRefuse(dir);
    expect(refused).toBeInstanceOf(CorruptStorageError);
    expect((refused as CorruptStorageError).message).toContain(name);
    // Nothing was deleted or reused meanwhile.
    expect(readFileSync(join(dir, name)).equals(buf)).toBe(true);
  });

  it("an empty snapshot file is refused (a snapshot always has a header and a trailer)", async () => {
    const dir = folder();
    await written(dir, true);
    const name = readdirSync(dir).find((f) => f.endsWith(".snap")) as string;
    writeFileSync(join(dir, name), Buffer.alloc(0));
    expect(recoverOrRefuse(dir)).toBeInstanceOf(CorruptStorageError);
  });

  it("zerosFrom sees one non-zero byte anywhere past its start, chunk edges included", () => {
    const size = 3 * 64 * 1024 + 5;
    for (const at of [8, 64 * 1024 - 1, 64 * 1024, 2 * 64 * 1024 + 7, size - 1]) {
      const buf = Buffer.alloc(size);
      buf[at] = 1;
      expect(zerosFrom(buf, 8), `byte at ${at}`).toBe(false);
      expect(zerosFrom(buf, at + 1), `from ${at + 1}`).toBe(true);
    }
    expect(zerosFrom(Buffer.alloc(size), 8)).toBe(true);
  });
});
