/**
 * The bench's flags: a bad value stops it before it starts anything, with exit code 2 and a
 * message naming the flag. Runs the built script (dist/scripts/bench.js).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BENCH = fileURLToPath(new URL("../../dist/scripts/bench.js", import.meta.url));

function bench(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BENCH, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("npm run bench flags", () => {
  it("--help lists the flags, --redis-fsync and --engine among them", () => {
    const r = bench("--help");
    expect(r.code).toBe(0);
    for (const flag of ["--shards", "--rf", "--vs-redis", "--redis-fsync", "--engine", "--incr-ops", "--cas-updates", "--watch-writes", "--watch-keys", "--watchers", "--key-watchers", "--warmup-s"]) expect(r.out).toContain(flag);
  });

  it("--only names every workload, incr, cas, watch and export among them", () => {
    const r = bench("--help");
    expect(r.out).toMatch(/--only a,b +workloads to run, of: put, get, mix, bulk, incr, cas, watch, len, scan, export, memory/);
  });

  it.each([
    [["--redis-fsync", "sometimes"], /--redis-fsync must be everysec or always, got "sometimes"/],
    [["--engine", "disk"], /--engine must be lmdb, log or memory, got "disk"/],
    [["--shards", "0"], /--shards must be an integer ≥ 1, not "0"/],
    [["--cas-updates", "0"], /--cas-updates must be an integer ≥ 1, not "0"/],
    [["--incr-ops", "x"], /--incr-ops must be an integer ≥ 1, not "x"/],
    [["--only", "incr,cass"], /--only: unknown workload\(s\) cass; pick from put, get, mix, bulk, incr, cas, watch, len, scan, export, memory/],
    [["--only", "watch", "--watch-writes", "0"], /--watch-writes must be an integer ≥ 1, not "0"/],
    [["--only", "watch", "--watchers", "many"], /--watchers must be an integer ≥ 0, not "many"/],
    [["--only", "watch", "--watchers", "0", "--key-watchers", "0"], /--watchers and --key-watchers cannot both be 0/],
    [["--warmup-s", "soon"], /--warmup-s must be an integer ≥ 0, not "soon"/],
    [["--no-such-flag"], /Unknown option '--no-such-flag'/],
  ])("%j exits 2 naming the flag, before starting anything", (args, message) => {
    const r = bench(...args);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(message);
  });
});
