import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, DEFAULT_CONFIG, isLoopback, loadConfig, parseConfig } from "../../src/config/cluster-config.js";
import { FRAMES_PER_MESSAGE_SENT, MAX_FRAMES_PER_MESSAGE, frameLimit } from "../../src/net/limits.js";

const threeShards = [
  { id: "s1", host: "10.0.0.1", port: 7701 },
  { id: "s2", host: "10.0.0.2", port: 7702 },
  { id: "s3", host: "10.0.0.3", port: 7703 },
];

function configError(raw: unknown, source?: string): ConfigError {
  let caught: unknown;
  try {
    if (source === undefined) parseConfig(raw);
    else parseConfig(raw, source);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  expect((caught as Error).name).toBe("ConfigError");
  return caught as ConfigError;
}

describe("parseConfig", () => {
  it("gives the defaults for an empty object", () => {
    const cfg = parseConfig({});
    expect(cfg).toEqual(DEFAULT_CONFIG);
    expect(cfg.coordinator).toEqual({ host: "127.0.0.1", port: 7700 });
    expect(cfg.shards.map((s) => s.id)).toEqual(["shard-1", "shard-2", "shard-3"]);
    expect(cfg.shards.map((s) => s.port)).toEqual([7701, 7702, 7703]);
    expect(cfg.partitions).toBe(256);
    expect(cfg.replicationFactor).toBe(1);
    expect(cfg.dataDir).toBe("./data");
    expect(cfg.entryTtlMs).toBe(7 * 24 * 3600 * 1000);
    expect(cfg.maxEntryBytes).toBe(100 * 1024 * 1024);
    expect(cfg.ephemeralGraceMs).toBe(60_000);
    expect(cfg.clientTokens).toEqual([]);
    expect(cfg.clusterSecret).toBeUndefined();
    expect(cfg.maxConnections).toBe(1024);
    expect(cfg.maxConnectionsPerToken).toBe(256);
    expect(cfg.maxFramesPerMessage).toBe(4096);
    expect(cfg.maxRequestsInFlight).toBe(1024);
    expect(cfg.maxReplyBytesInFlight).toBe(8 * 1024 * 1024);
    expect(cfg.slowReaderTimeoutMs).toBe(30_000);
    expect(cfg.unfinishedMessageTimeoutMs).toBe(30_000);
    expect(cfg.maxUnfinishedBytes).toBe(256 * 1024 * 1024);
  });

  it("overrides only the fields given", () => {
    const cfg = parseConfig({ partitions: 64, shards: threeShards, replicationFactor: 3, clusterSecret: "s3cret-s3cret" });
    expect(cfg.partitions).toBe(64);
    expect(cfg.shards).toEqual(threeShards);
    expect(cfg.replicationFactor).toBe(3);
    expect(cfg.clusterSecret).toBe("s3cret-s3cret");
    expect(cfg.coordinator).toEqual(DEFAULT_CONFIG.coordinator);
    expect(cfg.entryTtlMs).toBe(DEFAULT_CONFIG.entryTtlMs);
  });

  it("accepts the edges of each range", () => {
    expect(parseConfig({ partitions: 1 }).partitions).toBe(1);
    expect(parseConfig({ partitions: 65536 }).partitions).toBe(65536);
    expect(parseConfig({ maxEntryBytes: 1024 }).maxEntryBytes).toBe(1024);
    expect(parseConfig({ shards: [{ id: "a.b_c-1", host: "h", port: 0 }, { id: "x", host: "h", port: 0 }] }).shards).toHaveLength(2);
    expect(parseConfig({ maxFramesPerMessage: FRAMES_PER_MESSAGE_SENT }).maxFramesPerMessage).toBe(FRAMES_PER_MESSAGE_SENT);
    expect(parseConfig({ maxFramesPerMessage: MAX_FRAMES_PER_MESSAGE }).maxFramesPerMessage).toBe(MAX_FRAMES_PER_MESSAGE);
    expect(parseConfig({ maxConnections: 1, maxConnectionsPerToken: 1, maxRequestsInFlight: 1 }).maxConnections).toBe(1);
    expect(parseConfig({ maxReplyBytesInFlight: 64 * 1024, slowReaderTimeoutMs: 100, unfinishedMessageTimeoutMs: 100 }).slowReaderTimeoutMs).toBe(100);
  });

  it("needs room for one message of the largest entry in maxUnfinishedBytes", () => {
    const maxEntryBytes = 1024 * 1024;
    expect(parseConfig({ maxEntryBytes, maxUnfinishedBytes: frameLimit(maxEntryBytes) }).maxUnfinishedBytes).toBe(frameLimit(maxEntryBytes));
    const err = configError({ maxEntryBytes, maxUnfinishedBytes: frameLimit(maxEntryBytes) - 1 });
    expect(err.message).toContain('field "maxUnfinishedBytes"');
    expect(err.message).toContain("maxEntryBytes");
    // The defaults fit each other; a larger maxEntryBytes needs a larger cap, and says so.
    expect(configError({ maxEntryBytes: 512 * 1024 * 1024 }).message).toContain('field "maxUnfinishedBytes"');
  });

  it.each<[string, unknown]>([
    ["null", null],
    ["an array", []],
    ["a string", "{}"],
    ["a number", 1],
  ])("refuses %s at the top level", (_, raw) => {
    expect(configError(raw).message).toContain("top level");
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["a non-integer shard port", { shards: [threeShards[0], { ...threeShards[1], port: "x" }] }, "shards.1.port"],
    ["a shard port out of range", { shards: [{ ...threeShards[0], port: 70000 }] }, "shards.0.port"],
    ["a bad shard id", { shards: [{ ...threeShards[0], id: "has space" }] }, "shards.0.id"],
    ["an unknown shard field", { shards: [{ ...threeShards[0], weight: 2 }] }, "shards.0.weight"],
    ["no shards", { shards: [] }, "shards"],
    ["0 partitions", { partitions: 0 }, "partitions"],
    ["too many partitions", { partitions: 65537 }, "partitions"],
    ["fractional partitions", { partitions: 2.5 }, "partitions"],
    ["replicationFactor 0", { replicationFactor: 0 }, "replicationFactor"],
    ["replicationFactor 4 with 3 shards", { replicationFactor: 4 }, "replicationFactor"],
    ["duplicate shard ids", { shards: [threeShards[0], { ...threeShards[1], id: "s1" }] }, "shards.1.id"],
    ["two shards on one address", { shards: [threeShards[0], { ...threeShards[1], host: "10.0.0.1", port: 7701 }] }, "shards.1.port"],
    ["a shard on the coordinator's address", { shards: [{ id: "s", host: "127.0.0.1", port: 7700 }] }, "shards.0.port"],
    ["an unknown top-level field", { partitons: 12 }, "partitons"],
    ["a coordinator without a host", { coordinator: { port: 1 } }, "coordinator.host"],
    ["an empty dataDir", { dataDir: "" }, "dataDir"],
    ["a zero TTL", { entryTtlMs: 0 }, "entryTtlMs"],
    ["a tiny maxEntryBytes", { maxEntryBytes: 10 }, "maxEntryBytes"],
    ["a short client token", { clientTokens: ["long-enough", "short"] }, "clientTokens.1"],
    ["a scoped token with an unknown op", { clientTokens: ["long-enough", { token: "scoped-token", ops: ["read", "delete"] }] }, "clientTokens.1"],
    ["a scoped token without ops", { clientTokens: [{ token: "scoped-token" }] }, "clientTokens.0"],
    ["a scoped token with a misspelt field", { clientTokens: [{ token: "scoped-token", ops: ["read"], dict: ["a"] }] }, "clientTokens.0"],
    ["a scoped token with a star inside a dict pattern", { clientTokens: [{ token: "scoped-token", ops: ["read"], dicts: ["jobs*x"] }] }, "clientTokens.0"],
    ["a scoped token with a short token", { clientTokens: [{ token: "short", ops: ["read"] }] }, "clientTokens.0"],
    ["a scoped token with a bad env", { clientTokens: [{ token: "scoped-token", env: "no spaces", ops: ["read"] }] }, "clientTokens.0"],
    ["the same token twice", { clientTokens: ["scoped-token", { token: "scoped-token", ops: ["read"] }] }, "clientTokens.1"],
    ["a short cluster secret", { clusterSecret: "abc" }, "clusterSecret"],
    ["maxConnections 0", { maxConnections: 0 }, "maxConnections"],
    ["maxConnectionsPerToken 0", { maxConnectionsPerToken: 0 }, "maxConnectionsPerToken"],
    ["maxFramesPerMessage below what our peers send", { maxFramesPerMessage: FRAMES_PER_MESSAGE_SENT - 1 }, "maxFramesPerMessage"],
    ["maxFramesPerMessage above the decoder's ceiling", { maxFramesPerMessage: MAX_FRAMES_PER_MESSAGE + 1 }, "maxFramesPerMessage"],
    ["maxRequestsInFlight 0", { maxRequestsInFlight: 0 }, "maxRequestsInFlight"],
    ["a fractional maxRequestsInFlight", { maxRequestsInFlight: 1.5 }, "maxRequestsInFlight"],
    ["a tiny maxReplyBytesInFlight", { maxReplyBytesInFlight: 1000 }, "maxReplyBytesInFlight"],
    ["a tiny slowReaderTimeoutMs", { slowReaderTimeoutMs: 5 }, "slowReaderTimeoutMs"],
    ["a non-number unfinishedMessageTimeoutMs", { unfinishedMessageTimeoutMs: "1s" }, "unfinishedMessageTimeoutMs"],
    ["a tiny maxUnfinishedBytes", { maxUnfinishedBytes: 1000 }, "maxUnfinishedBytes"],
  ])("%s names the field", (_, raw, field) => {
    const err = configError(raw, "test.json");
    expect(err.message).toContain(`"${field}"`);
    expect(err.message.startsWith("test.json: ")).toBe(true);
  });

  it("takes strings and scoped tokens together, and never repeats a token in its message", () => {
    const cfg = parseConfig({ clientTokens: ["all-powerful", { token: "jobs-reader", env: "main", dicts: ["jobs-*", "x"], ops: ["read"] }] });
    expect(cfg.clientTokens).toHaveLength(2);
    expect(configError({ clientTokens: ["same-token-x", "same-token-x"] }).message).not.toContain("same-token-x");
  });

  it("uses a default source name", () => {
    expect(configError({ partitions: 0 }).message).toContain("cluster config");
  });
});

describe("loadConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "shardict-config-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a file and resolves dataDir against the file's folder", () => {
    const file = join(dir, "cluster.config.json");
    writeFileSync(file, JSON.stringify({ partitions: 32, dataDir: "./store" }));
    const cfg = loadConfig(file);
    expect(cfg.partitions).toBe(32);
    expect(cfg.dataDir).toBe(join(dir, "store"));
  });

  it("keeps an absolute dataDir", () => {
    const file = join(dir, "abs.json");
    writeFileSync(file, JSON.stringify({ dataDir: "/var/lib/shardict" }));
    expect(loadConfig(file).dataDir).toBe("/var/lib/shardict");
  });

  it("names the file for invalid JSON, a bad field, or a missing file", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ not json");
    expect(() => loadConfig(bad)).toThrow(ConfigError);
    expect(() => loadConfig(bad)).toThrow(/bad\.json: not valid JSON/);
    const badField = join(dir, "bad-field.json");
    writeFileSync(badField, JSON.stringify({ partitions: 0 }));
    expect(() => loadConfig(badField)).toThrow(/bad-field\.json: field "partitions"/);
    expect(() => loadConfig(join(dir, "missing.json"))).toThrow(/cannot read config file/);
  });
});

describe("isLoopback", () => {
  it("recognises loopback hosts only", () => {
    for (const h of ["localhost", "::1", "127.0.0.1", "127.1.2.3"]) expect(isLoopback(h)).toBe(true);
    for (const h of ["0.0.0.0", "10.0.0.1", "example.com", "128.0.0.1", "::"]) expect(isLoopback(h)).toBe(false);
  });
});
