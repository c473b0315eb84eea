/**
 * `npm run bench:floor`: a small run prints a row per run and the median, with syncs per put
 * that show the per-turn batching, and leaves no folder behind; a bad
 * number stops it with exit 2. Runs the built script (dist/scripts/bench-floor.js).
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const FLOOR = fileURLToPath(new URL("../../dist/scripts/bench-floor.js", import.meta.url));

function floor(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [FLOOR, ...args], { encoding: "utf8", timeout: 50_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const folders = () => readdirSync(tmpdir()).filter((f) => f.startsWith("shardict-floor-"));

describe("npm run bench:floor", () => {
  it("measures puts through three servers that sync once per turn, and cleans up", () => {
    const before = folders();
    const r = floor("--ops", "5000", "--runs", "2", "--in-flight", "20");
    expect(r.code, r.out).toBe(0);
    const rows = [...r.out.matchAll(/run \d: ([\d,]+) puts\/s, servers ([\d.]+) µs\/put, client ([\d.]+) µs\/put, ([\d.]+) syncs\/put/g)];
    expect(rows).toHaveLength(2);
    for (const [, perSec, server, client, syncs] of rows) {
      expect(Number((perSec as string).replaceAll(",", ""))).toBeGreaterThan(0);
      expect(Number(server)).toBeGreaterThan(0);
      expect(Number(client)).toBeGreaterThan(0);
      // 20 in flight over 3 servers: a round holds at least one put and never all 5,000.
      expect(Number(syncs)).toBeGreaterThan(0.01);
      expect(Number(syncs)).toBeLessThanOrEqual(1);
    }
    expect(r.out).toMatch(/median: [\d,]+ puts\/s/);
    expect(folders().filter((f) => !before.includes(f))).toEqual([]);
  }, 60_000);

  it("refuses a bad number before starting anything", () => {
    const r = floor("--in-flight", "0");
    expect(r.code).toBe(2);
    expect(r.out).toContain("--in-flight takes a positive integer, not 0");
  });
});
