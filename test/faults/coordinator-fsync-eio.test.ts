/**
 * A failed fsync under the coordinator is fail-stop: it drops every connection unanswered
 * (a create it could not sync is never acknowledged), exits 75, and its supervisor restarts
 * it on the same address; while syncs keep failing it fails again at start (it syncs what it
 * reads before serving). Shards keep serving the data path all along. Once syncs work, it
 * serves again with every acknowledged create, and nothing it never acknowledged except,
 * possibly, the one create whose outcome its client could not know. A partition table it
 * could not save is neither served nor pushed. Real processes: the coordinator's fdatasync
 * fails through an LD_PRELOAD shim while a flag file exists.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionError, Dict } from "../../src/index.js";
import type { ClusterClient } from "../../src/client/client.js";
import { RawPeer } from "../helpers/raw-peer.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil, waitUntilAccepted } from "../helpers/wait.js";
import { buildFsyncShim, shimEnv, type FsyncShim } from "./helpers/fsync-shim.js";

const shim = buildFsyncShim();
const skip = "skip" in shim ? shim.skip : undefined;
if (skip) console.warn(`[faults] skipping coordinator fsync EIO tests: ${skip}`);

const FATAL_TABLE = /coordinator: FATAL: coordinator: saving the partition table \(epoch (\d+)\)/;

describe.skipIf(skip !== undefined)("fdatasync failing on the coordinator", () => {
  const flagDir = mkdtempSync(join(tmpdir(), "shardict-eio-"));
  const flag = join(flagDir, "fail-syncs");
  let tc: TestCluster;
  let client: ClusterClient;
  beforeAll(async () => {
    tc = await startTestCluster({
      shards: 1,
      replicationFactor: 1,
      partitions: 16,
      launcher: { supervise: true, coordinatorOptions: { env: shimEnv(shim as FsyncShim, { eioFlag: flag }) } },
    });
    client = await tc.client();
  });
  afterAll(async () => {
    await tc?.stop();
    rmSync(flagDir, { recursive: true, force: true });
  });
  const restarts = () => tc.logs.filter((l) => /launcher: coordinator exited \(code 75\)/.test(l)).length;
  /** The partition table a shard holds (what the coordinator pushed to it, or it fetched). */
  const tableOf = async (shard: string) => {
    const p = await RawPeer.client(tc.cluster.urlOf(shard) as string, "table-probe");
    try {
      return (await p.request({ type: "table.get", rid: 2 })).result as { epoch: number; shards: { id: string }[] };
    } finally {
      p.close();
    }
  };

  it("stops serving, is restarted on the same address, loses no acknowledged create, and clients go on once syncs work", async () => {
    const acked: string[] = [];
    for (let i = 0; i < 5; i++) {
      const d = await Dict.objects.create(`before-${i}`, { client });
      await d.put("k", i);
      acked.push(`before-${i}`);
    }
    const d0 = await Dict.fromName("before-0", { client }).hydrate();

    writeFileSync(flag, "");
    // It cannot sync the record: the connection is dropped unanswered, so the outcome is unknown.
    const during = await Dict.objects.create("during", { client }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(during).toBeInstanceOf(ConnectionError);
    await waitUntil(() => tc.logs.some((l) => /coordinator: FATAL: .*EIO/.test(l)), { what: "the coordinator to fail-stop on EIO" });
    // While syncs fail it keeps failing (at start, syncing what it read).
    await waitUntil(() => restarts() >= 2, { what: "two supervised restarts", timeoutMs: 30_000 });
    expect(tc.logs.some((l) => /shardict: FATAL: coordinator: syncing .*data\.mdb at start failed/.test(l))).toBe(true);
    // The data path does not need the coordinator.
    await d0.put("during-outage", "yes");
    expect(await d0.get("during-outage")).toBe("yes");

    rmSync(flag);
    await waitUntilAccepted(() => Dict.objects.create("after", { client }), ConnectionError, { what: "the coordinator to serve creates again", timeoutMs: 30_000 });
    acked.push("after");

    const check = async () => {
      const names = (await Dict.objects.list({ client })).map((d) => d.name as string);
      // Every acknowledged create is there; the only other one may be the create whose outcome was unknown.
      expect(names.filter((n) => n !== "during").sort()).toEqual([...acked].sort());
      for (let i = 0; i < 5; i++) expect(await (await Dict.fromName(`before-${i}`, { client }).hydrate()).get("k")).toBe(i);
      expect(await d0.get("during-outage")).toBe("yes");
      return names.includes("during");
    };
    const hadDuring = await check();
    // And all of it is on disk: a kill -9 and restart gives back the same.
    await tc.cluster.kill("coordinator");
    await tc.cluster.restartCoordinator();
    expect(await waitUntil(async () => ({ had: await check() }), { what: "the restarted coordinator to answer" })).toEqual({ had: hadDuring });
    await (await Dict.objects.create("after-restart", { client })).put("k", "ok");
  });

  it("never serves or pushes a partition table it could not save", async () => {
    const kept = await Dict.objects.create("kept-through-a-table", { client });
    for (let i = 0; i < 20; i++) await kept.put(`k${i}`, i);
    const before = await tableOf("shard-1");
    const restartsBefore = restarts();
    writeFileSync(flag, "");
    // A shard joining makes the coordinator publish a new table, which it cannot save.
    await tc.cluster.startShard("shard-9");
    const fatal = await waitUntil(() => tc.logs.map((l) => FATAL_TABLE.exec(l)).find((m) => m !== null), { what: "the coordinator to fail-stop saving a table" });
    expect(Number(fatal[1])).toBe(before.epoch + 1);
    await waitUntil(() => restarts() >= restartsBefore + 2, { what: "two supervised restarts", timeoutMs: 30_000 });
    // Nobody got the table: the shard still has the one before, and serves with it.
    expect(await tableOf("shard-1")).toEqual(before);
    expect(await kept.get("k0")).toBe(0);

    rmSync(flag);
    // Back from disk, it publishes the join afresh, and every shard gets that table.
    const joined = await waitUntil(
      async () => {
        const t = await tableOf("shard-1");
        return t.shards.some((s) => s.id === "shard-9") ? t : undefined;
      },
      { what: "shard-1 to get the table with shard-9", timeoutMs: 30_000 },
    );
    expect(joined.epoch).toBeGreaterThan(before.epoch);
    await client.refreshTable();
    expect(client.table.epoch).toBeGreaterThanOrEqual(joined.epoch);
    // Data still there once partitions have moved to the new shard.
    for (let i = 0; i < 20; i++) expect(await kept.get(`k${i}`)).toBe(i);
    expect((await Dict.objects.list({ client })).map((d) => d.name)).toContain("kept-through-a-table");
  });
});
