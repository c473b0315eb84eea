/**
 * Node logs: JSON lines (pino) when not on a terminal or with `--log-format json`, readable
 * lines with `--log-format text`; every line names its node; no secret or token in any line.
 */
import { afterAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, spawnCli, writeTempConfig, type CliRun } from "../helpers/cli.js";
import { waitUntil } from "../helpers/wait.js";
import { connect, Dict } from "../../src/index.js";

const SECRET = "cluster-secret-for-log-test-0123";
const TOKEN = "client-token-for-log-test-4567";
const SCRAPE = "metrics-token-for-log-test-89ab";
const runs: CliRun[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const r of runs) if (r.exit === undefined) r.child.kill("SIGKILL");
  await Promise.all(runs.map((r) => r.done.catch(() => undefined)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface JsonLine {
  level: string;
  time: string;
  node: string;
  pid: number;
  msg: string;
}

const jsonLines = (out: string): JsonLine[] =>
  out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as JsonLine);

describe("node logs", () => {
  it("are JSON lines off a terminal (one object per line naming the node), readable with --log-format text, and never hold a secret", async () => {
    const { dir, path } = writeTempConfig({
      coordinator: { host: "127.0.0.1", port: 0 },
      shards: [{ id: "shard-1", host: "127.0.0.1", port: 0 }],
      partitions: 8,
      clusterSecret: SECRET,
      clientTokens: [TOKEN],
      metricsToken: SCRAPE,
    });
    dirs.push(dir);
    const env = cleanEnv();
    delete env.SHARDICT_LOG_FORMAT;
    // The coordinator: JSON asked for; the shard: JSON because its stdout is a pipe.
    const coord = spawnCli(["coordinator", "--config", path, "--data-dir", join(dir, "data"), "--log-format", "json"], { env });
    runs.push(coord);
    const url = await waitUntil(() => jsonLines(coord.stdout).find((l) => l.msg.startsWith("listening on"))?.msg.split(" ")[2], { what: "the coordinator to listen" });
    const shard = spawnCli(["shard", "--config", path, "--id", "shard-1", "--port", "0", "--coordinator", url, "--data-dir", join(dir, "data")], { env });
    runs.push(shard);
    await waitUntil(() => jsonLines(shard.stdout).some((l) => l.msg === "serving"), { what: "the shard to serve" });
    const client = await connect({ url, token: TOKEN });
    await Dict.fromName("logged", { createIfMissing: true, client }).put("k", "v");
    client.close();
    coord.child.kill("SIGINT");
    shard.child.kill("SIGINT");
    await Promise.all([coord.done, shard.done]);

    const c = jsonLines(coord.stdout);
    const s = jsonLines(shard.stdout);
    for (const l of [...c, ...s]) {
      expect(Object.keys(l).sort()).toEqual(["level", "msg", "node", "pid", "time"]);
      expect(new Date(l.time).toISOString()).toBe(l.time);
      expect(["info", "warn", "error", "fatal"]).toContain(l.level);
    }
    expect(c.every((l) => l.node === "coordinator")).toBe(true);
    expect(s.every((l) => l.node === "shard-1")).toBe(true);
    expect(s.some((l) => /^listening on ws:/.test(l.msg))).toBe(true);
    expect(c.some((l) => /stopping$/.test(l.msg))).toBe(true);
    for (const out of [coord.stdout, coord.stderr, shard.stdout, shard.stderr]) {
      for (const secret of [SECRET, TOKEN, SCRAPE]) expect(out).not.toContain(secret);
    }

    // Readable lines when asked for (as the local launcher does).
    const text = spawnCli(["coordinator", "--config", path, "--data-dir", join(dir, "data"), "--log-format", "text"], { env });
    runs.push(text);
    await waitUntil(() => /^coordinator: listening on ws:/m.test(text.stdout), { what: "the text coordinator to listen" });
    text.child.kill("SIGINT");
    await text.done;
    expect(text.stdout).not.toContain(SECRET);
  });

  it("a bad --log-format is a usage error", async () => {
    const { dir, path } = writeTempConfig({ coordinator: { host: "127.0.0.1", port: 0 }, shards: [{ id: "shard-1", host: "127.0.0.1", port: 0 }] });
    dirs.push(dir);
    const r = spawnCli(["coordinator", "--config", path, "--log-format", "xml"], { env: cleanEnv() });
    runs.push(r);
    expect((await r.done).code).toBe(2);
    expect(r.stderr).toMatch(/--log-format must be "text" or "json"/);
  });
});
