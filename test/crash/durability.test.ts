/**
 * Crash tests with real processes and SIGKILL: every acknowledged write survives a crash of
 * the whole cluster, of one shard, or of the coordinator, and no write appears that was never
 * made. The workload and the check are in test/helpers/write-history.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Dict, connect, type Client } from "../../src/index.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { startWriters, verifyHistory } from "../helpers/write-history.js";
import { waitUntil } from "../helpers/wait.js";

let tc: TestCluster | undefined;
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await tc?.stop();
  tc = undefined;
});

async function writerClients(url: string, n = 8): Promise<Client[]> {
  const made = await Promise.all(Array.from({ length: n }, () => connect({ url, retryBudgetMs: 3_000 })));
  clients.push(...made);
  return made;
}

async function freshClient(url: string): Promise<Client> {
  const c = await connect({ url });
  clients.push(c);
  return c;
}

describe("crash safety (kill -9)", () => {
  it("the whole cluster killed mid-load loses no acknowledged write", async () => {
    tc = await startTestCluster();
    const writers = await writerClients(tc.url);
    await Dict.objects.create("crash-all", { client: writers[0] as Client });
    const load = startWriters(writers, "crash-all", { seed: 11 });
    await waitUntil(() => load.acked() >= 1500, { what: "1500 acknowledged writes", timeoutMs: 60_000 });
    await tc.cluster.killAll();
    await load.stop();
    const history = load.history();
    expect(history.some((r) => r.outcome !== "ok")).toBe(true); // it really was mid-load
    await tc.cluster.start();
    const after = await freshClient(tc.cluster.coordinatorUrl);
    const d = Dict.fromName("crash-all", { client: after });
    const problems = await verifyHistory(d, history);
    expect(problems).toEqual([]);
    const keys = new Set(history.map((r) => r.key));
    expect(await d.len()).toBeLessThanOrEqual(keys.size);
    expect(await d.len()).toBeGreaterThanOrEqual(new Set(history.filter((r) => r.outcome === "ok").map((r) => r.key)).size);
  });

  it("one shard killed mid-load and restarted loses no acknowledged write", async () => {
    tc = await startTestCluster();
    const writers = await writerClients(tc.url);
    await Dict.objects.create("crash-shard", { client: writers[0] as Client });
    const load = startWriters(writers, "crash-shard", { seed: 22 });
    await waitUntil(() => load.acked() >= 1000, { what: "1000 acknowledged writes", timeoutMs: 60_000 });
    await tc.cluster.kill("shard-2", "SIGKILL");
    const ackedAtKill = load.acked();
    await tc.cluster.startShard("shard-2");
    await waitUntil(() => load.acked() >= ackedAtKill + 500, { what: "writes to go on after the restart", timeoutMs: 60_000 });
    await load.stop();
    const d = Dict.fromName("crash-shard", { client: await freshClient(tc.url) });
    expect(await verifyHistory(d, load.history())).toEqual([]);
  });

  it("the coordinator killed mid-load: data keeps flowing, and its registry survives the restart", async () => {
    tc = await startTestCluster();
    const writers = await writerClients(tc.url);
    const created = await Dict.objects.create("crash-coordinator", { client: writers[0] as Client });
    const eph = await Dict.ephemeral({ client: writers[1] as Client });
    await eph.put("e", 1);
    const load = startWriters(writers, "crash-coordinator", { seed: 33 });
    await waitUntil(() => load.acked() >= 500, { what: "500 acknowledged writes", timeoutMs: 60_000 });
    await tc.cluster.kill("coordinator", "SIGKILL");
    const ackedAtKill = load.acked();
    // With the coordinator gone, writes on existing dicts still succeed.
    await waitUntil(() => load.acked() >= ackedAtKill + 500, { what: "writes while the coordinator is down", timeoutMs: 60_000 });
    const failedWhileDown = load.history().filter((r) => r.outcome === "failed").length;
    expect(failedWhileDown).toBe(0);
    await tc.cluster.restartCoordinator();
    await load.stop();
    const after = await freshClient(tc.url);
    const d = await Dict.fromName("crash-coordinator", { client: after }).hydrate();
    expect(d.objectId).toBe(created.objectId);
    expect(await verifyHistory(d, load.history())).toEqual([]);
    // The ephemeral dict's owner is still heartbeating: it survived too.
    expect(await Dict.fromId(eph.objectId, { client: after }).get("e")).toBe(1);
    const listed = await Dict.objects.list({ client: after });
    expect(listed.map((x) => x.name)).toContain("crash-coordinator");
  });
});
