#!/usr/bin/env node
/**
 * The `shardict` command: run a coordinator or a shard node, or ask a cluster for its status.
 *
 *   shardict coordinator --config cluster.config.json [--host H] [--port P] [--data-dir DIR]
 *   shardict shard --id shard-2 [--coordinator ws://H:P] [--host H] [--port P] [--data-dir DIR]
 *   shardict cluster status [--url ws://H:P] [--json] [--watch]
 *   shardict cluster remove-shard ID [--url ws://H:P] [--wait]
 *   shardict repair --id shard-2 [--data-dir DIR | --config FILE] [--dry-run] [--json]
 *   shardict dict list|create|delete|info|len|get|put|pop|keys|items|clear|watch … (dict-commands.ts)
 *   shardict completion bash|zsh
 */
import { tokenSecrets } from "../net/token-scope.js";
import { parseArgs } from "node:util";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { configuredSecret, ensureLocalSecret, localSecretPath, readLocalSecret } from "../launcher/local-secret.js";
import { ConfigError, isLoopback, loadConfig, parseConfig, type ClusterConfig } from "../config/cluster-config.js";
import { CoordinatorNode } from "../coordinator/coordinator-node.js";
import { ShardNode } from "../shard/shard-node.js";
import { CorruptStorageError, EXIT_CORRUPT_DATA, EXIT_STORAGE_FAILED, StorageFailedError } from "../store/storage-errors.js";
import { clusterCommand } from "./cluster-commands.js";
import { dictCommand } from "./dict-commands.js";
import { backupCommand } from "./backup-commands.js";
import { completionCommand } from "./completion.js";
import { logFormatOf, nodeLog, type LogFormat, type NodeLog } from "../util/node-log.js";
import { exitCodeOf } from "./cli-exit.js";
import { EXIT_REPAIR_DAMAGE_FOUND, EXIT_REPAIR_LOCKED, repairCommand, repairCommandLine } from "./repair-command.js";

const USAGE = `usage:
  shardict coordinator [--config FILE] [--host HOST] [--port PORT] [--data-dir DIR] [--log-format text|json] [--insecure]
  shardict shard --id ID [--config FILE] [--coordinator URL] [--host HOST] [--port PORT] [--data-dir DIR] [--advertise URL] [--log-format text|json] [--insecure]
  shardict cluster status [--url URL] [--json] [--watch]
  shardict cluster remove-shard ID [--url URL] [--wait]
  shardict repair --id ID [--data-dir DIR | --config FILE] [--dry-run] [--json]
  shardict dict list|create|delete|info|len|get|put|pop|keys|items|clear|watch|export|import …  (shardict dict --help)
  shardict backup DIR [--env E] [--format ndjson|msgpack] / shardict restore DIR [--env E]
  shardict completion bash|zsh   (load with: source <(shardict completion bash))

--config defaults to $SHARDICT_CONFIG, else ./cluster.config.json (if there is none, the
  defaults: a shard that joins takes the cluster's settings from the config it finds).
A shard whose --id is not in the config joins the running cluster at --coordinator: give
  it a --port (0 for a free one) and a --data-dir.
--data-dir is where a node keeps its data: DIR/ID/ for a shard, DIR/coordinator/ for the
  coordinator (default: the config's dataDir).
SIGTERM makes a shard hand its partitions to the others, then exit; SIGINT (Ctrl-C) stops
  it at once (it keeps its partitions and serves them again when restarted).
--advertise is the address clients should use for this shard, if not the one it listens on.
--insecure lets a node listen on a non-loopback address without "tls" in the config (it says so,
  loudly, in its log): tokens, the cluster secret and all data then cross the network in clear.
--log-format: readable lines ("text", the default on a terminal) or JSON lines through pino
  ("json", the default otherwise, or $SHARDICT_LOG_FORMAT): {"level","time","node","pid","msg"}.
The cluster secret comes from $SHARDICT_CLUSTER_SECRET or "clusterSecret" in the config;
  nodes need it to join, and remove-shard needs it. A coordinator on a loopback address
  given none generates one and keeps it in DATADIR/.cluster-secret, where shards and
  commands on the same machine (same config) find it.
repair is for a stopped shard (storageEngine "log") that refuses to start with exit code 78:
  it rewrites each file recovery refuses with only its valid records, moves the original to
  DIR/ID/repair-<time>/, and reports what it dropped. Dropped records are lost writes, and a
  dropped overwrite or delete brings back the value before it: at rf >= 2 prefer a rebuild
  from replicas. --dry-run reports and changes nothing. Exit codes: 0 nothing to repair, or
  repaired; 1 failed; 2 bad arguments or no log folder; ${EXIT_REPAIR_DAMAGE_FOUND} --dry-run found damage;
  ${EXIT_REPAIR_LOCKED} the node is running (its folder is locked).`;

function fail(message: string): never {
  console.error(`shardict: ${message}`);
  process.exit(2);
}

function port(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`--port must be an integer from 0 to 65535, got "${value}"`);
  return n;
}

interface Stoppable {
  stop(): Promise<void>;
}

/** The running node's log (readable lines, or JSON lines: node-log.ts); plain lines before it exists. */
let log: NodeLog = Object.assign((line: string) => console.log(line), { error: (line: string) => console.error(line) });

function stopAndExit(node: Stoppable, name: string, why: string): void {
  log(`${name}: ${why}, stopping`);
  node.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error(`${name}: error while stopping: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}

/**
 * Nodes a launcher started (`LocalCluster`: `npm start`, the tests, the bench) stop when it
 * dies without stopping them (killed, say): else they would run on, a shard retrying a
 * coordinator that is gone. The launcher names itself in `SHARDICT_PARENT_PID`; shards added
 * with `npm run cluster -- add-shard` run detached and have none.
 */
function stopWithParent(stop: (why: string) => void): void {
  const parent = Number(process.env.SHARDICT_PARENT_PID);
  if (!Number.isSafeInteger(parent) || parent <= 0) return;
  const timer = setInterval(() => {
    // An orphan is adopted by another process: its parent id changes.
    if (process.ppid !== parent) stop("its launcher is gone");
  }, 1_000);
  timer.unref();
}

function stopOnSignals(node: Stoppable, name: string): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    stopAndExit(node, name, signal);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  stopWithParent(stop);
}

/**
 * A shard: SIGINT stops it where it stands; SIGTERM (or `cluster remove-shard`) first hands
 * its partitions off. A second signal stops it at once.
 */
function shardSignals(node: ShardNode): void {
  let state: "running" | "leaving" | "stopping" = "running";
  const stop = (why: string) => {
    if (state === "stopping") return;
    state = "stopping";
    stopAndExit(node, node.id, why);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => {
    if (state !== "running") return stop("second SIGTERM");
    state = "leaving";
    log(`${node.id}: SIGTERM: leaving the cluster; handing partitions off first (SIGTERM again to stop at once)`);
    node.leave((line) => log(line)).then(
      () => stop("left the cluster"),
      (err: unknown) => stop(`cannot hand off (${(err as Error).message}); stopping with its data kept`),
    );
  });
  void node.removed.then(() => stop("removed from the cluster"));
  stopWithParent(stop);
}

/** The cluster secret for operator commands: env, config, or the local cluster's file. */
function operatorSecret(): string | undefined {
  if (process.env.SHARDICT_CLUSTER_SECRET) return process.env.SHARDICT_CLUSTER_SECRET;
  const path = process.env.SHARDICT_CONFIG ?? "cluster.config.json";
  if (!existsSync(path)) return undefined;
  const config = loadConfig(path);
  return configuredSecret(config) ?? readLocalSecret(config.dataDir);
}

/**
 * A coordinator's secret: the given one, else (on loopback) the one kept in the data folder,
 * made on first start. Node rights need a secret, and a generated one is as good as any for
 * nodes that can read this machine's files. Off loopback there is none: the node refuses to
 * listen without a configured secret.
 */
function coordinatorSecret(config: ClusterConfig, host: string, say: (line: string) => void): string | undefined {
  const given = configuredSecret(config);
  if (given !== undefined || !isLoopback(host)) return given;
  const { secret, created } = ensureLocalSecret(config.dataDir);
  const path = localSecretPath(config.dataDir);
  say(
    `coordinator: no cluster secret given: ${created ? "generated one, kept" : "using the one kept"} in ${path} (shards and commands on this machine with this config read it; elsewhere set SHARDICT_CLUSTER_SECRET to its contents)`,
  );
  return secret;
}

/** A shard's secret: the given one, else the local cluster's file; without one it cannot join. */
function shardSecret(config: ClusterConfig, id: string): string {
  const secret = configuredSecret(config) ?? readLocalSecret(config.dataDir);
  if (secret !== undefined) return secret;
  fail(
    `shard ${id}: no cluster secret, so it cannot join: set SHARDICT_CLUSTER_SECRET (or "clusterSecret" in the config) to the coordinator's. A coordinator given none keeps the one it generated in ${localSecretPath(config.dataDir)} on its machine (there is none here)`,
  );
}

/** SIGHUP reads the certificate files again (a rotation without a restart); a bad file keeps the old ones. */
function reloadTlsOnHup(config: ClusterConfig, reload: () => void): void {
  if (config.tls === undefined) return;
  process.on("SIGHUP", () => {
    try {
      reload();
    } catch (err) {
      log.error(`shardict: SIGHUP: the TLS files could not be reloaded (the old ones stay in use): ${(err as Error).message}`);
    }
  });
}

/** For a shard that refuses its data: the repair command for its folder. */
let repairHint: string | undefined;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h") {
    console.log(USAGE);
    return;
  }
  if (command === "cluster") return clusterCommand(rest, operatorSecret(), USAGE, fail);
  if (command === "dict" || command === "backup" || command === "restore" || command === "completion") {
    try {
      process.exitCode = command === "dict" ? await dictCommand(rest) : command === "completion" ? completionCommand(rest) : await backupCommand(command, rest);
    } catch (err) {
      console.error(`shardict: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = exitCodeOf(err);
    }
    return;
  }
  if (command === "repair") {
    process.exitCode = await repairCommand(rest, USAGE, fail);
    return;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: "string" },
      id: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      coordinator: { type: "string" },
      advertise: { type: "string" },
      "data-dir": { type: "string" },
      "log-format": { type: "string" },
      insecure: { type: "boolean" },
    },
    strict: true,
  });
  let format: LogFormat;
  try {
    format = logFormatOf(values["log-format"], process.env.SHARDICT_LOG_FORMAT, process.stdout.isTTY === true);
  } catch (err) {
    fail((err as Error).message);
  }
  const configPath = values.config ?? process.env.SHARDICT_CONFIG ?? "cluster.config.json";
  // A shard joining another machine's cluster may have no config file: defaults then.
  const config = values.config === undefined && command === "shard" && !existsSync(configPath) ? parseConfig({}) : loadConfig(configPath);
  const portOverride = port(values.port);

  if (command === "coordinator") {
    const notes: string[] = [];
    const clusterSecret = coordinatorSecret(config, values.host ?? config.coordinator.host, (line) => notes.push(line));
    log = nodeLog("coordinator", format, [clusterSecret, ...tokenSecrets(config.clientTokens), config.metricsToken]);
    for (const line of notes) log(line);
    const node = await CoordinatorNode.open({
      config,
      log,
      ...(values.insecure === true && { insecure: true }),
      ...(values.host !== undefined && { host: values.host }),
      ...(portOverride !== undefined && { port: portOverride }),
      ...(values["data-dir"] !== undefined && { dataDir: values["data-dir"] }),
      clusterSecret,
      // Fail-stop, as for a shard: exit at once for the supervisor to restart it from disk.
      onFatal: () => process.exit(EXIT_STORAGE_FAILED),
    });
    await node.start();
    stopOnSignals(node, "coordinator");
    reloadTlsOnHup(config, () => node.reloadTls());
    return;
  }
  if (command === "shard") {
    if (values.id === undefined) fail("shard needs --id (a shard id in the config, or a new one to join the cluster)");
    const clusterSecret = shardSecret(config, values.id);
    log = nodeLog(values.id, format, [clusterSecret, ...tokenSecrets(config.clientTokens), config.metricsToken]);
    repairHint = repairCommandLine(resolve(values["data-dir"] ?? config.dataDir), values.id);
    const node = await ShardNode.open({
      config,
      log,
      ...(values.insecure === true && { insecure: true }),
      id: values.id,
      ...(values.host !== undefined && { host: values.host }),
      ...(portOverride !== undefined && { port: portOverride }),
      ...(values.coordinator !== undefined && { coordinatorUrl: values.coordinator }),
      ...(values.advertise !== undefined && { advertiseUrl: values.advertise }),
      ...(values["data-dir"] !== undefined && { dataDir: values["data-dir"] }),
      clusterSecret,
      // Fail-stop: exit at once (no graceful stop: nothing more may be answered) for the
      // supervisor to restart the node from what is on disk.
      // Corrupt data that the cluster cannot rebuild: a restart would not help (no restart).
      onFatal: (err) => process.exit(err instanceof CorruptStorageError ? EXIT_CORRUPT_DATA : EXIT_STORAGE_FAILED),
    });
    // Before start: a SIGTERM that arrives while it starts must still mean "leave".
    shardSignals(node);
    await node.start();
    reloadTlsOnHup(config, () => node.reloadTls());
    return;
  }
  fail(`unknown command "${command}"\n${USAGE}`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) fail(err.message);
  if (err instanceof CorruptStorageError) {
    log.error(`shardict: ${err.message}`);
    if (repairHint) log.error(`shardict: at rf 1 (no replica to rebuild from), repair this folder with: ${repairHint} (with --dry-run first, to see what it would drop)`);
    process.exit(EXIT_CORRUPT_DATA);
  }
  if (err instanceof StorageFailedError) {
    log.error(`shardict: FATAL: ${err.message}`);
    process.exit(EXIT_STORAGE_FAILED);
  }
  log.error(`shardict: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
