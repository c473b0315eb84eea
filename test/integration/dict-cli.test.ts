/**
 * `shardict dict …` against a real cluster (with a client token): every subcommand, the
 * tagged JSON round trip of every value type (`get --json` → `put --json`), keys named as
 * JSON, and the documented exit codes (1 not found, 2 usage, 3 connection or auth).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, type Client } from "../../src/index.js";
import { cleanEnv, runCli, spawnCli, type CliResult } from "../helpers/cli.js";
import { waitUntil } from "../helpers/wait.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";

const TOKEN = "cli-token-0123456789";
let tc: TestCluster;
let client: Client;
beforeAll(async () => {
  tc = await startTestCluster({ clientTokens: [TOKEN] });
  client = await tc.client({ token: TOKEN });
});
afterAll(async () => {
  await tc?.stop();
});

const cli = (...args: string[]): Promise<CliResult> => runCli(["dict", ...args], { env: cleanEnv({ SHARDICT_URL: tc.url, SHARDICT_TOKEN: TOKEN }) });
const ok = async (...args: string[]): Promise<string> => {
  const r = await cli(...args);
  expect(r.code, `shardict dict ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
const lines = (s: string): string[] => s.split("\n").filter((l) => l !== "");

describe("shardict dict", () => {
  it("create, list, put, get, len, info, keys, items, pop, clear, delete", async () => {
    expect(JSON.parse(await ok("create", "cli-a", "--json"))).toMatchObject({ name: "cli-a", id: expect.stringMatching(/^di-/) });
    expect((await cli("create", "cli-a")).code).toBe(1);
    expect(await ok("create", "cli-a", "--allow-existing")).toBe("");
    expect(lines(await ok("list"))).toContain("cli-a");
    const listed = lines(await ok("list", "--json")).map((l) => JSON.parse(l) as { name: string; createdAt: string });
    expect(listed.find((x) => x.name === "cli-a")?.createdAt).toMatch(/^\d{4}-/);
    for (const [k, v] of [["a", "alpha"], ["b", "beta"], ["c", "gamma"]]) await ok("put", "cli-a", k as string, v as string);
    expect(await ok("get", "cli-a", "a")).toBe("alpha\n");
    expect(await ok("get", "cli-a", "a", "--json")).toBe('"alpha"\n');
    expect(await ok("len", "cli-a")).toBe("3\n");
    expect(JSON.parse(await ok("info", "cli-a", "--json"))).toMatchObject({ name: "cli-a", len: 3 });
    expect(lines(await ok("keys", "cli-a")).sort()).toEqual(["a", "b", "c"]);
    expect(lines(await ok("keys", "cli-a", "--limit", "2"))).toHaveLength(2);
    const items = lines(await ok("items", "cli-a", "--json")).map((l) => JSON.parse(l) as { key: string; value: string });
    expect(items.sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: "a", value: "alpha" },
      { key: "b", value: "beta" },
      { key: "c", value: "gamma" },
    ]);
    expect(lines(await ok("items", "cli-a")).sort()).toEqual(["a\talpha", "b\tbeta", "c\tgamma"]);
    expect(await ok("pop", "cli-a", "b")).toBe("beta\n");
    expect((await cli("pop", "cli-a", "b")).code).toBe(1);
    expect(await ok("clear", "cli-a", "--yes")).toBe("");
    expect(await ok("len", "cli-a")).toBe("0\n");
    expect(await ok("delete", "cli-a", "--yes")).toBe("");
    expect(lines(await ok("list"))).not.toContain("cli-a");
  });

  it("round-trips every value type through get --json and put --json", async () => {
    const src = await Dict.objects.create("cli-types", { client });
    const dst = await Dict.objects.create("cli-types-copy", { client });
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const shared = { s: 1 };
    const values: Record<string, unknown> = {
      string: "text with \t tab and ünïcode",
      number: 1.5,
      nan: Number.NaN,
      inf: -Infinity,
      bigint: 2n ** 80n,
      date: new Date("2026-12-06T12:34:56.789Z"),
      map: new Map<unknown, unknown>([["k", 1], [2, [3]]]),
      set: new Set([1, "two", 3n]),
      bytes: Uint8Array.from([0, 1, 254, 255]),
      nested: { a: [1, { b: null }], $dollar: "not a tag", t: true },
      cycle: cyclic,
      shared: [shared, shared],
      handle: src,
      undef: [undefined, 1],
      regexp: /a+b/gi,
      error: new TypeError("boom", { cause: "why" }),
      buffer: Buffer.from("buf"),
      typed: Float64Array.from([1.5, -2]),
    };
    await src.update(Object.entries(values));
    for (const key of Object.keys(values)) {
      const printed = (await ok("get", "cli-types", key, "--json")).trim();
      await ok("put", "cli-types-copy", key, printed, "--json");
    }
    for (const [key, v] of Object.entries(values)) {
      const back = await dst.get(key);
      if (key === "handle") expect((back as Dict).objectId).toBe(src.objectId);
      else if (key === "cycle") expect((back as { self: unknown }).self).toBe(back);
      else if (key === "shared") expect((back as unknown[])[0]).toBe((back as unknown[])[1]);
      else expect(back, key).toEqual(v);
    }
  });

  it("names keys as JSON with --key-json: 1, \"1\" and [1,2] are three keys", async () => {
    await ok("create", "cli-keys");
    await ok("put", "cli-keys", "1", "number one", "--key-json");
    await ok("put", "cli-keys", '"1"', "string one", "--key-json");
    await ok("put", "cli-keys", "[1,2]", "pair", "--key-json");
    await ok("put", "cli-keys", '{"$bigint":"5"}', "big five", "--key-json");
    const d = Dict.fromName("cli-keys", { client });
    expect(await d.get(1)).toBe("number one");
    expect(await d.get("1")).toBe("string one");
    expect(await d.get([1, 2])).toBe("pair");
    expect(await d.get(5n)).toBe("big five");
    expect(await ok("get", "cli-keys", "1")).toBe("string one\n");
    expect(lines(await ok("keys", "cli-keys", "--json")).sort()).toEqual(['"1"', "1", "[1,2]", '{"$bigint":"5"}'].sort());
  });

  it("hotkeys shows the most-accessed keys and the largest values", async () => {
    const d = await Dict.objects.create("cli-hot", { client });
    await d.update(Array.from({ length: 300 }, (_, i) => [`k${i}`, i] as [string, number]));
    await d.put("big", "x".repeat(50_000));
    for (let i = 0; i < 800; i++) await d.get("hot");
    for (let i = 0; i < 300; i++) await d.get(`k${i}`);
    const r = JSON.parse(await ok("hotkeys", "cli-hot", "--json", "--limit", "5")) as { accessed: { key: string; count: number }[]; largest: { key: string; bytes: number }[] };
    expect(r.accessed[0]?.key).toBe("hot");
    // Estimated from a 1-in-8 sample of every request the shard saw: near 800.
    expect(r.accessed[0]?.count).toBeGreaterThan(600);
    expect(r.accessed[0]?.count).toBeLessThan(1_000);
    expect(r.largest[0]).toMatchObject({ key: "big" });
    expect(r.largest[0]?.bytes).toBeGreaterThan(50_000);
    expect(await ok("hotkeys", "cli-hot")).toMatch(/most accessed[\s\S]*\thot\n[\s\S]*largest[\s\S]*\tbig/);
  });

  it("watch prints changes as they come: text, and JSON lines with versions and cursors; --limit ends it", async () => {
    const d = await Dict.fromName("cli-watch", { createIfMissing: true, client }).hydrate();
    await d.put("before", 1);
    const env = cleanEnv({ SHARDICT_URL: tc.url, SHARDICT_TOKEN: TOKEN });
    // --initial prints the current entry and "synced" once the watch has started.
    const json = spawnCli(["dict", "watch", "cli-watch", "--json", "--initial", "--limit", "5"], { env });
    const text = spawnCli(["dict", "watch", "cli-watch", "--prefix", "user:", "--initial", "--limit", "3"], { env });
    await waitUntil(() => json.stdout.includes('"synced"') && text.stdout.includes("synced"), { what: "both watches to start" });
    await d.put("user:1", { n: 1 });
    await d.put("other", "x");
    await d.delete("user:1");
    const j = await json.done;
    const t = await text.done;
    expect(j.code, json.stderr).toBe(0);
    expect(t.code, text.stderr).toBe(0);
    const events = lines(json.stdout).map((l) => JSON.parse(l) as { type: string; key?: unknown; value?: unknown; version?: string; cursor: string });
    const shown = events.map((e) => [e.type, e.key, e.value]);
    expect(shown.slice(0, 2)).toEqual([
      ["put", "before", 1],
      ["synced", undefined, undefined],
    ]);
    // In order per key (keys of different partitions have no order between them).
    expect(shown.filter((e) => e[1] === "user:1")).toEqual([
      ["put", "user:1", { n: 1 }],
      ["delete", "user:1", undefined],
    ]);
    expect(shown).toContainEqual(["put", "other", "x"]);
    expect(events.filter((e) => e.type === "put").every((e) => typeof e.version === "string")).toBe(true);
    expect(events.every((e) => typeof e.cursor === "string")).toBe(true);
    expect(lines(text.stdout)).toEqual(["synced", 'put\tuser:1\t{"n":1}', "delete\tuser:1"]);
  });

  it("exit codes: 1 not found, 2 usage, 3 connection or auth; messages on stderr", async () => {
    await ok("create", "cli-codes");
    const cases: [string[], number][] = [
      [["get", "no-such-dict", "k"], 1],
      [["len", "no-such-dict"], 1],
      [["get", "cli-codes", "missing"], 1],
      [["delete", "no-such-dict", "--yes"], 1],
      [["frobnicate"], 2],
      [["get", "cli-codes"], 2],
      [["len", "cli-codes", "--bogus"], 2],
      [["put", "cli-codes", "k", "{not json", "--json"], 2],
      [["put", "cli-codes", "k", '{"$date":5}', "--json"], 2],
      [["get", "cli-codes", "[1,", "--key-json"], 2],
      [["keys", "cli-codes", "--limit", "many"], 2],
    ];
    for (const [args, code] of cases) {
      const r = await cli(...args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(code);
      expect(r.stderr, args.join(" ")).toMatch(/\S/);
    }
    expect((await cli()).code).toBe(2);
    expect(await ok("--help")).toMatch(/shardict dict get NAME KEY/);
    expect(await ok("get", "--help")).toMatch(/--key-json/);
    const noToken = await runCli(["dict", "len", "cli-codes"], { env: cleanEnv({ SHARDICT_URL: tc.url }) });
    expect(noToken.code).toBe(3);
    const badToken = await runCli(["dict", "len", "cli-codes", "--token", "wrong"], { env: cleanEnv({ SHARDICT_URL: tc.url }) });
    expect(badToken.code).toBe(3);
    const nobody = await runCli(["dict", "len", "cli-codes", "--url", "ws://127.0.0.1:1"], { env: cleanEnv({ SHARDICT_TOKEN: TOKEN }) });
    expect(nobody.code).toBe(3);
    expect(await Dict.fromName("cli-codes", { client }).len()).toBe(0);
  }, 60_000);
});
