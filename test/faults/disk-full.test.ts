/**
 * A full disk is a clear, recoverable condition, with either shard engine: writes to the full
 * shard fail with StorageFullError naming the node and folder before they change anything,
 * reads keep working, a dict cannot be created half-way, nothing piles up, and once space is
 * freed writes are accepted again without a manual step. Every acknowledged write survives a
 * kill -9 afterwards; no refused write ever becomes visible. The shard's data folder is a
 * real 4 MiB tmpfs, filled by a real file.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, StorageFullError, type Client } from "../../src/index.js";
import { LMDB_MARGIN_BYTES } from "../../src/store/lmdb-env.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { fillDisk, mountTmpfsOrThrow, tmpfsUnavailable, type Tmpfs } from "./helpers/tmpfs.js";
import { ONE_SHARD } from "./helpers/one-shard.js";

/**
 * How much the filler leaves free. The log's segments are made (and zero-filled) ahead of
 * use, so the disk can be filled to the last byte under it. LMDB grows its file as it writes:
 * something else filling the disk is noticed within a quarter of its margin of writes (its
 * free-space figure is reused that long), which the margin holds; filled past the margin in
 * between, a commit would meet the full disk and fail-stop (that is the EIO case).
 */
const LEAVE_FREE = { log: 0, lmdb: LMDB_MARGIN_BYTES + 64 * 1024 };

const skip = tmpfsUnavailable();
if (skip) console.warn(`[faults] skipping disk-full tests: ${skip}`);

describe.skipIf(skip !== undefined).each(["log", "lmdb"] as const)("a full disk on a shard (%s engine)", (engine) => {
  let disk: Tmpfs;
  let tc: TestCluster;
  let client: Client;
  beforeAll(async () => {
    disk = mountTmpfsOrThrow(4 * 1024 * 1024);
    // One shard: every key lives on the small disk. Small segments, so filling takes little.
    tc = await startTestCluster({ ...ONE_SHARD, storageEngine: engine, launcher: { shardOptions: () => ({ dataDir: disk.path }) } });
    client = await tc.client();
  });
  afterAll(async () => {
    await tc?.stop();
    disk?.unmount();
  });

  it("refuses writes before they change anything, keeps reads, recovers when space is freed, loses nothing acknowledged", async () => {
    const d = await Dict.fromName("full", { createIfMissing: true, client }).hydrate();
    const acked = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      await d.put(`before-${i}`, `v${i}`);
      acked.set(`before-${i}`, `v${i}`);
    }
    const filler = fillDisk(disk.path, LEAVE_FREE[engine]);
    const refused: string[] = [];
    let full: StorageFullError | undefined;
    const value = "x".repeat(2000);
    // Bounded: the preallocated segments (or what LMDB may still take) hold at most ~600 such entries.
    for (let i = 0; i < 3000 && full === undefined; i++) {
      try {
        await d.put(`during-${i}`, value);
        acked.set(`during-${i}`, value);
      } catch (err) {
        if (!(err instanceof StorageFullError)) throw err;
        full = err;
        refused.push(`during-${i}`);
      }
    }
    expect(full, "a write was refused").toBeInstanceOf(StorageFullError);
    // Smaller writes may still fit what is left: write them until they are refused too.
    for (let i = 0; i < 5000; i++) {
      try {
        await d.put(`small-${i}`, "s");
        acked.set(`small-${i}`, "s");
      } catch (err) {
        if (!(err instanceof StorageFullError)) throw err;
        refused.push(`small-${i}`);
        break;
      }
    }
    expect(full?.node).toBe("shard-1");
    expect(full?.folder).toContain(disk.path);
    expect(full?.message).toMatch(/disk .* is full/);
    // Refused again, and a pop and a delete too, with nothing changed.
    await expect(d.put("other", value)).rejects.toBeInstanceOf(StorageFullError);
    refused.push("other");
    // A pop is refused, or (if its few bytes still fit) done for good.
    const popped = await d.pop("before-0").then(
      (v) => v,
      (err: unknown) => {
        if (err instanceof StorageFullError) return undefined;
        throw err;
      },
    );
    if (popped !== undefined) acked.delete("before-0");
    // A dict cannot be created while a shard cannot record it.
    await expect(Dict.objects.create("made-while-full", { client })).rejects.toBeInstanceOf(StorageFullError);
    // Reads keep working.
    for (const [k, v] of acked) expect(await d.get(k)).toBe(v);
    for (const k of refused) expect(await d.get(k)).toBeUndefined();
    // No file pile-up while full.
    const folder = readdirSync(join(disk.path, "shard-1", engine));
    if (engine === "log") expect(folder.length).toBeLessThanOrEqual(6);
    else expect(folder.sort()).toEqual(["data.mdb", "lock.mdb"]);

    filler.release();
    await waitUntil(
      async () => {
        try {
          await d.put("after", "ok");
          return true;
        } catch (err) {
          if (err instanceof StorageFullError) return false;
          throw err;
        }
      },
      { what: "writes to be accepted again once space is freed", timeoutMs: 15_000 },
    );
    acked.set("after", "ok");
    const made = await Dict.objects.create("made-after", { client });
    await made.put("k", 1);

    await tc.cluster.kill("shard-1");
    await tc.cluster.startShard("shard-1");
    await waitUntil(async () => (await d.get("after")) === "ok", { what: "the restarted shard to serve" });
    for (const [k, v] of acked) expect(await d.get(k), k).toBe(v);
    for (const k of refused) expect(await d.get(k), k).toBeUndefined();
    expect(await d.len()).toBe(acked.size);
    expect(await made.get("k")).toBe(1);
    await expect(Dict.fromName("made-while-full", { client }).hydrate()).rejects.toThrow(/not found/);
    expect(tc.logs.some((l) => /FATAL/.test(l))).toBe(false);
  });
});
