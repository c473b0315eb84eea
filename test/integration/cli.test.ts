/**
 * The `shardict` command: `cluster status` against a real cluster, and the start-up
 * refusals of `coordinator` / `shard` for bad config files and unknown shard ids.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "node:net";
import { rmSync } from "node:fs";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { cleanEnv, loopbackConfig, runCli, writeTempConfig, type CliResult } from "../helpers/cli.js";

const PARTITIONS = 48;

let tc: TestCluster;
const tempDirs: string[] = [];

beforeAll(async () => {
  tc = await startTestCluster({ partitions: PARTITIONS });
});

afterAll(async () => {
  await tc?.stop();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function configFile(config: unknown): string {
  const { dir, path } = writeTempConfig(config);
  tempDirs.push(dir);
  return path;
}

/** A command that must fail at start: it exits by itself, non-zero, and says why on stderr. */
function expectRefused(r: CliResult): void {
  expect(r.timedOut, `the command kept running:\n${r.stdout}\n${r.stderr}`).toBe(false);
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stdout).not.toMatch(/listening on/);
}

interface Status {
  epoch: number;
  partitions: number;
  dicts: number;
  shards: { id: string; url: string; state: string; health: string; partitions: number }[];
}

describe("shardict cluster status", () => {
  it("--json prints every shard serving and alive, with partitions summing to the configured count", async () => {
    // Liveness is driven by heartbeats; poll until the coordinator reports all three alive.
    const status: Status = await waitUntil(
      async (): Promise<Status | undefined> => {
        const r = await runCli(["cluster", "status", "--json", "--url", tc.url]);
        if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
        const s = JSON.parse(r.stdout) as Status;
        return s.shards.every((x) => x.health === "alive") ? s : undefined;
      },
      { what: "a status with every shard alive" },
    ).then((s) => s as Status);
    expect(status.partitions).toBe(PARTITIONS);
    expect(status.shards.map((s) => s.id).sort()).toEqual(["shard-1", "shard-2", "shard-3"]);
    for (const s of status.shards) {
      expect(s.state).toBe("serving");
      expect(s.health).toBe("alive");
      expect(s.url).toBe(tc.cluster.urlOf(s.id));
      expect(s.partitions).toBeGreaterThan(0);
    }
    expect(status.shards.reduce((n, s) => n + s.partitions, 0)).toBe(PARTITIONS);
    expect(status.epoch).toBeGreaterThanOrEqual(1);
    expect(typeof status.dicts).toBe("number");
  });

  it("without --json prints a line per shard", async () => {
    const r = await runCli(["cluster", "status", "--url", tc.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${PARTITIONS} partitions`));
    expect(r.stdout).toMatch(/SHARD\s+STATE\s+HEALTH\s+PRIMARIES\s+REPLICAS\s+ENTRIES\s+URL/);
    for (const id of ["shard-1", "shard-2", "shard-3"]) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+${id}\\s+serving\\s+alive\\s+\\d+\\s+\\d+\\s+(\\d+|\\?)\\s+${tc.cluster.urlOf(id) ?? "?"}$`, "m"));
    }
  });

  it("takes the url from SHARDICT_URL", async () => {
    const r = await runCli(["cluster", "status", "--json"], { env: { ...process.env, SHARDICT_URL: tc.url } });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Status).partitions).toBe(PARTITIONS);
  });

  it("fails with a message when nothing listens at the url", async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, "127.0.0.1", () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
      });
    });
    const r = await runCli(["cluster", "status", "--json", "--url", `ws://127.0.0.1:${port}`]);
    expectRefused(r);
    expect(r.stderr).toMatch(/cannot connect/);
    expect(r.stdout).toBe("");
  });

  it("rejects an unknown subcommand", async () => {
    const r = await runCli(["cluster", "explode", "--url", tc.url]);
    expectRefused(r);
    expect(r.stderr).toMatch(/unknown cluster command "explode"/);
  });
});

describe("shardict coordinator / shard: bad config files", () => {
  const badConfigs: { what: string; config: Record<string, unknown>; field: RegExp }[] = [
    { what: "partitions 0", config: loopbackConfig({ partitions: 0 }), field: /field "partitions"/ },
    { what: "partitions not an integer", config: loopbackConfig({ partitions: 2.5 }), field: /field "partitions"/ },
    {
      what: 'shards[1].port "x"',
      config: loopbackConfig({
        shards: [
          { id: "shard-1", host: "127.0.0.1", port: 0 },
          { id: "shard-2", host: "127.0.0.1", port: "x" },
        ],
      }),
      field: /field "shards\.1\.port"/,
    },
    { what: "an unknown field", config: loopbackConfig({ partitons: 8 }), field: /partitons/ },
    { what: "maxEntryBytes too small", config: loopbackConfig({ maxEntryBytes: 10 }), field: /field "maxEntryBytes"/ },
    { what: "a short client token", config: loopbackConfig({ clientTokens: ["short"] }), field: /field "clientTokens\.0"/ },
    { what: "replicationFactor above the shard count", config: loopbackConfig({ replicationFactor: 4 }), field: /field "replicationFactor"/ },
    {
      what: "a duplicate shard id",
      config: loopbackConfig({
        shards: [
          { id: "shard-1", host: "127.0.0.1", port: 0 },
          { id: "shard-1", host: "127.0.0.1", port: 0 },
        ],
      }),
      field: /field "shards\.1\.id"/,
    },
  ];

  it.each(badConfigs)("coordinator --config with $what exits non-zero naming the field", async ({ config, field }) => {
    const path = configFile(config);
    const r = await runCli(["coordinator", "--config", path, "--port", "0"]);
    expectRefused(r);
    expect(r.stderr).toMatch(field);
    expect(r.stderr).toContain(path);
  });

  it("shard --config with a bad field exits non-zero naming the field", async () => {
    const path = configFile(loopbackConfig({ partitions: 0 }));
    const r = await runCli(["shard", "--config", path, "--id", "shard-1", "--port", "0"]);
    expectRefused(r);
    expect(r.stderr).toMatch(/field "partitions"/);
  });

  it("a config file that is not JSON, or missing, exits non-zero saying so", async () => {
    const notJson = configFile("{ partitions: 4");
    const r1 = await runCli(["coordinator", "--config", notJson, "--port", "0"]);
    expectRefused(r1);
    expect(r1.stderr).toMatch(/not valid JSON/);

    const r2 = await runCli(["coordinator", "--config", `${notJson}.missing`, "--port", "0"]);
    expectRefused(r2);
    expect(r2.stderr).toMatch(/cannot read config file/);
  });

  it("shard --id nope without a --port (so not joining) exits non-zero naming the unknown id", async () => {
    const path = configFile(loopbackConfig());
    const r = await runCli(["shard", "--config", path, "--id", "nope", "--coordinator", "ws://127.0.0.1:1"], { env: cleanEnv({ SHARDICT_CLUSTER_SECRET: "a-long-cluster-secret" }) });
    expectRefused(r);
    expect(r.stderr).toMatch(/"nope"/);
    expect(r.stderr).toMatch(/not in the cluster config/);
    expect(r.stderr).toMatch(/shard-1, shard-2, shard-3/);
  });

  it("shard without --id exits non-zero asking for it", async () => {
    const path = configFile(loopbackConfig());
    const r = await runCli(["shard", "--config", path, "--port", "0"]);
    expectRefused(r);
    expect(r.stderr).toMatch(/--id/);
  });

  it("a bad --port exits non-zero naming it", async () => {
    const path = configFile(loopbackConfig());
    const r = await runCli(["coordinator", "--config", path, "--port", "seventy"]);
    expectRefused(r);
    expect(r.stderr).toMatch(/--port/);
  });
});
