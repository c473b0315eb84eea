/**
 * A launcher killed with `kill -9` (a test runner, `npm start`, the bench) does not leave its
 * nodes running: each notices its parent is gone and stops by itself.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { processGone, runFixture } from "../helpers/child.js";
import { loopbackConfig } from "../helpers/cli.js";
import { waitUntil } from "../helpers/wait.js";


describe("nodes outlive no launcher", () => {
  it("after kill -9 of the process that started them, coordinator and shards exit within seconds", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shardict-launcher-"));
    const configPath = join(dir, "cluster.config.json");
    writeFileSync(configPath, JSON.stringify({ ...loopbackConfig(), dataDir: join(dir, "data") }));
    const launcher = runFixture("launcher.mjs", [configPath], {});
    const { pids } = (await launcher.firstLine) as { pids: number[] };
    expect(pids).toHaveLength(4);
    for (const pid of pids) expect(processGone(pid)).toBe(false);
    launcher.child.kill("SIGKILL");
    await launcher.exit;
    try {
      await waitUntil(() => pids.every(processGone), { timeoutMs: 20_000, what: "every node to exit after its launcher was killed" });
    } finally {
      for (const pid of pids) if (!processGone(pid)) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
