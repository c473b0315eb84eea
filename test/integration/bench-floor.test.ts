/**
 * `npm run bench:floor`: a small run prints a row per run and the median, with syncs per put
 * that show the per-turn batching, and leaves no folder behind; with `--rf 1,2` it alternates
 * the unreplicated and the replicated floor and prints their ratio, and the replicated floor
 * really writes and syncs each put on two servers and answers it only once its replica has
 * (a stopped replica holds the answer); a bad number stops it with exit 2. Runs
 * the built script (dist/scripts/bench-floor.js) and its servers.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { waitUntil } from "../helpers/wait.js";
import type { startFloor as StartFloor } from "../../scripts/bench/floor-cluster.js";

const FLOOR = fileURLToPath(new URL("../../dist/scripts/bench-floor.js", import.meta.url));
const FLOOR_CLUSTER = new URL("../../dist/scripts/bench/floor-cluster.js", import.meta.url).href;

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
    expect(r.out).toMatch(/^median rf 1: [\d,]+ puts\/s/m);
    expect(folders().filter((f) => !before.includes(f))).toEqual([]);
  }, 60_000);

  it("--rf 1,2 alternates both floors and prints rf 2 ÷ rf 1; rf 2 sends copies and acknowledgements", () => {
    const before = folders();
    const r = floor("--ops", "4000", "--runs", "2", "--in-flight", "20", "--rf", "1,2");
    expect(r.code, r.out).toBe(0);
    const rows = [...r.out.matchAll(/rf (\d) run (\d): ([\d,]+) puts\/s, servers [\d.]+ µs\/put, client [\d.]+ µs\/put, ([\d.]+) syncs\/put, ([\d.]+) messages\/put/g)];
    expect(rows.map((m) => `${m[1]}/${m[2]}`)).toEqual(["1/1", "2/1", "1/2", "2/2"]);
    for (const run of ["1", "2"]) {
      const [one, two] = ["1", "2"].map((rf) => rows.find((m) => m[1] === rf && m[2] === run) as RegExpMatchArray);
      // rf 1 answers once per round; rf 2 adds a copy to a peer and its acknowledgement per round at least.
      expect(Number(two?.[5])).toBeGreaterThan(Number(one?.[5]));
    }
    expect(r.out).toMatch(/^median rf 1: [\d,]+ puts\/s/m);
    expect(r.out).toMatch(/^median rf 2: [\d,]+ puts\/s/m);
    expect(r.out).toMatch(/^rf 2 ÷ rf 1 puts\/s \(same run, median\): ×\d+\.\d\d \(runs: ×\d+\.\d\d, ×\d+\.\d\d\)$/m);
    expect(folders().filter((f) => !before.includes(f))).toEqual([]);
  }, 60_000);

  it("at rf 2 a put is answered only once its replica has it: not while the replica is stopped", async () => {
    const { startFloor } = (await import(FLOOR_CLUSTER)) as { startFloor: typeof StartFloor };
    // Two servers, chain: server 0's copies go to server 1, which is stopped (SIGSTOP).
    const f = await startFloor({ servers: 2, rf: 2, replicas: "chain" });
    const replica = f.pids()[1] as number;
    process.kill(replica, "SIGSTOP");
    try {
      const value = "v".repeat(100);
      const size = 8 + 16 + value.length;
      const answered: boolean[] = [];
      const puts = Array.from({ length: 8 }, (_, i) => f.put(`k${String(i).padStart(15, "0")}`, value).then(() => (answered[i] = true)));
      // Server 0 has appended and synced its own puts (some of the 8 keys are its own)...
      await waitUntil(async () => (await f.countsOf(0)).appended > 0, { what: "server 0's own round" });
      const server0 = await f.countsOf(0);
      expect(server0.appended / size).toBeGreaterThan(0);
      // ...and has answered none of them: all it sent is one copy per round to the stopped
      // replica (an answer would be a message more, counted in the same round), and each put
      // still waits for the replica's acknowledgement.
      expect(server0.messages).toBe(server0.rounds);
      expect(answered.filter(Boolean)).toEqual([]);
      process.kill(replica, "SIGCONT");
      await Promise.all(puts);
      const c = await f.counts();
      expect(c.appended).toBe(8 * size * 2);
    } finally {
      process.kill(replica, "SIGCONT");
      await f.stop();
    }
  }, 30_000);

  it.each([1, 2] as const)("at rf %i each answered put is appended on that many servers", async (rf) => {
    const { startFloor } = (await import(FLOOR_CLUSTER)) as { startFloor: typeof StartFloor };
    for (const replicas of rf === 1 ? (["spread"] as const) : (["spread", "chain"] as const)) {
      const f = await startFloor({ servers: 3, rf, replicas });
      try {
        const value = "v".repeat(100);
        // 8 bytes of head, a 16-byte key and the value.
        const size = 8 + 16 + value.length;
        let at = 0;
        await Promise.all(Array.from({ length: 10 }, async () => {
          while (at < 300) await f.put(`k${String(at++).padStart(15, "0")}`, value);
        }));
        const c = await f.counts();
        // Answered puts only: each was appended (and synced) on rf servers, nothing more.
        expect(c.appended).toBe(300 * size * rf);
        expect(c.rounds).toBeGreaterThan(0);
      } finally {
        await f.stop();
      }
    }
  }, 30_000);

  it("refuses a bad number, rf, placement or flag before starting anything", () => {
    const r = floor("--in-flight", "0");
    expect(r.code).toBe(2);
    expect(r.out).toContain("--in-flight takes a positive integer, not 0");
    expect(floor("--rf", "3").out).toContain("--rf takes 1, 2 or 1,2, not 3");
    expect(floor("--rf", "3").code).toBe(2);
    expect(floor("--replicas", "ring").out).toContain("--replicas takes spread or chain, not ring");
    expect(floor("--rf", "2", "--servers", "1").out).toContain("--rf 2 needs at least 2 servers");
    const unknown = floor("--rff", "2");
    expect(unknown.code).toBe(2);
    expect(unknown.out).toMatch(/^npm run bench:floor: Unknown option '--rff'/m);
  });
});
