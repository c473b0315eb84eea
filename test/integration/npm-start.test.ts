/**
 * The `npm start` path: scripts/cluster.ts starts every node from a config file, prints a
 * ready line, serves clients, and stops all nodes on SIGTERM; a second run finds the data.
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
import { processGone } from "../helpers/child.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});


/** Run `npm start`'s script on a config until `body` is done, then SIGTERM it; returns the output too. */
async function runCluster<T>(configPath: string, body: (url: string, lines: string[]) => Promise<T>): Promise<{ result: T; lines: string[] }> {
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
    const url = /SHARDICT_URL=(\S+)\./.exec(ready)?.[1];
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const result = await body(url as string, lines);
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(lines).toContain("cluster: stopped");
    return { result, lines };
  } finally {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  }
}

function tempConfig(overrides: Record<string, unknown>): string {
  const { dir, path } = writeTempConfig(loopbackConfig(overrides));
  dirs.push(dir);
  return path;
}

describe("npm start", () => {
  it("starts the configured cluster, serves, and stops every node on SIGTERM", async () => {
    const configPath = tempConfig({ shards: ["a", "b", "c"].map((id) => ({ id, host: "127.0.0.1", port: 0 })), partitions: 32 });
    const { lines } = await runCluster(configPath, async (url, out) => {
      expect(out.some((l) => l.startsWith("cluster: ready: 3 shards, 32 partitions"))).toBe(true);
      for (const id of ["a", "b", "c"]) expect(out.some((l) => l.startsWith(`cluster: ${id} ws://127.0.0.1:`))).toBe(true);
      const client = await connect({ url });
      const d = Dict.fromName("started", { createIfMissing: true, client });
      await d.put("k", "v");
      expect(await d.get("k")).toBe("v");
      client.close();
    });
    const pids = lines.map((l) => /pid (\d+)/.exec(l)?.[1]).filter((p): p is string => p !== undefined);
    expect(pids).toHaveLength(4);
    for (const pid of pids) expect(processGone(Number(pid))).toBe(true);
  });

  it("a second run with the same dataDir shows the data of the first", async () => {
    const configPath = tempConfig({ partitions: 16, dataDir: "./data" });
    const { result: id } = await runCluster(configPath, async (url) => {
      const client = await connect({ url });
      const d = Dict.fromName("kept", { createIfMissing: true, client });
      await d.update(Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, { i }])));
      await d.hydrate();
      client.close();
      return d.objectId;
    });
    await runCluster(configPath, async (url) => {
      const client = await connect({ url });
      const d = await Dict.fromName("kept", { client }).hydrate();
      expect(d.objectId).toBe(id);
      expect(await d.len()).toBe(500);
      expect(await d.get("k123")).toEqual({ i: 123 });
      client.close();
    });
  });
});
