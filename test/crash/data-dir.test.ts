/** A node's data folder is locked: a second node refuses it; a lock left by kill -9 is not a problem. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { cleanEnv, runCli } from "../helpers/cli.js";

let tc: TestCluster;
beforeAll(async () => {
  tc = await startTestCluster();
});
afterAll(async () => {
  await tc?.stop();
});

describe("data folder lock", () => {
  it("a second shard on a running shard's folder refuses to start, saying why", async () => {
    const lock = join(tc.config.dataDir, "shard-1", "LOCK");
    expect(Number(readFileSync(lock, "utf8"))).toBe(tc.cluster.pidOf("shard-1"));
    const env = cleanEnv({ SHARDICT_CLUSTER_SECRET: tc.cluster.clusterSecret });
    const shard = await runCli(["shard", "--config", tc.configPath, "--id", "shard-1", "--port", "0", "--coordinator", tc.url], { env });
    expect(shard.code).not.toBe(0);
    expect(shard.stderr).toMatch(/in use by another running node \(pid \d+\)/);
    const coord = await runCli(["coordinator", "--config", tc.configPath, "--port", "0"], { env });
    expect(coord.code).not.toBe(0);
    expect(coord.stderr).toMatch(/coordinator.*in use by another running node/);
  });

  it("a lock left by a node killed with SIGKILL is taken over on restart", async () => {
    const lock = join(tc.config.dataDir, "shard-2", "LOCK");
    await tc.cluster.kill("shard-2", "SIGKILL");
    expect(existsSync(lock)).toBe(true);
    await tc.cluster.startShard("shard-2");
    expect(Number(readFileSync(lock, "utf8"))).toBe(tc.cluster.pidOf("shard-2"));
  });
});
