/**
 * A full disk under the coordinator is a clear, recoverable condition too: dict creates (and
 * deletes) fail with StorageFullError naming the coordinator and its folder, having changed
 * nothing; the dicts that exist keep serving reads and writes (the data path does not touch
 * the coordinator's disk); once space is freed creates work again without a manual step.
 * Every acknowledged create survives a kill -9 of the coordinator; no refused one appears.
 * The coordinator's data folder is a real 4 MiB tmpfs, filled by a real file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, StorageFullError, type Client } from "../../src/index.js";
import { LMDB_MARGIN_BYTES } from "../../src/store/lmdb-env.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil, waitUntilAccepted } from "../helpers/wait.js";
import { fillDisk, mountTmpfsOrThrow, tmpfsUnavailable, type Tmpfs } from "./helpers/tmpfs.js";

const skip = tmpfsUnavailable();
if (skip) console.warn(`[faults] skipping coordinator disk-full tests: ${skip}`);

/** Refused with StorageFullError (returned), or an unexpected failure (thrown). */
async function refusal(p: Promise<unknown>): Promise<StorageFullError> {
  const err = await p.then(
    () => new Error("expected StorageFullError, but it succeeded"),
    (e: unknown) => e,
  );
  if (!(err instanceof StorageFullError)) throw err;
  return err;
}

describe.skipIf(skip !== undefined)("a full disk under the coordinator", () => {
  let disk: Tmpfs;
  let tc: TestCluster;
  let client: Client;
  beforeAll(async () => {
    disk = mountTmpfsOrThrow(4 * 1024 * 1024);
    tc = await startTestCluster({ shards: 2, replicationFactor: 1, partitions: 16, launcher: { coordinatorOptions: { dataDir: disk.path } } });
    client = await tc.client();
  });
  afterAll(async () => {
    await tc?.stop();
    disk?.unmount();
  });

  it("refuses creates and deletes having changed nothing, keeps dicts serving, creates again once space is freed, loses no acknowledged create", async () => {
    const acked: string[] = [];
    const values = new Map<string, number>();
    for (let i = 0; i < 3; i++) {
      const d = await Dict.objects.create(`kept-${i}`, { client });
      await d.put("k", i);
      acked.push(`kept-${i}`);
      values.set(`kept-${i}`, i);
    }
    // Filled to a little more than the room the coordinator keeps free (it grows its LMDB
    // file as it writes, so it notices a filler within a few of its own writes; see
    // disk-full.test.ts), then its own creates take the rest.
    const filler = fillDisk(disk.path, LMDB_MARGIN_BYTES + 64 * 1024);
    const refused: string[] = [];
    let full: StorageFullError | undefined;
    for (let i = 0; i < 5000 && full === undefined; i++) {
      const name = `during-${i}`;
      try {
        await Dict.objects.create(name, { client });
        acked.push(name);
      } catch (err) {
        if (!(err instanceof StorageFullError)) throw err;
        full = err;
        refused.push(name);
      }
    }
    expect(full, "a create was refused").toBeInstanceOf(StorageFullError);
    expect(full?.node).toBe("coordinator");
    expect(full?.folder).toContain(disk.path);
    expect(full?.message).toMatch(/disk .* is full/);
    // Every way of making a dict is refused, and a delete too, leaving the dict in place.
    await refusal(Dict.objects.create("other", { client }));
    await refusal(Dict.fromName("looked-up", { createIfMissing: true, client }).hydrate());
    await refusal(Dict.ephemeral({ client }));
    refused.push("other", "looked-up");
    await refusal(Dict.objects.delete("kept-0", { client }));
    // The dicts that exist keep serving reads and writes.
    for (const [name, v] of values) {
      const d = await Dict.fromName(name, { client }).hydrate();
      expect(await d.get("k")).toBe(v);
      await d.put("while-full", v + 100);
      expect(await d.get("while-full")).toBe(v + 100);
    }
    const listed = async () => (await Dict.objects.list({ client })).map((d) => d.name).sort();
    expect(await listed()).toEqual([...acked].sort());

    filler.release();
    await waitUntilAccepted(() => Dict.objects.create("after", { client }), StorageFullError, { what: "creates to be accepted again once space is freed", timeoutMs: 15_000 });
    acked.push("after");

    await tc.cluster.kill("coordinator");
    await tc.cluster.restartCoordinator();
    expect(await waitUntil(listed, { what: "the restarted coordinator to answer" })).toEqual([...acked].sort());
    for (const name of refused) await expect(Dict.fromName(name, { client }).hydrate(), name).rejects.toThrow(/not found/);
    for (const [name, v] of values) {
      const d = await Dict.fromName(name, { client }).hydrate();
      expect(await d.get("k")).toBe(v);
      expect(await d.get("while-full")).toBe(v + 100);
    }
    expect(tc.logs.some((l) => /FATAL/.test(l))).toBe(false);
  });
});
