/**
 * Running the built `shardict` command (dist/src/cli/shardict.js) as a child process, for
 * tests of its exit codes and messages. Run `npm run build` first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliPath } from "../../src/launcher/local-cluster.js";

export interface CliRun {
  readonly child: ChildProcess;
  /** Everything printed so far. */
  stdout: string;
  stderr: string;
  /** Set once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Resolves when the process has exited (and its output streams have ended). */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the guard had to kill the process. */
  timedOut: boolean;
}

/**
 * The environment of this process without any SHARDICT_* variable (so nothing leaks in),
 * but with readable node logs (`SHARDICT_LOG_FORMAT=text`: tests read node lines; the JSON
 * default off a terminal is node-logs.test.ts's).
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("SHARDICT_")) delete env[k];
  return { ...env, SHARDICT_LOG_FORMAT: "text", ...extra };
}

/** Start `shardict ...args`; the caller waits on `done` (or kills `child`). */
export function spawnCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliRun {
  const child = spawn(process.execPath, [cliPath(), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: opts.env ?? cleanEnv(),
    ...(opts.cwd !== undefined && { cwd: opts.cwd }),
  });
  const run: { -readonly [K in keyof CliRun]: CliRun[K] } = {
    child,
    stdout: "",
    stderr: "",
    exit: undefined,
    done: new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => {
        run.exit = { code, signal };
        resolve({ code, signal });
      });
    }),
  };
  child.stdout?.setEncoding("utf8").on("data", (c: string) => (run.stdout += c));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => (run.stderr += c));
  return run;
}

/**
 * Run `shardict ...args` to completion. A process still running after `timeoutMs` is
 * killed (a command that should have failed but started serving must not hang the suite).
 */
export async function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const run = spawnCli(args, opts);
  let timedOut = false;
  const guard = setTimeout(() => {
    timedOut = true;
    run.child.kill("SIGKILL");
  }, opts.timeoutMs ?? 20_000);
  try {
    const { code, signal } = await run.done;
    return { code, signal, stdout: run.stdout, stderr: run.stderr, timedOut };
  } finally {
    clearTimeout(guard);
  }
}

/** Write `config` (any JSON) as a config file in a fresh temporary folder; returns its path. */
export function writeTempConfig(config: unknown, name = "cluster.config.json"): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "shardict-cli-"));
  const path = join(dir, name);
  writeFileSync(path, typeof config === "string" ? config : JSON.stringify(config, null, 2));
  return { dir, path };
}

/** A valid config on loopback with free ports (port 0) and no client tokens. */
export function loopbackConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    coordinator: { host: "127.0.0.1", port: 0 },
    shards: [
      { id: "shard-1", host: "127.0.0.1", port: 0 },
      { id: "shard-2", host: "127.0.0.1", port: 0 },
      { id: "shard-3", host: "127.0.0.1", port: 0 },
    ],
    partitions: 16,
    dataDir: "./data",
    clientTokens: [],
    ...overrides,
  };
}
