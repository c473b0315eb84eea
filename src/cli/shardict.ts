#!/usr/bin/env node
/**
 * The `shardict` command: run a coordinator or a shard node, or ask a cluster for its status.
 *
 *   shardict coordinator --config cluster.config.json [--host H] [--port P]
 *   shardict shard --config cluster.config.json --id shard-2 [--coordinator ws://H:P] [--host H] [--port P]
 *   shardict cluster status [--url ws://H:P] [--json]
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config/cluster-config.js";
import { CoordinatorNode } from "../coordinator/coordinator-node.js";
import { ShardNode } from "../shard/shard-node.js";
import { connect } from "../client/client.js";

const USAGE = `usage:
  shardict coordinator [--config FILE] [--host HOST] [--port PORT]
  shardict shard --id ID [--config FILE] [--coordinator URL] [--host HOST] [--port PORT] [--advertise URL]
  shardict cluster status [--url URL] [--json]

--config defaults to $SHARDICT_CONFIG, else ./cluster.config.json.
--advertise is the address clients should use for this shard, if not the one it listens on.
The cluster secret comes from $SHARDICT_CLUSTER_SECRET or "clusterSecret" in the config.`;

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

function stopOnSignals(node: Stoppable, name: string): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${name}: ${signal}, stopping`);
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`${name}: error while stopping:`, err);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h") {
    console.log(USAGE);
    return;
  }
  if (command === "cluster") return clusterCommand(rest);
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: "string" },
      id: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      coordinator: { type: "string" },
      advertise: { type: "string" },
    },
    strict: true,
  });
  const configPath = values.config ?? process.env.SHARDICT_CONFIG ?? "cluster.config.json";
  const config = loadConfig(configPath);
  const clusterSecret = process.env.SHARDICT_CLUSTER_SECRET || config.clusterSecret || undefined;
  const portOverride = port(values.port);

  if (command === "coordinator") {
    const node = new CoordinatorNode({
      config,
      ...(values.host !== undefined && { host: values.host }),
      ...(portOverride !== undefined && { port: portOverride }),
      clusterSecret,
    });
    await node.start();
    stopOnSignals(node, "coordinator");
    return;
  }
  if (command === "shard") {
    if (values.id === undefined) fail("shard needs --id (one of the shard ids in the config)");
    const node = new ShardNode({
      config,
      id: values.id,
      ...(values.host !== undefined && { host: values.host }),
      ...(portOverride !== undefined && { port: portOverride }),
      ...(values.coordinator !== undefined && { coordinatorUrl: values.coordinator }),
      ...(values.advertise !== undefined && { advertiseUrl: values.advertise }),
      clusterSecret,
    });
    await node.start();
    stopOnSignals(node, values.id);
    return;
  }
  fail(`unknown command "${command}"\n${USAGE}`);
}

async function clusterCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { url: { type: "string" }, json: { type: "boolean" } }, strict: true });
  if (sub !== "status") fail(`unknown cluster command "${sub ?? ""}"\n${USAGE}`);
  const client = await connect(values.url !== undefined ? { url: values.url } : {});
  try {
    const status = (await client.coordinatorRequest({ type: "status" })) as {
      epoch: number;
      partitions: number;
      dicts: number;
      shards: { id: string; url: string; state: string; partitions: number }[];
    };
    if (values.json) {
      console.log(JSON.stringify(status, null, 2));
      return;
    }
    console.log(`epoch ${status.epoch}, ${status.partitions} partitions, ${status.dicts} dicts`);
    for (const s of status.shards) console.log(`  ${s.id.padEnd(12)} ${s.state.padEnd(13)} ${String(s.partitions).padStart(5)} partitions  ${s.url}`);
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) fail(err.message);
  console.error(`shardict: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
