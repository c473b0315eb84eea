/**
 * Sliding expiry across a whole-cluster crash: deadlines are stored with the entries (reads
 * move them on disk only coarsely, and recovery adds that slack back), so an entry read just
 * before the crash is still there after it, and an entry idle past its deadline is not.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, connect, type Client } from "../../src/index.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";

const TTL = 6000;
let tc: TestCluster;
const clients: Client[] = [];

beforeAll(async () => {
  tc = await startTestCluster({ entryTtlMs: TTL });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await tc?.stop();
});

describe("expiry across restarts", () => {
  it("read entries survive a kill -9 of the whole cluster; idle ones past their deadline do not", async () => {
    const c1 = await connect({ url: tc.url });
    clients.push(c1);
    const d = Dict.fromName("expiry-restart", { createIfMissing: true, client: c1 });
    await d.hydrate();
    const hot = Array.from({ length: 20 }, (_, i) => `hot-${i}`);
    const idle = Array.from({ length: 20 }, (_, i) => `idle-${i}`);
    const t0 = Date.now();
    await d.update(Object.fromEntries([...hot, ...idle].map((k) => [k, k])));
    // Keep reading the hot keys until the idle ones are past their deadline (plus the slack
    // a restart may add), so only the reads keep the hot ones alive.
    let lastRead = t0;
    while (Date.now() < t0 + TTL + TTL / 10 + 200) {
      for (const k of hot) expect(await d.get(k)).toBe(k);
      lastRead = Date.now();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(lastRead).toBeGreaterThan(t0 + TTL);
    await tc.cluster.killAll();
    await tc.cluster.start();
    const c2 = await connect({ url: tc.cluster.coordinatorUrl });
    clients.push(c2);
    const after = Dict.fromId(d.objectId, { client: c2 });
    // The hot entries' deadlines are at least lastRead + TTL; the restart is much quicker.
    const checkedAt = Date.now();
    expect(checkedAt).toBeLessThan(lastRead + TTL);
    for (const k of hot) expect(await after.get(k)).toBe(k);
    for (const k of idle) expect(await after.contains(k)).toBe(false);
    expect(await after.len()).toBe(hot.length);
    // And the hot ones expire in their turn once nobody reads them.
    await waitUntil(async () => (await after.len()) === 0, { what: "the hot entries to expire", timeoutMs: 6 * TTL, intervalMs: 200 });
  });
});
