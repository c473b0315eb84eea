/**
 * A shard whose log has a flipped bit before its last record refuses to start (exit 78, no
 * supervised restart loop) with a message naming the file and offset, instead of replaying
 * less than it acknowledged; once the file is whole again it starts with every write.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Dict, type Client } from "../../src/index.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";
import { flipBit } from "./helpers/bit-flip.js";
import { ONE_SHARD } from "./helpers/one-shard.js";

let tc: TestCluster;
let client: Client;
useTestCluster({ ...ONE_SHARD, launcher: { supervise: true } }, (t, c) => {
  tc = t;
  client = c;
});

describe("a corrupt log on a shard", () => {
  it("is refused at start with the file and offset; repaired, every write comes back", async () => {
    const d = await Dict.fromName("bits", { createIfMissing: true, client }).hydrate();
    for (let i = 0; i < 30; i++) await d.put(`k${i}`, `value ${i}`);
    await tc.cluster.kill("shard-1");
    const dir = join(tc.config.dataDir, "shard-1", "log");
    const seg = readdirSync(dir)
      .filter((f) => f.endsWith(".log") && readFileSync(join(dir, f))[8] !== 0)
      .sort()
      .at(-1) as string;
    // A bit in the body of an early record: later records are valid, so no torn write explains it.
    const offset = 8 + 16 + 20;
    flipBit(join(dir, seg), offset, 3);
    await expect(tc.cluster.startShard("shard-1")).rejects.toThrow(/exited with code 78/);
    expect(tc.logs.some((l) => l.includes(`${seg} is corrupt at offset`) && l.includes("Keep a copy of the folder"))).toBe(true);
    expect(tc.logs.some((l) => /launcher: shard-1 exited .*restarting in/.test(l))).toBe(false);

    flipBit(join(dir, seg), offset, 3);
    await tc.cluster.startShard("shard-1");
    await waitUntil(async () => (await d.get("k29")) === "value 29", { what: "the shard to serve again" });
    for (let i = 0; i < 30; i++) expect(await d.get(`k${i}`)).toBe(`value ${i}`);
  });
});
