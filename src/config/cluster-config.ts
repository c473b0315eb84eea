/**
 * `cluster.config.json`: its schema, defaults and validation. A bad file stops a node at
 * start with a message naming the field.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { resolve, dirname, isAbsolute } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { DEFAULT_SEGMENT_BYTES } from "../store/segment-space.js";
import { FRAMES_PER_MESSAGE_SENT, MAX_FRAMES_PER_MESSAGE, frameLimit } from "../net/limits.js";
import { resolveTlsPaths } from "../net/tls.js";

const HostPort = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
  },
  { additionalProperties: false },
);

const ClientToken = Type.String({ minLength: 8 });
const ScopedToken = Type.Object(
  {
    token: ClientToken,
    env: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9._-]+$" })),
    dicts: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 65, pattern: "^[A-Za-z0-9._-]*\\*?$" }), { maxItems: 10_000 })),
    ops: Type.Array(Type.Union([Type.Literal("read"), Type.Literal("write"), Type.Literal("admin")]), { maxItems: 3 }),
  },
  { additionalProperties: false },
);

const ShardConfig = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._-]+$" }),
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
  },
  { additionalProperties: false },
);

const ConfigSchema = Type.Object(
  {
    coordinator: HostPort,
    shards: Type.Array(ShardConfig, { minItems: 1 }),
    partitions: Type.Integer({ minimum: 1, maximum: 65536 }),
    replicationFactor: Type.Integer({ minimum: 1 }),
    dataDir: Type.String({ minLength: 1 }),
    entryTtlMs: Type.Integer({ minimum: 1 }),
    maxEntryBytes: Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024 }),
    ephemeralGraceMs: Type.Integer({ minimum: 100 }),
    /**
     * Who may connect: a token that may do everything, or one held to an environment,
     * some dicts (names, or prefixes ending in `*`) and some ops (README, "Security").
     */
    clientTokens: Type.Array(Type.Union([ClientToken, ScopedToken])),
    storageEngine: Type.Union([Type.Literal("lmdb"), Type.Literal("log"), Type.Literal("memory")]),
    /** The log engine's segment size: made ahead of use, filled with zeros (disk-full safety). */
    logSegmentBytes: Type.Integer({ minimum: 64 * 1024, maximum: 1024 * 1024 * 1024 }),
    /** Shards heartbeat the coordinator this often; silence makes them suspect, then dead. */
    heartbeatMs: Type.Integer({ minimum: 10 }),
    suspectAfterMs: Type.Integer({ minimum: 10 }),
    deadAfterMs: Type.Integer({ minimum: 10 }),
    clusterSecret: Type.Optional(Type.String({ minLength: 8 })),
    /** A token for `GET /metrics` only (besides the client tokens); when set, scrapes need a token. */
    metricsToken: Type.Optional(Type.String({ minLength: 8 })),
    /** The coordinator serves the web console at `GET /` on its port (README, "Web console"). */
    console: Type.Boolean(),
    // ---- per-node and per-connection bounds (README, "Limits") ----
    /** Client connections a node holds at once (connections with the cluster secret do not count). */
    maxConnections: Type.Integer({ minimum: 1 }),
    /** Client connections a node holds at once per client token (only with `clientTokens`). */
    maxConnectionsPerToken: Type.Integer({ minimum: 1 }),
    /**
     * Web origins whose pages may open a WebSocket to the nodes (`https://app.example`). A
     * browser always names its page's origin; an upgrade naming any other is refused, so a
     * web page cannot reach a cluster on this machine's loopback behind its user's back.
     * Programs (the SDK, other nodes) send no origin and are not concerned.
     */
    allowedOrigins: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { maxItems: 1024 }),
    /** Requests a second one client token may make of one node (its connections together); 0: no limit. */
    maxRequestsPerSecondPerToken: Type.Integer({ minimum: 0 }),
    /** Frames (requests or replies) in one WebSocket message; our own peers send at most FRAMES_PER_MESSAGE_SENT. */
    maxFramesPerMessage: Type.Integer({ minimum: FRAMES_PER_MESSAGE_SENT, maximum: MAX_FRAMES_PER_MESSAGE }),
    /** Requests of one connection being worked on at once; more wait, unread. */
    maxRequestsInFlight: Type.Integer({ minimum: 1 }),
    /** Reply bytes of one connection not yet taken by its socket, past which the node stops reading it. */
    maxReplyBytesInFlight: Type.Integer({ minimum: 64 * 1024 }),
    /** A connection whose replies do not drain for this long (the node stopped reading it) is closed. */
    slowReaderTimeoutMs: Type.Integer({ minimum: 100 }),
    /** A message begun and not finished within this long closes its connection. */
    unfinishedMessageTimeoutMs: Type.Integer({ minimum: 100 }),
    /** Bytes of unfinished messages a node holds over all connections; past it the largest is dropped. */
    maxUnfinishedBytes: Type.Integer({ minimum: 1024 * 1024 }),
    /**
     * TLS for every listener and connection: the node's certificate and key, the CA that
     * signs the cluster's certificates (nodes trust it), and whether clients must show a
     * certificate it signed. Paths relative to the config file.
     */
    tls: Type.Optional(
      Type.Object(
        {
          cert: Type.String({ minLength: 1 }),
          key: Type.String({ minLength: 1 }),
          ca: Type.Optional(Type.String({ minLength: 1 })),
          requireClientCert: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * The change history each partition keeps (in memory, on its primary and replicas) for
     * watchers to resume from: at most this many changes, bytes and ms old. A watcher whose
     * position is older gets a `reset`.
     */
    watchHistory: Type.Object(
      {
        maxEvents: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
        maxBytes: Type.Integer({ minimum: 0 }),
        maxAgeMs: Type.Integer({ minimum: 1 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type ClusterConfig = Static<typeof ConfigSchema>;
export type ShardConfig = Static<typeof ShardConfig>;

export const DEFAULT_CONFIG: ClusterConfig = {
  coordinator: { host: "127.0.0.1", port: 7700 },
  shards: [
    { id: "shard-1", host: "127.0.0.1", port: 7701 },
    { id: "shard-2", host: "127.0.0.1", port: 7702 },
    { id: "shard-3", host: "127.0.0.1", port: 7703 },
  ],
  partitions: 256,
  replicationFactor: 1,
  dataDir: "./data",
  entryTtlMs: 7 * 24 * 3600 * 1000,
  maxEntryBytes: 100 * 1024 * 1024,
  ephemeralGraceMs: 60_000,
  clientTokens: [],
  console: true,
  storageEngine: "log",
  logSegmentBytes: DEFAULT_SEGMENT_BYTES,
  heartbeatMs: 250,
  suspectAfterMs: 750,
  deadAfterMs: 750,
  maxConnections: 1024,
  maxConnectionsPerToken: 256,
  maxRequestsPerSecondPerToken: 0,
  allowedOrigins: [],
  maxFramesPerMessage: 4096,
  maxRequestsInFlight: 1024,
  maxReplyBytesInFlight: 8 * 1024 * 1024,
  slowReaderTimeoutMs: 30_000,
  unfinishedMessageTimeoutMs: 30_000,
  maxUnfinishedBytes: 256 * 1024 * 1024,
  watchHistory: { maxEvents: 2_000, maxBytes: 1024 * 1024, maxAgeMs: 3_600_000 },
};

const check = TypeCompiler.Compile(ConfigSchema);

/** Thrown for an invalid config, naming the file and the field. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Apply defaults to a parsed config object and validate it. */
export function parseConfig(raw: unknown, source = "cluster config"): ClusterConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${source}: the top level must be a JSON object`);
  }
  // A deep copy: callers may change what they get back without changing the defaults.
  const given = raw as Record<string, unknown>;
  const history = given.watchHistory;
  const merged = structuredClone({
    ...DEFAULT_CONFIG,
    ...given,
    // Give only the bounds you change: the others keep their defaults.
    ...(typeof history === "object" && history !== null && !Array.isArray(history) && { watchHistory: { ...DEFAULT_CONFIG.watchHistory, ...history } }),
  });
  if (!check.Check(merged)) {
    const problems = [...check.Errors(merged)].slice(0, 5).map((e) => {
      const field = e.path.replace(/^\//, "").replace(/\//g, ".") || "(top level)";
      return `field "${field}": ${e.message}`;
    });
    throw new ConfigError(`${source}: ${problems.join("; ")}`);
  }
  const cfg = merged as ClusterConfig;
  const ids = new Set<string>();
  for (const [i, s] of cfg.shards.entries()) {
    if (ids.has(s.id)) throw new ConfigError(`${source}: field "shards.${i}.id": duplicate shard id "${s.id}"`);
    ids.add(s.id);
  }
  const tokens = new Set<string>();
  for (const [i, t] of cfg.clientTokens.entries()) {
    const token = typeof t === "string" ? t : t.token;
    // Never the token itself in the message: the config's errors end up in logs.
    if (tokens.has(token)) throw new ConfigError(`${source}: field "clientTokens.${i}": the same token is listed twice (which scope would it have?)`);
    tokens.add(token);
  }
  const addrs = new Set<string>([`${cfg.coordinator.host}:${cfg.coordinator.port}`]);
  for (const [i, s] of cfg.shards.entries()) {
    const addr = `${s.host}:${s.port}`;
    if (s.port !== 0 && addrs.has(addr)) throw new ConfigError(`${source}: field "shards.${i}.port": address ${addr} is used twice`);
    addrs.add(addr);
  }
  if (cfg.replicationFactor > cfg.shards.length) {
    throw new ConfigError(
      `${source}: field "replicationFactor": ${cfg.replicationFactor} is more than the ${cfg.shards.length} shards`,
    );
  }
  const largest = frameLimit(cfg.maxEntryBytes);
  if (cfg.maxUnfinishedBytes < largest) {
    throw new ConfigError(
      `${source}: field "maxUnfinishedBytes": ${cfg.maxUnfinishedBytes} is less than one message of the largest entry (maxEntryBytes + 8 MiB = ${largest}), which could then never arrive`,
    );
  }
  return cfg;
}

/** Read and validate a config file; `dataDir` is resolved against the file's folder. */
export function loadConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  const cfg = parseConfig(raw, path);
  const base = dirname(resolve(path));
  return { ...cfg, dataDir: isAbsolute(cfg.dataDir) ? cfg.dataDir : resolve(base, cfg.dataDir), ...(cfg.tls !== undefined && { tls: resolveTlsPaths(cfg.tls, base) }) };
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}
