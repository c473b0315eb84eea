/**
 * A cluster wired for fault injection: every shard is reached by clients through its own TCP
 * proxy (the shard advertises the proxy's address), and reaches the coordinator through
 * another, so a test can cut, blackhole or delay one shard's links to its clients or to the
 * coordinator, besides killing, pausing and restarting processes. Shards may also join
 * (ids not in the config) and leave (SIGTERM: they hand their partitions off first) while
 * it runs: `shardIds` lists the shards currently expected to be members.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type ClusterConfig } from "../../src/config/cluster-config.js";
import { LocalCluster } from "../../src/launcher/local-cluster.js";
import { connect } from "../../src/index.js";
import { clientOf, type ClusterClient } from "../../src/client/client.js";
import type { ClusterStatus } from "../../src/coordinator/coordinator-node.js";
import { waitUntil } from "../helpers/wait.js";
import { TcpProxy } from "./tcp-proxy.js";
import { buildFsyncShim, shimEnv } from "../faults/helpers/fsync-shim.js";

export interface ChaosClusterOptions {
  shards?: number;
  partitions?: number;
  replicationFactor?: number;
  seed: number;
  log?: (line: string) => void;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** How long joining, leaving and settling may take before it counts as a failure. */
export const MEMBERSHIP_TIMEOUT_MS = 60_000;

export class ChaosCluster {
  readonly cluster: LocalCluster;
  readonly config: ClusterConfig;
  /** Clients → shard. */
  readonly clientLinks = new Map<string, TcpProxy>();
  /** Shard → coordinator. */
  readonly coordinatorLinks = new Map<string, TcpProxy>();
  private readonly dir: string;
  private readonly seed: number;
  /** The shards expected to be members, sorted. */
  private members: string[];
  /** Proxies created so far (their index seeds their fault randomness). */
  private proxies = 0;
  /** New shard ids handed out so far. */
  private extras = 0;
  private admin: Promise<ClusterClient> | undefined;
  /** Per shard: resolves once its latest process has registered with the coordinator. */
  private readonly registered = new Map<string, Promise<void>>();
  private readonly log: (line: string) => void;

  private constructor(cluster: LocalCluster, config: ClusterConfig, dir: string, seed: number, log: (line: string) => void) {
    this.cluster = cluster;
    this.log = log;
    this.config = config;
    this.dir = dir;
    this.seed = seed;
    this.members = config.shards.map((s) => s.id).sort();
  }

  /** The shards currently expected to be members of the cluster (what faults pick from). */
  get shardIds(): readonly string[] {
    return this.members;
  }

  private setMember(id: string, member: boolean): void {
    const rest = this.members.filter((m) => m !== id);
    this.members = member ? [...rest, id].sort() : rest;
  }

  /** A shard id never used in this cluster yet. */
  freshShardId(): string {
    return `extra-${++this.extras}`;
  }

  /** The two proxies of a shard: to the coordinator, and from clients (its target is set once the shard listens). */
  private async addLinks(id: string): Promise<void> {
    if (this.coordinatorLinks.has(id)) return;
    const i = this.proxies++;
    this.coordinatorLinks.set(id, await TcpProxy.start({ host: "127.0.0.1", port: portOf(this.cluster.coordinatorUrl) }, { seed: this.seed * 100 + i }));
    this.clientLinks.set(id, await TcpProxy.start({ host: "127.0.0.1", port: 9 }, { seed: this.seed * 100 + 50 + i }));
  }

  static async start(opts: ChaosClusterOptions): Promise<ChaosCluster> {
    const dir = mkdtempSync(join(tmpdir(), "shardict-chaos-"));
    const config = parseConfig({
      coordinator: { host: "127.0.0.1", port: 0 },
      shards: Array.from({ length: opts.shards ?? 3 }, (_, i) => ({ id: `shard-${i + 1}`, host: "127.0.0.1", port: 0 })),
      partitions: opts.partitions ?? 32,
      replicationFactor: opts.replicationFactor ?? 1,
      dataDir: join(dir, "data"),
      ephemeralGraceMs: 60_000,
    });
    const configPath = join(dir, "cluster.config.json");
    writeFileSync(configPath, JSON.stringify(config));
    // Shards load the LD_PRELOAD shim, so a disk fault can make their syncs fail (EIO) while
    // a flag file exists; a shard that fails-stop is restarted by the launcher, as in production.
    const shim = buildFsyncShim();
    const flags = join(dir, "faults");
    mkdirSync(flags);
    let self: ChaosCluster | undefined;
    const cluster = new LocalCluster({
      configPath,
      config,
      freePorts: true,
      supervise: true,
      onLine: (node, line) => {
        // A shard the launcher restarted by itself listens on a new port: its proxy follows.
        const listening = /^(\S+): listening on ws:\/\/[^:]+:(\d+)/.exec(line);
        if (listening) self?.clientLinks.get(listening[1] as string)?.setTarget({ host: "127.0.0.1", port: Number(listening[2]) });
        opts.log?.(`[${node}] ${line}`);
      },
      shardOptions: (id) => ({
        coordinatorUrl: self?.coordinatorLinks.get(id)?.url ?? "",
        advertiseUrl: self?.clientLinks.get(id)?.url ?? "",
        ...("path" in shim && { env: shimEnv(shim, { eioFlag: join(flags, `${id}.eio`) }) }),
      }),
    });
    self = new ChaosCluster(cluster, config, dir, opts.seed, opts.log ?? (() => {}));
    if ("skip" in shim) self.log(`chaos: no disk faults: ${shim.skip}`);
    else self.diskFaults = flags;
    await cluster.startCoordinator();
    for (const id of config.shards.map((s) => s.id)) await self.addLinks(id);
    const ready = cluster.waitFor(/coordinator: ready: all \d+ shards joined/, "coordinator");
    await Promise.all(self.shardIds.map((id) => self.startShard(id)));
    await ready;
    return self;
  }

  get url(): string {
    return this.cluster.coordinatorUrl;
  }

  /** Start (or restart) a shard and point its client proxy at it. */
  async startShard(id: string): Promise<void> {
    // A shard installs its SIGTERM handler (leave) only after it has started: until it has
    // registered, SIGTERM would simply kill it. `leave` waits for this.
    this.registered.set(id, this.cluster.waitFor(new RegExp(`^${id}: serving$`), id).then(() => undefined));
    const url = await this.cluster.startShard(id);
    this.clientLinks.get(id)?.setTarget({ host: "127.0.0.1", port: portOf(url) });
  }

  /**
   * A shard that is not in the config joins the running cluster (behind its own proxies,
   * like the others); it is a member from now on.
   */
  async addShard(id: string): Promise<void> {
    await this.addLinks(id);
    this.setMember(id, true);
    await this.startShard(id);
  }

  /**
   * Start a shard that has left again: it rejoins under the same id. Resolves once the
   * coordinator lists it as a member again (joining or serving). A shard whose leave was cut
   * short by a crash may, once restarted, finish handing off and exit on its own (it is
   * removed): it is started once more then.
   */
  async rejoin(id: string): Promise<void> {
    this.setMember(id, true);
    if (!this.cluster.isRunning(id)) await this.startShard(id);
    let seen = "not listed";
    let starts = 0;
    await waitUntil(
      async () => {
        if (!this.cluster.isRunning(id)) {
          starts++;
          this.log(`chaos: ${id} exited on its own (its leave was finished); starting it again`);
          await this.startShard(id);
          return false;
        }
        const me = (await this.status()).shards.find((s) => s.id === id);
        seen = me ? `${me.state}, ${me.health}` : "not listed";
        return me !== undefined && (me.state === "joining" || me.state === "serving") && this.cluster.isRunning(id);
      },
      { what: `${id} to rejoin`, timeoutMs: MEMBERSHIP_TIMEOUT_MS, intervalMs: 200 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message} (the coordinator lists it as: ${seen}; started again ${starts} times after exiting on its own)`);
    });
  }

  /**
   * SIGTERM a member and wait until it has handed its partitions off and exited; it is no
   * longer a member from the moment it is asked. Fails unless it exits with code 0.
   */
  async leave(id: string): Promise<void> {
    const code = await this.startLeaving(id);
    if (code !== 0) throw new Error(`${id} left with exit code ${String(code)}`);
  }

  /**
   * Ask a member to leave (SIGTERM) without waiting: it is no longer a member; the promise
   * resolves with its exit code (null if it was killed meanwhile).
   */
  async startLeaving(id: string): Promise<number | null> {
    this.setMember(id, false);
    await this.untilRegistered(id);
    return this.cluster.leave(id, MEMBERSHIP_TIMEOUT_MS);
  }

  /** Where the disk-fault flags live; undefined when the shim could not be built. */
  private diskFaults: string | undefined;

  /** Whether disk faults can be injected (the fault shim was built). */
  get canFailSyncs(): boolean {
    return this.diskFaults !== undefined;
  }

  /** Make every fdatasync/fsync of a shard fail with EIO from now on (`on`), or work again. */
  failSyncs(id: string, on: boolean): void {
    if (!this.diskFaults) throw new Error("disk faults are not available");
    const flag = join(this.diskFaults, `${id}.eio`);
    if (on) writeFileSync(flag, "");
    else if (existsSync(flag)) rmSync(flag);
  }

  /**
   * Wait until a shard runs (the launcher restarts one that stopped on a storage failure,
   * with backoff) and the coordinator lists it alive and serving.
   */
  async waitBack(id: string, timeoutMs = MEMBERSHIP_TIMEOUT_MS): Promise<void> {
    let seen = "not listed";
    await waitUntil(
      async () => {
        if (!this.cluster.isRunning(id)) {
          seen = "not running";
          return false;
        }
        const me = (await this.status()).shards.find((s) => s.id === id);
        seen = me ? `${me.state}, ${me.health}` : "not listed";
        return me?.state === "serving" && me.health === "alive";
      },
      { what: `${id} to serve again`, timeoutMs, intervalMs: 200 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message} (${seen})`);
    });
  }

  /** Wait until a shard's latest process has registered with the coordinator (or has exited). */
  private async untilRegistered(id: string): Promise<void> {
    let registered = false;
    void this.registered.get(id)?.then(() => (registered = true));
    const deadline = Date.now() + MEMBERSHIP_TIMEOUT_MS;
    while (!registered && this.cluster.isRunning(id)) {
      if (Date.now() > deadline) throw new Error(`${id} did not register within ${MEMBERSHIP_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The coordinator's `status` answer. */
  async status(): Promise<ClusterStatus> {
    if (!this.admin) {
      const admin = connect({ url: this.url, retryBudgetMs: 10_000 }).then(clientOf);
      this.admin = admin;
      // Not connected (the coordinator was down): the next call tries again.
      admin.catch(() => {
        if (this.admin === admin) this.admin = undefined;
      });
    }
    return await (await this.admin).coordinatorRequest({ type: "status" });
  }

  /** Whether nothing moves, nothing is pending, and exactly the expected members serve, alive. */
  isSettled(s: ClusterStatus): boolean {
    const ids = s.shards.map((x) => x.id).sort();
    return (
      s.rebalance.pending === 0 &&
      s.rebalance.moving === 0 &&
      s.moves.length === 0 &&
      ids.join() === this.members.join() &&
      s.shards.every((x) => x.state === "serving" && x.health === "alive")
    );
  }

  /** Wait until the cluster is settled (every move done, every member serving); a timeout says how it stood. */
  async waitSettled(timeoutMs = MEMBERSHIP_TIMEOUT_MS): Promise<void> {
    let last: ClusterStatus | undefined;
    try {
      await waitUntil(async () => this.isSettled((last = await this.status())), { timeoutMs, intervalMs: 200 });
    } catch {
      const shards = last?.shards.map((x) => `${x.id} ${x.state} ${x.health} (${x.partitions} led, ${x.replicas} replicas)`).join(", ");
      const moves = last?.moves.map((m) => `${m.part} ${m.from}→${m.to} ${m.phase} ${m.done}/${m.total}`).join(", ");
      throw new Error(
        `the cluster did not settle within ${timeoutMs} ms with members ${this.members.join(", ")}: ` +
          (last ? `epoch ${last.epoch}, shards: ${shards}; rebalance ${JSON.stringify(last.rebalance)}; moves: ${moves || "none"}` : "no status answer"),
      );
    }
  }

  /** Wait until the coordinator lists a member as serving (it has its share). */
  async waitServing(id: string, timeoutMs = MEMBERSHIP_TIMEOUT_MS): Promise<void> {
    let seen = "not listed";
    await waitUntil(
      async () => {
        const me = (await this.status()).shards.find((s) => s.id === id);
        seen = me ? `${me.state}, ${me.health}, ${me.partitions} led, ${me.replicas} replicas` : "not listed";
        return me?.state === "serving";
      },
      { what: `${id} to serve`, timeoutMs, intervalMs: 200 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message} (the coordinator lists it as: ${seen})`);
    });
  }

  /** Restart the coordinator on its address (the shards' proxies point there). */
  async restartCoordinator(): Promise<void> {
    await this.cluster.restartCoordinator();
  }

  async stop(): Promise<void> {
    if (this.admin) (await this.admin.catch(() => undefined))?.close();
    for (const p of [...this.clientLinks.values(), ...this.coordinatorLinks.values()]) await p.close();
    await this.cluster.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
