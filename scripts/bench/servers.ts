/**
 * Server processes for `npm run bench -- --vs-redis-cluster` (redis-server, nats-server, etcd):
 * finding a binary on PATH, free loopback ports, starting a process with its output kept for
 * error messages, waiting for a condition, and stopping it (SIGTERM, then SIGKILL after 5 s).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { sleep } from "./measure.js";
import type { RoundPhase } from "../../src/store/round-times.js";

/** The path of `name` on PATH, or undefined. */
export function onPath(name: string): string | undefined {
  const which = spawnSync("which", [name], { encoding: "utf8" });
  const path = which.status === 0 ? which.stdout.trim() : "";
  return path === "" ? undefined : path;
}

/** Whether `port` can be listened on at 127.0.0.1 right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** Ports not handed out yet by this process (two servers started at once must not share one). */
const given = new Set<number>();

/**
 * A free loopback port in [20000, 55535) for which every `port + offset` is free too (redis
 * cluster's bus listens on port + 10000), not handed out before by this process.
 */
export async function freePort(offsets: readonly number[] = []): Promise<number> {
  for (let tries = 0; tries < 500; tries++) {
    const port = 20000 + Math.floor(Math.random() * 35535);
    const all = [port, ...offsets.map((o) => port + o)];
    if (all.some((p) => given.has(p))) continue;
    let ok = true;
    for (const p of all) if (!(await portFree(p))) ok = false;
    if (!ok) continue;
    for (const p of all) given.add(p);
    return port;
  }
  throw new Error("no free loopback port found");
}

export interface Server {
  readonly name: string;
  readonly pid: number;
  /** The last lines it printed, for error messages. */
  log(): string;
  /** Whether it has exited. */
  exited(): boolean;
  stop(): Promise<void>;
}

/** Start `path args` with its output kept (the last 100 lines). */
export function startServer(name: string, path: string, args: string[]): Server {
  const child: ChildProcess = spawn(path, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let gone = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      gone = true;
      resolve();
    });
    child.once("error", (err) => {
      lines.push(`spawn failed: ${err.message}`);
      gone = true;
      resolve();
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      if (lines.length > 100) lines.shift();
    });
  }
  return {
    name,
    pid: child.pid ?? 0,
    log: () => lines.map((l) => `[${name}] ${l}`).join("\n"),
    exited: () => gone,
    stop: async () => {
      if (!gone) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exit;
      clearTimeout(t);
    },
  };
}

/** A temporary folder and the servers started in it, stopped and removed together. */
export interface ServerRoom {
  readonly dir: string;
  readonly servers: Server[];
  /** Stop every server (SIGTERM, then SIGKILL), then remove the folder. */
  stop(): Promise<void>;
}

export function serverRoom(prefix: string): ServerRoom {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const servers: Server[] = [];
  return {
    dir,
    servers,
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Poll `check` every 100 ms until it returns true; throws after `timeoutMs`, or as soon as one
 * of `servers` has exited, with their output.
 */
export async function waitFor(what: string, check: () => Promise<boolean>, servers: readonly Server[], timeoutMs = 30_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  let last = "";
  for (;;) {
    const dead = servers.find((s) => s.exited());
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}:\n${servers.map((s) => s.log()).join("\n")}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (performance.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (last error: ${last})` : ""}:\n${servers.map((s) => s.log()).join("\n")}`);
    await sleep(100);
  }
}

/** One system of the `--vs-redis-cluster` comparison, started fresh for a run. */
export interface KvTarget {
  /** Its row's name: "shardict rf 1", "redis cluster", "nats R3", … */
  readonly label: string;
  /** Its server processes, by group ("shards", "coordinator", "redis-server", …): CPU is summed per group. */
  pids(): { group: string; pid: number }[];
  put(key: string, value: string): Promise<unknown>;
  /** Absent for a system that only writes (the floor): its row has no get. */
  get?(key: string): Promise<unknown>;
  /**
   * shardict and the floor: fsyncs, and WebSocket messages and frames sent, summed over its
   * nodes (the floor's frames: NaN, not counted). `epoch`, shardict's only: the partition
   * table's (its coordinator's), which moves on a failover or a move. `rounds` and
   * `roundSeconds`, shardict's only: its shards' log rounds and their wall time by phase
   * (shardict_log_round_seconds_total).
   */
  counters?(): Promise<{ fsyncs: number; messages: number; frames: number; epoch?: number; rounds?: number; roundSeconds?: Record<RoundPhase, number> }>;
  stop(): Promise<void>;
}
