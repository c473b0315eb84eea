/**
 * The `npm start` path: scripts/cluster.ts starts every node from a config file, prints a
 * ready line, serves clients, and stops all nodes on SIGTERM.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Dict, connect } from "../../src/index.js";
import { waitUntil } from "../helpers/wait.js";
import { loopbackConfig, writeTempConfig } from "../helpers/cli.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("npm start", () => {
  it("starts the configured cluster, serves, and stops every node on SIGTERM", async () => {
    const { dir, path: configPath } = writeTempConfig(
      loopbackConfig({
        shards: ["a", "b", "c"].map((id) => ({ id, host: "127.0.0.1", port: 0 })),
        partitions: 32,
      }),
    );
    dirs.push(dir);
    const proc = spawn(process.execPath, [join(root, "dist/scripts/cluster.js")], {
      env: { ...process.env, SHARDICT_CONFIG: configPath },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    createInterface({ input: proc.stdout }).on("line", (l) => lines.push(l));
    createInterface({ input: proc.stderr }).on("line", (l) => lines.push(l));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    try {
      const ready = await waitUntil(() => lines.find((l) => /^cluster: ready: 3 shards, 32 partitions/.test(l)), { what: "the ready line", timeoutMs: 30_000 });
      const url = /SHARDICT_URL=(\S+)\./.exec(ready)?.[1];
      expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
      for (const id of ["a", "b", "c"]) expect(lines.some((l) => l.startsWith(`cluster: ${id} ws://127.0.0.1:`))).toBe(true);
      const pids = lines.map((l) => /pid (\d+)/.exec(l)?.[1]).filter((p): p is string => p !== undefined);
      const client = await connect({ url: url as string });
      const d = Dict.fromName("started", { createIfMissing: true, client });
      await d.put("k", "v");
      expect(await d.get("k")).toBe("v");
      client.close();
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(lines).toContain("cluster: stopped");
      expect(pids).toHaveLength(4);
      for (const pid of pids) expect(alive(Number(pid))).toBe(false);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
  });
});

describe("npm start twice", () => {
  it("a second run with the same dataDir shows the data of the first", async () => {
    const { dir, path: configPath } = writeTempConfig(loopbackConfig({ partitions: 16, dataDir: "./data" }));
    dirs.push(dir);
    async function run<T>(body: (url: string) => Promise<T>): Promise<T> {
      const proc = spawn(process.execPath, [join(root, "dist/scripts/cluster.js")], {
        env: { ...process.env, SHARDICT_CONFIG: configPath },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const lines: string[] = [];
      createInterface({ input: proc.stdout }).on("line", (l) => lines.push(l));
      createInterface({ input: proc.stderr }).on("line", (l) => lines.push(l));
      const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
      try {
        const ready = await waitUntil(() => lines.find((l) => l.startsWith("cluster: ready:")), { what: "the ready line", timeoutMs: 30_000 });
        const result = await body(/SHARDICT_URL=(\S+)\./.exec(ready)?.[1] as string);
        proc.kill("SIGTERM");
        expect(await exited).toBe(0);
        return result;
      } finally {
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
    }
    const id = await run(async (url) => {
      const client = await connect({ url });
      const d = Dict.fromName("kept", { createIfMissing: true, client });
      await d.update(Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, { i }])));
      await d.hydrate();
      client.close();
      return d.objectId;
    });
    await run(async (url) => {
      const client = await connect({ url });
      const d = await Dict.fromName("kept", { client }).hydrate();
      expect(d.objectId).toBe(id);
      expect(await d.len()).toBe(500);
      expect(await d.get("k123")).toEqual({ i: 123 });
      client.close();
    });
  });
});
