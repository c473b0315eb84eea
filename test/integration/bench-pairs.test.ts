/**
 * `npm run bench:pairs`: two builds' clusters up at once, their put phases in pairs whose
 * order flips every pair, each pair's B ÷ A ratios and their medians; the clusters' folders
 * are gone afterwards; bad flags and a folder without a build stop it with exit 2. Runs the
 * built script (dist/scripts/bench-pairs.js) with this checkout as both builds (the A/A
 * control).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const PAIRS = fileURLToPath(new URL("../../dist/scripts/bench-pairs.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function pairs(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [PAIRS, ...args], { encoding: "utf8", timeout: 100_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const folders = () => readdirSync(tmpdir()).filter((f) => f.startsWith("shardict-bench-"));

describe("npm run bench:pairs", () => {
  it("measures both builds pair by pair, flipping the order, prints the median ratios, and cleans up", () => {
    const before = folders();
    // Enough puts per phase that the shards' CPU (read from /proc in clock ticks) is never a round 0.
    const r = pairs("--a", ROOT, "--b", ROOT, "--pairs", "3", "--ops", "2000", "--warm", "1000", "--in-flight", "20", "--lead-in-s", "0.1");
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/after 1,000 each; each timed phase after 0\.1 s of untimed puts$/m);
    const rows = [...r.out.matchAll(/pair (\d) \(([AB]) first\): A ([\d,]+) puts\/s, shards ([\d.]+) µs\/put.* \| B ([\d,]+) puts\/s, shards ([\d.]+) µs\/put.* \| B ÷ A puts ×([\d.]+), shard CPU ×([\d.]+)/g)];
    expect(rows.map((m) => [m[1], m[2]])).toEqual([
      ["1", "A"],
      ["2", "B"],
      ["3", "A"],
    ]);
    for (const m of rows) {
      const [a, aCpu, b, bCpu, ratio] = [m[3], m[4], m[5], m[6], m[7]].map((x) => Number((x as string).replaceAll(",", "")));
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
      expect(aCpu).toBeGreaterThan(0);
      expect(bCpu).toBeGreaterThan(0);
      expect(ratio).toBeCloseTo((b as number) / (a as number), 1);
    }
    // Each phase's log rounds, from the shards' metrics: their length, their sync's share, puts per round.
    const rounds = [...r.out.matchAll(/rounds of ([\d,]+) µs \(sync ([\d,]+)\), ([\d.]+) puts each/g)].map((m) => [m[1], m[2], m[3]].map((x) => Number((x as string).replaceAll(",", ""))));
    expect(rounds).toHaveLength(3 * 2 + 2);
    for (const [micros, sync, puts] of rounds) {
      expect(sync).toBeGreaterThan(0);
      expect(micros).toBeGreaterThan(sync as number);
      expect(puts).toBeGreaterThan(0);
    }
    expect(r.out).toMatch(/^median A: [\d,]+ puts\/s, shards [\d.]+ µs\/put/m);
    expect(r.out).toMatch(/^median B: [\d,]+ puts\/s, shards [\d.]+ µs\/put/m);
    expect(r.out).toMatch(/^B ÷ A, median of the pairs: puts ×[\d.]+, shard CPU per put ×[\d.]+, client CPU per put ×[\d.]+ \(B's shard CPU lower in \d of 3 pairs\)/m);
    expect(folders().filter((f) => !before.includes(f))).toEqual([]);
  }, 110_000);

  it("runs each side at its own number of shard processes (--a-shards, --b-shards)", () => {
    const before = folders();
    const r = pairs("--a", ROOT, "--b", ROOT, "--a-shards", "2", "--b-shards", "1", "--pairs", "1", "--ops", "1000", "--warm", "500", "--in-flight", "10");
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/: A 2 shards, B 1 at rf 1, both up at once;/);
    // Counted from the clusters as started, not from the flags.
    expect(r.out).toMatch(/^A: 2 shard processes up, B: 1 shard processes up$/m);
    expect(r.out).toMatch(/^B ÷ A, median of the pairs: puts ×[\d.]+/m);
    expect(folders().filter((f) => !before.includes(f))).toEqual([]);
  }, 60_000);

  it("starts each side from its own folder's build, and stops A's cluster when B's fails to start", () => {
    // A build whose cluster cannot start, saying whose it is.
    const fake = mkdtempSync(join(tmpdir(), "shardict-pairs-fake-"));
    try {
      mkdirSync(join(fake, "dist/scripts/bench"), { recursive: true });
      writeFileSync(join(fake, "package.json"), JSON.stringify({ type: "module" }));
      writeFileSync(join(fake, "dist/scripts/bench/systems.js"), `export async function startShardict() { throw new Error("the build in ${fake.replaceAll("\\", "/")}"); }\n`);
      for (const [a, b] of [
        [fake, ROOT],
        [ROOT, fake],
      ] as const) {
        const before = folders();
        const r = pairs("--a", a, "--b", b, "--pairs", "1", "--ops", "200", "--warm", "200");
        expect(r.code, r.out).not.toBe(0);
        expect(r.out).toContain(`the build in ${fake}`);
        // With B failing, A's cluster had started: its folder is gone, so it was stopped.
        expect(folders().filter((f) => !before.includes(f))).toEqual([]);
      }
    } finally {
      rmSync(fake, { recursive: true, force: true });
    }
  }, 60_000);

  it("refuses bad flags, a missing build and a folder without one, with exit 2", () => {
    const cases: [string[], RegExp][] = [
      [["--a", ROOT], /--b DIR is required/],
      [["--a", ROOT, "--b", tmpdir()], /has no dist\/scripts\/bench\/systems\.js: run npm run build there first/],
      [["--a", ROOT, "--b", ROOT, "--pairs", "0"], /--pairs takes a positive integer, not 0/],
      [["--a", ROOT, "--b", ROOT, "--rf", "4"], /--rf takes 1 to 3 \(the smaller cluster has 3 shards\), not 4/],
      [["--a", ROOT, "--b", ROOT, "--rf", "2", "--b-shards", "1"], /--rf takes 1 to 1 \(the smaller cluster has 1 shard\), not 2/],
      [["--a", ROOT, "--b", ROOT, "--a-shards", "0"], /--a-shards takes a positive integer, not 0/],
      [["--a", ROOT, "--b", ROOT, "--bogus"], /Unknown option '--bogus'/],
      [["--a", ROOT, "--b", ROOT, "--lead-in-s", "soon"], /--lead-in-s takes a number of seconds ≥ 0, not soon/],
    ];
    for (const [args, message] of cases) {
      const r = pairs(...args);
      expect(r.code, r.out).toBe(2);
      expect(r.out).toMatch(message);
    }
  });
});
