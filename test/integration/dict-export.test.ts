/**
 * `shardict dict export` / `import` against a real cluster: a round trip into another dict
 * compared entry by entry (every value type, own TTLs kept), in both formats; an import
 * that resumes from its progress file; and the export's point in time per partition.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, type Client } from "../../src/index.js";
import { partitionOf } from "../../src/hashing/hash.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { cleanEnv, runCli, type CliResult } from "../helpers/cli.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { clientOf } from "../../src/client/client.js";
import { routeOf } from "../../src/client/routing.js";
import { encodeValue } from "../../src/client/value-codec.js";
import { checkReply } from "../../src/protocol/replies.js";

let tc: TestCluster;
let client: Client;
let dir: string;
beforeAll(async () => {
  tc = await startTestCluster({ partitions: 16 });
  client = await tc.client();
  dir = mkdtempSync(join(tmpdir(), "shardict-export-"));
});
afterAll(async () => {
  await tc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]): Promise<CliResult> => runCli(["dict", ...args], { env: cleanEnv({ SHARDICT_URL: tc.url }), timeoutMs: 60_000 });
const ok = async (...args: string[]): Promise<string> => {
  const r = await cli(...args);
  expect(r.code, `shardict dict ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

async function contents(d: Dict): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for await (const [k, v] of d.items()) out.set(JSON.stringify(k), v);
  return out;
}

describe("export and import", () => {
  for (const format of ["ndjson", "msgpack"] as const) {
    it(`round-trips a dict through ${format}, entry by entry, own TTLs kept`, async () => {
      const src = await Dict.objects.create(`exp-src-${format}`, { client });
      const entries: [unknown, unknown][] = [];
      for (let i = 0; i < 2_500; i++) entries.push([i % 3 === 0 ? i : `k${i}`, { i, at: new Date(1_700_000_000_000 + i), big: BigInt(i) ** 3n, tags: new Set([i % 7]) }]);
      await src.update(entries as [string, unknown][]);
      await src.put("short-lived", "x", { ttlMs: 60_000 });
      await src.put(["composite", 1], new Map([["m", Uint8Array.from([1, 2])]]));
      const file = join(dir, `dump.${format === "ndjson" ? "ndjson" : "msgpack"}`);
      await ok("export", src.name as string, "--out", file);
      if (format === "ndjson") {
        const lines = readFileSync(file, "utf8").trim().split("\n");
        expect(JSON.parse(lines[0] as string)).toMatchObject({ $export: { format: 1, dict: src.name, partitions: 16 } });
        expect(lines).toHaveLength(1 + 2_502);
        const short = lines.map((l) => JSON.parse(l) as { key?: unknown; ttlMs?: number; expiresInMs?: number }).find((o) => o.key === "short-lived");
        expect(short?.ttlMs).toBe(60_000);
        expect(short?.expiresInMs).toBeLessThanOrEqual(60_000);
      }
      await ok("import", `exp-dst-${format}`, file);
      const dst = Dict.fromName(`exp-dst-${format}`, { client });
      expect(await contents(dst)).toEqual(await contents(src));
      const e = await dst.getEntry("short-lived");
      expect(e!.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    }, 120_000);
  }

  it("an interrupted import resumes after the entries its progress file says are done", async () => {
    const src = await Dict.objects.create("exp-resume", { client });
    await src.update(Array.from({ length: 3_000 }, (_, i) => [`r${i}`, i] as [string, number]));
    const file = join(dir, "resume.ndjson");
    await ok("export", "exp-resume", "--out", file);
    const dst = await Dict.objects.create("exp-resume-dst", { client });
    // As if a run had imported 2,000 entries and then died.
    writeFileSync(`${file}.import-progress.json`, JSON.stringify({ dict: dst.objectId, done: 2_000 }));
    const r = await cli("import", "exp-resume-dst", file, "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ written: 1_000, resumedAfter: 2_000 });
    expect(await dst.len()).toBe(1_000);
    // The progress file is gone: a new run imports everything (writing twice is harmless).
    await ok("import", "exp-resume-dst", file);
    expect(await contents(dst)).toEqual(await contents(src));
    // A progress file of another dict is refused, not applied.
    writeFileSync(`${file}.import-progress.json`, JSON.stringify({ dict: "di-someoneelse", done: 5 }));
    expect((await cli("import", "exp-resume-dst", file)).code).toBe(2);
    rmSync(`${file}.import-progress.json`);
  }, 120_000);

  it("each partition is exported from one point in time: writes after its first page are not in it", async () => {
    const d = await Dict.objects.create("exp-point", { client });
    const N = 4_000;
    await d.update(Array.from({ length: N }, (_, i) => [`p${i}`, "before"] as [string, string]));
    const c = clientOf(client);
    const part = partitionOf(d.objectId, encodeKey("p0"), c.table.partitions);
    const page = async (from: number, session?: string) =>
      checkReply(
        "exportPage",
        await c.dataRequest((t) => ({ shard: routeOf(t, part), frame: { type: "exportPage", dict: d.objectId, part, epoch: t.epoch, from, limit: 20, ...(session !== undefined && { session }) } })),
      );
    const first = await page(0);
    if ("restart" in first) throw new Error("a new export cannot be told to restart");
    // Everything changes after the first page: overwrites, deletes and a new key, in this partition too.
    await d.update(Array.from({ length: N }, (_, i) => [`p${i}`, "after"] as [string, string]));
    for (let i = 0; i < 100; i++) await d.delete(`p${i}`);
    const values = first.values.map((v) => Buffer.from(v).toString());
    let next = first.next;
    while (next !== null) {
      const p = await page(next, first.session);
      if ("restart" in p) throw new Error("the capture was lost");
      values.push(...p.values.map((v) => Buffer.from(v).toString()));
      next = p.next;
    }
    const inPart = Array.from({ length: N }, (_, i) => `p${i}`).filter((k) => partitionOf(d.objectId, encodeKey(k), c.table.partitions) === part);
    expect(values.length).toBe(inPart.length);
    expect(values.length).toBeGreaterThan(40); // several pages
    // Every value as of the first page (the stored bytes of the string "before").
    expect(new Set(values)).toEqual(new Set([Buffer.from(await encodeValue("before")).toString()]));
    // A session the shard does not know is never replaced by a new capture.
    expect(await page(20, `${part}.xunknown`)).toEqual({ restart: true });
  }, 120_000);

  it("backup DIR and restore DIR take every named dict of an environment", async () => {
    const a = await Dict.objects.create("bk-a", { environmentName: "bk", client });
    const b = await Dict.objects.create("bk-b", { environmentName: "bk", client });
    await a.update(Array.from({ length: 500 }, (_, i) => [`a${i}`, { i }] as [string, unknown]));
    await b.put("only", new Set([1, 2]));
    const folder = join(dir, "backup");
    const env = cleanEnv({ SHARDICT_URL: tc.url });
    const r = await runCli(["backup", folder, "--env", "bk"], { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(folder, "manifest.json"), "utf8")) as { dicts: { name: string; entries: number }[] };
    expect(manifest.dicts.map((d) => [d.name, d.entries]).sort()).toEqual([["bk-a", 500], ["bk-b", 1]]);
    const back = await runCli(["restore", folder, "--env", "bk-restored"], { env, timeoutMs: 60_000 });
    expect(back.code, back.stderr).toBe(0);
    expect(await contents(Dict.fromName("bk-a", { environmentName: "bk-restored", client }))).toEqual(await contents(a));
    expect(await contents(Dict.fromName("bk-b", { environmentName: "bk-restored", client }))).toEqual(await contents(b));
    expect((await runCli(["restore", join(dir, "nothing-here")], { env })).code).toBe(2);
  }, 120_000);

  it("bad input: unknown dict, missing file, bad lines, bad format flag", async () => {
    expect((await cli("export", "no-such-dict", "--out", join(dir, "x.ndjson"))).code).toBe(1);
    expect((await cli("import", "exp-any", join(dir, "missing.ndjson"))).code).toBe(2);
    const bad = join(dir, "bad.ndjson");
    writeFileSync(bad, '{"key":"a","value":1}\n{not json\n');
    const r = await cli("import", "exp-bad", bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.ndjson:2/);
    expect((await cli("export", "exp-point", "--format", "xml")).code).toBe(2);
  }, 60_000);
});
