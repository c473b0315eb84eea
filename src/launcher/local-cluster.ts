/**
 * Starts a whole cluster on this machine, one OS process per node: the coordinator first,
 * then every shard pointed at it. Used by `npm start` and by the integration and crash
 * tests, which need real processes they can kill.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ClusterConfig } from "../config/cluster-config.js";
import { EXIT_CORRUPT_DATA } from "../store/storage-errors.js";

export interface LocalClusterOptions {
  /** Path of the config file every node reads. */
  configPath: string;
  config: ClusterConfig;
  /** Bind every node to port 0 (free ports) instead of the configured ones. */
  freePorts?: boolean;
  /** Shared secret the nodes authenticate each other with; random when omitted. */
  clusterSecret?: string;
  /** Each line a node prints, prefixed with its name. */
  onLine?: (node: string, line: string) => void;
  /** Extra environment for the node processes. */
  env?: NodeJS.ProcessEnv;
  /** Give up waiting for a node to start after this long. */
  startTimeoutMs?: number;
  /** Extra arguments for each node's `node` process (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Per shard: another coordinator address (a proxy), the address to advertise, extra environment. */
  shardOptions?: (id: string) => { coordinatorUrl?: string; advertiseUrl?: string; env?: NodeJS.ProcessEnv; dataDir?: string };
  /** For the coordinator: extra environment, and another root for its data folder. */
  coordinatorOptions?: { env?: NodeJS.ProcessEnv; dataDir?: string };
  /**
   * Restart a node that exits by itself (a crash, a fail-stop after a storage error) with
   * backoff, as a supervisor would; not one stopped or killed through this launcher, nor
   * one that refused its data as corrupt (exit 78: restarting cannot help). The coordinator
   * comes back on the address it had, where shards and clients look for it.
   */
  supervise?: boolean;
  /**
   * Run each node on a host of its own (netns-hosts.ts, netns-cluster.ts): inside the
   * network namespace named here (`ip netns exec`, which execs, so the pid tracked is the
   * node's), listening on the host's address, and a shard advertising it. The config gives
   * each node that address and a fixed port (hosts do not share ports); `freePorts` is
   * ignored. Off loopback, a node needs TLS, client tokens and the cluster secret: the real
   * multi-host path.
   */
  netns?: (node: string) => { ns: string; address: string };
}

/** A node that ran this long before exiting restarts without waiting. */
const STABLE_RUN_MS = 30_000;

/** Find the package root (the folder with package.json) above this module. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the shardict package root");
    dir = up;
  }
  return dir;
}

/** The built `shardict` command. */
export function cliPath(): string {
  const path = join(packageRoot(), "dist", "src", "cli", "shardict.js");
  if (!existsSync(path)) throw new Error(`${path} is missing: run "npm run build" first`);
  return path;
}

interface NodeProcess {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv | undefined;
  startedAt: number;
  /** Consecutive quick exits, for the restart backoff. */
  crashes: number;
  /** Stopped or killed through the launcher: not restarted. */
  expectExit: boolean;
  child: ChildProcess;
  url: string | undefined;
  exited: Promise<number | null>;
}

export class LocalCluster {
  readonly opts: LocalClusterOptions;
  readonly clusterSecret: string;
  private readonly nodes = new Map<string, NodeProcess>();
  private readonly waiters: { pattern: RegExp; node: string | undefined; resolve: (m: RegExpMatchArray) => void }[] = [];
  coordinatorUrl = "";
  /** Set by stop(): no node is restarted from then on. */
  private stopping = false;

  constructor(opts: LocalClusterOptions) {
    this.opts = opts;
    this.clusterSecret = opts.clusterSecret ?? opts.config.clusterSecret ?? randomBytes(18).toString("base64url");
  }

  /** Start the coordinator, then all shards; resolves when all shards have joined. */
  async start(): Promise<void> {
    const ready = this.waitFor(/coordinator: ready: all \d+ shards joined/, "coordinator");
    await this.startCoordinator();
    await Promise.all(this.opts.config.shards.map((s) => this.startShard(s.id)));
    await this.withTimeout(ready, "all shards to join");
  }

  /** Start the coordinator alone (on a free port with `freePorts`). */
  async startCoordinator(): Promise<string> {
    return this.spawnNode("coordinator", this.coordinatorArgs(this.opts.freePorts && !this.opts.netns ? "0" : undefined), this.opts.coordinatorOptions?.env);
  }

  private coordinatorArgs(port: string | undefined): string[] {
    // Readable lines: the launcher reads them (readiness) and shows them as they are.
    const args = ["coordinator", "--config", this.opts.configPath, "--log-format", "text"];
    if (port !== undefined) args.push("--port", port);
    const host = this.opts.netns?.("coordinator");
    if (host !== undefined) args.push("--host", host.address);
    const dataDir = this.opts.coordinatorOptions?.dataDir;
    if (dataDir !== undefined) args.push("--data-dir", dataDir);
    return args;
  }

  /**
   * Start (or restart) one shard process. An id that is not in the config is a new shard
   * joining the running cluster (on a free port).
   */
  async startShard(id: string): Promise<string> {
    const extra = this.opts.shardOptions?.(id) ?? {};
    const args = ["shard", "--config", this.opts.configPath, "--id", id, "--coordinator", extra.coordinatorUrl ?? this.coordinatorUrl, "--log-format", "text"];
    if (extra.advertiseUrl !== undefined) args.push("--advertise", extra.advertiseUrl);
    if (extra.dataDir !== undefined) args.push("--data-dir", extra.dataDir);
    if (this.opts.netns) args.push(...this.netnsShardArgs(id, extra.advertiseUrl));
    else if (this.opts.freePorts || !this.opts.config.shards.some((s) => s.id === id)) args.push("--port", "0");
    return this.spawnNode(id, args, extra.env);
  }

  /** On its host: listen on the host's address, at the shard's configured port, and advertise that. */
  private netnsShardArgs(id: string, advertiseUrl: string | undefined): string[] {
    const host = this.opts.netns?.(id);
    const port = this.opts.config.shards.find((s) => s.id === id)?.port;
    if (host === undefined) return [];
    // A free port could not be advertised before the shard is listening.
    if (port === undefined || port === 0) throw new Error(`${id}: on a host of its own, a shard needs a fixed port in the config`);
    const scheme = this.opts.config.tls === undefined ? "ws" : "wss";
    return ["--host", host.address, ...(advertiseUrl === undefined ? ["--advertise", `${scheme}://${host.address}:${port}`] : [])];
  }

  /**
   * Make a shard leave the cluster (SIGTERM: it hands its partitions off first) and wait
   * for it to exit; resolves with its exit code.
   */
  async leave(name: string, timeoutMs = 120_000): Promise<number | null> {
    const node = this.nodes.get(name);
    if (!node || node.child.exitCode !== null || node.child.signalCode !== null) return node?.child.exitCode ?? null;
    node.expectExit = true;
    node.child.kill("SIGTERM");
    return this.withTimeout(node.exited, `${name} to leave`, timeoutMs);
  }

  /** Names of the nodes started (running or not). */
  names(): string[] {
    return [...this.nodes.keys()];
  }

  /** Whether a node's process is running. */
  isRunning(name: string): boolean {
    const n = this.nodes.get(name);
    return n !== undefined && n.child.exitCode === null && n.child.signalCode === null;
  }

  /** Restart the coordinator on the same address. */
  async restartCoordinator(): Promise<string> {
    return this.spawnNode("coordinator", this.coordinatorArgs(new URL(this.coordinatorUrl).port), this.opts.coordinatorOptions?.env);
  }

  private async spawnNode(name: string, args: string[], env?: NodeJS.ProcessEnv, crashes = 0): Promise<string> {
    const nodeArgv = [...(this.opts.nodeArgs ?? []), cliPath(), ...args];
    const ns = this.opts.netns?.(name)?.ns;
    const [command, argv]: [string, string[]] = ns === undefined ? [process.execPath, nodeArgv] : ["ip", ["netns", "exec", ns, process.execPath, ...nodeArgv]];
    const child = spawn(command, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      // The node stops by itself if this process dies without stopping it.
      env: { ...process.env, ...this.opts.env, ...env, SHARDICT_CLUSTER_SECRET: this.clusterSecret, SHARDICT_PARENT_PID: String(process.pid) },
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const node: NodeProcess = { name, args, env, child, url: undefined, exited, startedAt: Date.now(), crashes, expectExit: false };
    this.nodes.set(name, node);
    if (this.opts.supervise) void exited.then((code) => this.supervise(node, code));
    const listening = this.waitFor(new RegExp(`^${name}: listening on (\\S+)`), name);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => this.onLine(name, line));
    }
    const started = await this.withTimeout(
      Promise.race([
        listening,
        exited.then((code) => {
          throw new Error(`${name} exited with code ${code} before it was listening`);
        }),
      ]),
      `${name} to listen`,
    );
    node.url = started[1] as string;
    if (name === "coordinator") this.coordinatorUrl = node.url;
    return node.url;
  }

  /** Restart a node that exited by itself: at once if it had run a while, else with backoff. */
  private supervise(node: NodeProcess, code: number | null): void {
    if (node.expectExit || this.stopping || code === 0 || this.nodes.get(node.name) !== node) return;
    if (code === EXIT_CORRUPT_DATA) {
      // A restart would meet the same data: an operator has to look (its log says what to do).
      this.opts.onLine?.(node.name, `launcher: ${node.name} exited (code ${code}: its data is corrupt); not restarting it`);
      return;
    }
    const crashes = Date.now() - node.startedAt > STABLE_RUN_MS ? 0 : node.crashes + 1;
    const delay = crashes === 0 ? 0 : Math.min(250 * 2 ** (crashes - 1), 10_000);
    this.opts.onLine?.(node.name, `launcher: ${node.name} exited (${code === null ? `signal ${String(node.child.signalCode)}` : `code ${code}`}); restarting in ${delay} ms`);
    // Not on a new free port: shards and clients know the coordinator by its address.
    const args = node.name === "coordinator" && this.coordinatorUrl !== "" ? this.coordinatorArgs(new URL(this.coordinatorUrl).port) : node.args;
    setTimeout(() => {
      if (this.stopping || this.nodes.get(node.name) !== node) return;
      this.spawnNode(node.name, args, node.env, crashes).catch((err: unknown) => this.opts.onLine?.(node.name, `launcher: restarting ${node.name} failed: ${(err as Error).message}`));
    }, delay);
  }

  private onLine(node: string, line: string): void {
    this.opts.onLine?.(node, line);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (!w || (w.node !== undefined && w.node !== node)) continue;
      const m = line.match(w.pattern);
      if (m) {
        this.waiters.splice(i, 1);
        w.resolve(m);
      }
    }
  }

  /** Resolve when a node prints a line matching `pattern`. */
  waitFor(pattern: RegExp, node?: string): Promise<RegExpMatchArray> {
    return new Promise((resolve) => this.waiters.push({ pattern, node, resolve }));
  }

  private withTimeout<T>(p: Promise<T>, what: string, ms = this.opts.startTimeoutMs ?? 30_000): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<never>((_r, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** The address a node listens on. */
  urlOf(name: string): string | undefined {
    return this.nodes.get(name)?.url;
  }

  pidOf(name: string): number | undefined {
    return this.nodes.get(name)?.child.pid;
  }

  /**
   * Send a signal to a node: SIGKILL for crash tests (waits for the exit), SIGSTOP / SIGCONT
   * to pause and resume it (returns at once).
   */
  async kill(name: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const node = this.nodes.get(name);
    if (!node || node.child.exitCode !== null || node.child.signalCode !== null) return;
    if (signal !== "SIGSTOP" && signal !== "SIGCONT") node.expectExit = true;
    node.child.kill(signal);
    if (signal === "SIGSTOP" || signal === "SIGCONT") return;
    await node.exited;
  }

  /** SIGKILL every node at once (a whole-cluster crash) and wait for them to exit. */
  async killAll(): Promise<void> {
    const all = [...this.nodes.values()].filter((n) => n.child.exitCode === null && n.child.signalCode === null);
    for (const n of all) {
      n.expectExit = true;
      n.child.kill("SIGKILL");
    }
    await Promise.all(all.map((n) => n.exited));
  }

  /**
   * Stop every node: SIGINT (a shard stops keeping its partitions: SIGTERM would hand them
   * off), then SIGKILL for any that lingers.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.nodes.values()];
    for (const n of all) n.expectExit = true;
    for (const n of all) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill("SIGINT");
    await Promise.all(
      all.map(async (n) => {
        const t = setTimeout(() => n.child.kill("SIGKILL"), 5_000);
        await n.exited;
        clearTimeout(t);
      }),
    );
  }
}
