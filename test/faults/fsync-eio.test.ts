/**
 * A failed fsync is fail-stop, with either shard engine: the shard stops serving at once (no
 * reply leaves after the failure), exits, and its supervisor restarts it from disk; while
 * syncs keep failing it keeps failing the same way (its first write, or its sync of what it
 * reads at start, fails too), and never acknowledges a write it could not sync. Clients see
 * each write either acknowledged (and then it survives) or IndeterminateError, never a plain
 * failure. Real processes: fdatasync (and, for LMDB's meta page, a write to an O_DSYNC file)
 * fails through an LD_PRELOAD shim while a flag file exists.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, Dict, IndeterminateError, type Client } from "../../src/index.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { buildFsyncShim, shimEnv, type FsyncShim } from "./helpers/fsync-shim.js";
import { ONE_SHARD } from "./helpers/one-shard.js";

const shim = buildFsyncShim();
const skip = "skip" in shim ? shim.skip : undefined;
if (skip) console.warn(`[faults] skipping fsync EIO tests: ${skip}`);

describe.skipIf(skip !== undefined).each(["log", "lmdb"] as const)("fdatasync failing on a shard (%s engine)", (engine) => {
  const flagDir = mkdtempSync(join(tmpdir(), "shardict-eio-"));
  const flag = join(flagDir, "fail-syncs");
  let tc: TestCluster;
  let client: Client;
  beforeAll(async () => {
    tc = await startTestCluster({
      ...ONE_SHARD,
      storageEngine: engine,
      launcher: { supervise: true, shardOptions: () => ({ env: shimEnv(shim as FsyncShim, { eioFlag: flag }) }) },
    });
    client = await tc.client();
  });
  afterAll(async () => {
    await tc?.stop();
    rmSync(flagDir, { recursive: true, force: true });
  });

  it("stops serving, restarts from disk, never acknowledges an unsynced write, and serves again once syncs work", async () => {
    const d = await Dict.fromName("eio", { createIfMissing: true, client }).hydrate();
    for (let i = 0; i < 20; i++) await d.put(`k${i}`, `v${i}`);
    const restarts = () => tc.logs.filter((l) => /launcher: shard-1 exited \(code 75\)/.test(l)).length;

    writeFileSync(flag, "");
    // Writes while syncs fail: each either is acknowledged later (once syncs work again,
    // through the SDK's retries) or is indeterminate; none may fail plainly.
    const writer = await connect({ url: tc.url, retryBudgetMs: 60_000 });
    const dw = Dict.fromId(d.objectId, { client: writer });
    const outcomes = Array.from({ length: 10 }, (_, i) =>
      dw.put(`during-${i}`, `w${i}`).then(
        () => "acked" as const,
        (err: unknown) => {
          if (err instanceof IndeterminateError) return "unknown" as const;
          throw err;
        },
      ),
    );
    await waitUntil(() => tc.logs.some((l) => /shard-1: FATAL: .*EIO/.test(l)), { what: "the shard to fail-stop on EIO" });
    // While syncs fail it keeps failing (its first write after each restart fails too).
    await waitUntil(() => restarts() >= 2, { what: "two supervised restarts", timeoutMs: 30_000 });
    expect(existsSync(flag)).toBe(true);

    rmSync(flag);
    const results = await Promise.all(outcomes);
    writer.close();
    for (let i = 0; i < 20; i++) expect(await d.get(`k${i}`)).toBe(`v${i}`);
    // The retry budget (60 s) outlasts the outage: every write lands once syncs work again.
    expect(results).toEqual(results.map(() => "acked"));
    for (let i = 0; i < results.length; i++) expect(await d.get(`during-${i}`)).toBe(`w${i}`);
    await d.put("after", "ok");

    // And all of it is on disk: a kill -9 and restart gives back the same.
    const before = new Map<string, unknown>();
    for await (const [k, v] of d.items()) before.set(String(k), v);
    await tc.cluster.kill("shard-1");
    await tc.cluster.startShard("shard-1");
    await waitUntil(async () => (await d.get("after")) === "ok", { what: "the restarted shard to serve" });
    const after = new Map<string, unknown>();
    for await (const [k, v] of d.items()) after.set(String(k), v);
    expect(after).toEqual(before);
  });
});
