/**
 * The real multi-host path, with a real network partition: three pretend hosts (network
 * namespaces on a bridge, src/launcher/netns-hosts.ts), the coordinator and shard-1 on host 0,
 * shard-2 and shard-3 on hosts 1 and 2, every node on its host's private address with TLS,
 * client tokens and the cluster secret (not --insecure). Host 2's link is taken down while
 * eight writers in this (the root) namespace write; the coordinator declares shard-3 dead and
 * fails over, writes go on, the link comes back, the cluster heals, and every acknowledged
 * write is read back. Needs root and `ip netns` (as CI has); skipped with the reason elsewhere.
 */
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { connect, Dict, type Client } from "../../src/index.js";
import { clientOf } from "../../src/client/client.js";
import type { ClusterStatus } from "../../src/coordinator/coordinator-node.js";
import { createNetnsHosts, netnsSupport, type NetnsHosts } from "../../src/launcher/netns-hosts.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { startWriters, verifyHistory } from "../helpers/write-history.js";
import { clusterSettled } from "../helpers/settled.js";
import { waitUntil } from "../helpers/wait.js";

const support = await netnsSupport();
const skipped = support.ok ? "" : ` (skipped: ${support.reason})`;
if (!support.ok) console.warn(`netns-partition.test.ts: skipped: ${support.reason}`);

let hosts: NetnsHosts | undefined;
let tc: TestCluster | undefined;
const clients: Client[] = [];
afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  await tc?.stop();
  // Also on a failure above: nothing may stay behind (namespaces, links, addresses).
  hosts?.cleanup();
});

async function status(c: Client): Promise<ClusterStatus> {
  return (await clientOf(c).coordinatorRequest({ type: "status" })) as ClusterStatus;
}

describe.skipIf(!support.ok)(`a cluster across three hosts in network namespaces${skipped}`, () => {
  it("survives a link-down partition of one host with no acknowledged write lost", { timeout: 110_000 }, async () => {
    const started = performance.now();
    hosts = await createNetnsHosts(3);
    tc = await startTestCluster({ hosts, shards: 3, replicationFactor: 2, partitions: 32, heartbeatMs: 100, suspectAfterMs: 400, deadAfterMs: 400 });
    const layout = tc.layout!;
    const ca = readFileSync(layout.ca.ca);
    const addressOf = (node: string) => hosts!.hosts[layout.hostOf(node)]!.address;

    // Non-loopback, over TLS, at the address each node's host has (shards: the one advertised).
    expect(tc.url).toBe(`wss://${addressOf("coordinator")}:7700`);
    const admin = await connect({ url: tc.url, ca, token: layout.token });
    clients.push(admin);
    const before = await status(admin);
    for (const s of before.shards) expect(s.url).toBe(`wss://${addressOf(s.id)}:${tc.config.shards.find((x) => x.id === s.id)!.port}`);
    expect(new Set(before.shards.map((s) => addressOf(s.id))).size).toBe(3);
    // `ip netns exec` execs the node: the pid the launcher tracks (and would kill) is the node's own.
    for (const node of ["coordinator", ...before.shards.map((s) => s.id)]) {
      const said = tc.logs.map((l) => new RegExp(`^\\[${node}\\] ${node}: listening on \\S+ \\(pid (\\d+)[;)]`).exec(l)).find((m) => m !== null);
      expect(Number(said?.[1]), node).toBe(tc.cluster.pidOf(node));
    }

    // A request sent to a host that then vanished gets no answer and no reset: the SDK notices
    // the silence (socket-liveness.ts) and retries it on the new owner, with the default
    // requestTimeoutMs (60 s), well within the retry budget.
    const writers = await Promise.all(Array.from({ length: 8 }, () => connect({ url: tc!.url, ca, token: layout.token, retryBudgetMs: 15_000 })));
    clients.push(...writers);
    await Dict.objects.create("netns", { client: admin });
    const load = startWriters(writers, "netns", { seed: 2024, keysPerWriter: 25 });
    await waitUntil(() => load.acked() >= 600, { what: "600 acknowledged writes", timeoutMs: 30_000 });

    // The partition: host 2 (shard-3 alone) loses its link; no process is touched.
    const victim = "shard-3";
    expect(layout.hostOf(victim)).toBe(2);
    const cutAt = performance.now();
    await hosts.down(2);
    await waitUntil(async () => (await status(admin)).shards.find((s) => s.id === victim)?.health === "dead", {
      what: `the coordinator to declare ${victim} dead`,
      timeoutMs: 15_000,
    });
    const declaredMs = performance.now() - cutAt;
    // Failed over: the survivors lead every partition shard-3 led.
    await waitUntil(async () => (await status(admin)).shards.find((s) => s.id === victim)?.partitions === 0, { what: `${victim}'s partitions to fail over`, timeoutMs: 15_000 });
    const ackedAtDead = load.acked();
    // The survivors took over its partitions: writes to every key are acknowledged again.
    await waitUntil(() => load.acked() >= ackedAtDead + 600, { what: "writes to go on while host 2 is cut off", timeoutMs: 30_000 });
    // Cut off from its side too (no process was touched): it lost the coordinator, and runs on.
    expect(tc.logs.some((l) => l.startsWith(`[${victim}] ${victim}: lost the coordinator`))).toBe(true);
    expect(tc.cluster.isRunning(victim)).toBe(true);
    const partitionMs = performance.now() - cutAt;

    await hosts.up(2);
    await waitUntil(async () => (await status(admin)).shards.find((s) => s.id === victim)?.health === "alive", { what: `${victim} to be heard again`, timeoutMs: 30_000 });
    const ackedAtHeal = load.acked();
    await waitUntil(() => load.acked() >= ackedAtHeal + 300, { what: "writes after the heal", timeoutMs: 30_000 });
    await load.stop();
    // Healed: every shard serving, every partition in place with its replica, nothing moving.
    await waitUntil(
      async () => {
        if (!(await clusterSettled(clientOf(admin), ["shard-1", "shard-2", "shard-3"]))) return false;
        const s = await status(admin);
        return s.shards.every((x) => x.health === "alive") && s.shards.reduce((n, x) => n + x.replicas, 0) === s.partitions;
      },
      { what: "the cluster to heal", timeoutMs: 45_000 },
    );

    const history = load.history();
    const reader = await connect({ url: tc.url, ca, token: layout.token });
    clients.push(reader);
    expect(await verifyHistory(Dict.fromName("netns", { client: reader }), history)).toEqual([]);
    // kill -9 reaches a node inside a namespace as it does any other.
    await tc.cluster.kill("shard-2", "SIGKILL");
    expect(tc.cluster.isRunning("shard-2")).toBe(false);
    const acked = history.filter((r) => r.outcome === "ok").length;
    console.log(
      `netns partition: ${acked} writes acknowledged (${history.length - acked} failed or unanswered); ${victim} declared dead ${declaredMs.toFixed(0)} ms after its link went down, link down ${partitionMs.toFixed(0)} ms; whole test ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  });
});
