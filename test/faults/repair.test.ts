/**
 * `shardict repair` on a real rf-1 shard: it refuses while the shard runs; after a flipped
 * bit has made the shard refuse to start (exit 78, naming the repair command), it drops the
 * one damaged record, keeps the original, and the shard starts again serving every other
 * write; the dropped write was an overwrite, so the value before it is back.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Dict, type Client } from "../../src/index.js";
import { runCli } from "../helpers/cli.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { flipBit } from "./helpers/bit-flip.js";
import { ONE_SHARD } from "./helpers/one-shard.js";

let tc: TestCluster;
let client: Client;
useTestCluster({ ...ONE_SHARD, launcher: { supervise: true } }, (t, c) => {
  tc = t;
  client = c;
});

const backups = (nodeDir: string) => readdirSync(nodeDir).filter((f) => f.startsWith("repair-"));

/** The records of a log file (format 2) as [start, end) offsets. */
function records(buf: Buffer): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let at = 8; at + 16 <= buf.length && buf[at] === 0xa5; at += 16 + buf.readUInt32LE(at + 4)) out.push({ start: at, end: at + 16 + buf.readUInt32LE(at + 4) });
  return out;
}

describe("shardict repair on a shard", () => {
  it("refuses while the shard runs (its folder is locked), changing nothing", async () => {
    const r = await runCli(["repair", "--config", tc.configPath, "--id", "shard-1"]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/in use by another running node \(pid \d+\); stop the node first/);
    expect(backups(join(tc.config.dataDir, "shard-1"))).toEqual([]);
  });

  it("after a flipped bit stops the shard: drops that record only, keeps the original, and the shard serves the rest", async () => {
    const d = await Dict.fromName("mended", { createIfMissing: true, client }).hydrate();
    for (let i = 0; i < 30; i++) await d.put(`k${i}`, `value ${i}`);
    await d.put("k5", "NEW-FIVE");
    for (let i = 30; i < 40; i++) await d.put(`k${i}`, `value ${i}`);
    await tc.cluster.kill("shard-1");

    const nodeDir = join(tc.config.dataDir, "shard-1");
    const dir = join(nodeDir, "log");
    const seg = readdirSync(dir)
      .filter((f) => f.endsWith(".log") && readFileSync(join(dir, f))[8] !== 0)
      .sort()
      .at(-1) as string;
    const buf = readFileSync(join(dir, seg));
    // Damage the record of the overwrite, in the middle of the segment.
    const marker = buf.indexOf("NEW-FIVE");
    expect(buf.indexOf("NEW-FIVE", marker + 1)).toBe(-1);
    const hit = records(buf).find((r) => r.start <= marker && marker < r.end);
    expect(hit).toBeDefined();
    flipBit(join(dir, seg), marker + 2, 1);

    await expect(tc.cluster.startShard("shard-1")).rejects.toThrow(/exited with code 78/);
    expect(tc.logs.some((l) => l.includes(`shardict repair --data-dir ${tc.config.dataDir} --id shard-1`))).toBe(true);

    const damaged = readFileSync(join(dir, seg));
    const dry = await runCli(["repair", "--data-dir", tc.config.dataDir, "--id", "shard-1", "--dry-run", "--json"]);
    expect(dry.code, dry.stderr).toBe(3);
    const report = JSON.parse(dry.stdout) as { damaged: number; files: { file: string; status: string; badRegions: { from: number; to: number }[] }[]; lostWrites: string };
    expect(report.damaged).toBe(1);
    expect(report.files.find((f) => f.status === "damaged")).toMatchObject({ file: seg, badRegions: [{ from: hit?.start, to: hit?.end }] });
    expect(report.lostWrites).toMatch(/value before it has come back/);
    expect(readFileSync(join(dir, seg)).equals(damaged)).toBe(true);
    expect(backups(nodeDir)).toEqual([]);

    const run = await runCli(["repair", "--data-dir", tc.config.dataDir, "--id", "shard-1"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`${seg} (segment`);
    expect(run.stdout).toContain(`from offset ${hit?.start} to ${hit?.end}`);
    expect(run.stdout).toMatch(/lost writes/);
    const [backup] = backups(nodeDir);
    expect(backup).toBeDefined();
    expect(readFileSync(join(nodeDir, backup as string, seg)).equals(damaged)).toBe(true);
    expect(existsSync(join(dir, seg))).toBe(true);

    await tc.cluster.startShard("shard-1");
    await waitUntil(async () => (await d.get("k39")) === "value 39", { what: "the shard to serve again" });
    for (let i = 0; i < 40; i++) expect(await d.get(`k${i}`)).toBe(`value ${i}`);

    // A second run finds nothing to repair, even with the shard stopped again.
    await tc.cluster.kill("shard-1");
    const again = await runCli(["repair", "--config", tc.configPath, "--id", "shard-1"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Nothing to repair/);
  });
});
