/**
 * The coordinator's web console over HTTP, on real clusters: the page and its files, the
 * JSON API (the cluster, its load, dicts per environment, pages of entries, a key's entry,
 * hot keys), bad input answered 400/404 and never a crash, the token a cluster with
 * `clientTokens` requires, and the console switched off by config.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gunzipSync } from "node:zlib";
import { request } from "node:http";
import { Dict } from "../../src/index.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { waitUntil } from "../helpers/wait.js";

const TOKEN = "console-token-aaaa";
const SCOPED = "console-scoped-token";

function base(tc: TestCluster): string {
  return tc.url.replace(/^ws:/, "http:");
}

async function api<T = Record<string, unknown>>(tc: TestCluster, path: string, token?: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base(tc)}/console/api/${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  return { status: res.status, body: (await res.json()) as T };
}

async function ok<T = Record<string, unknown>>(tc: TestCluster, path: string, token?: string): Promise<T> {
  const r = await api<T>(tc, path, token);
  if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

interface Shown {
  json: string | null;
  type: string;
  truncated?: true;
  note?: string;
}
interface Page {
  entries: { key: Shown; value: Shown; bytes: number }[];
  next: string | null;
}

describe("the console of an open cluster", () => {
  let tc: TestCluster;
  let people: Dict;
  beforeAll(async () => {
    delete process.env.SHARDICT_TOKEN;
    tc = await startTestCluster({ shards: 3, replicationFactor: 2 });
    const client = await tc.client();
    people = Dict.fromName("console-people", { createIfMissing: true, client });
    await people.put("alice", { name: "Alice", born: new Date("1990-02-03T00:00:00.000Z"), score: 12345678901234567890n });
    await people.put(42, new Map([["bytes", new Uint8Array([1, 2, 3])]]));
    await people.put("big", "x".repeat(300_000));
    const many = Dict.fromName("console-many", { createIfMissing: true, client });
    await many.update(Object.fromEntries(Array.from({ length: 130 }, (_, i) => [`k-${String(i).padStart(3, "0")}`, i])));
    await Dict.objects.create("console-elsewhere", { environmentName: "staging", client });
  });
  afterAll(async () => {
    await tc?.stop();
  });

  it("serves the page as text/html, and its script, style and uPlot", async () => {
    const page = await fetch(`${base(tc)}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
    const html = await page.text();
    expect(html).toMatch(/<title>shardict console<\/title>/);
    for (const [path, type] of [
      ["/console/console.js", "text/javascript"],
      ["/console/console.css", "text/css"],
      ["/console/uplot.js", "text/javascript"],
      ["/console/uplot.css", "text/css"],
    ] as const) {
      const res = await fetch(`${base(tc)}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toMatch(new RegExp(`^${type}`));
      expect((await res.text()).length).toBeGreaterThan(500);
    }
    // Gzipped when asked for (fetch asks, and unpacks: ask by hand to see the bytes).
    const gz = await rawGet(tc, "/console/uplot.js", { "accept-encoding": "gzip" });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(gz.body).toString()).toMatch(/uPlot/);
    const again = await fetch(`${base(tc)}/`, { headers: { "if-none-match": page.headers.get("etag") ?? "" } });
    expect(again.status).toBe(304);
  });

  it("answers the cluster: shards with health, rebalancing, and the partition map when its epoch changed", async () => {
    type Status = { tokenRequired: boolean; status: { shards: { id: string; health: string; state: string }[]; partitions: number; epoch: number; rebalance: { pending: number; moving: number } }; map: { epoch: number; shards: string[]; primary: number[]; replicas: number[]; moving: number[] } | null };
    // (A young cluster may still be placing replicas.)
    const s = await waitUntil(async () => {
      const r = await ok<Status>(tc, "status");
      return r.status.rebalance.pending === 0 && r.map?.moving.length === 0 ? r : undefined;
    }, { what: "the cluster to settle" });
    expect(s.tokenRequired).toBe(false);
    expect(s.status.shards.map((x) => [x.id, x.health, x.state])).toEqual([
      ["shard-1", "alive", "serving"],
      ["shard-2", "alive", "serving"],
      ["shard-3", "alive", "serving"],
    ]);
    expect(s.map?.primary).toHaveLength(64);
    expect(s.map?.primary.every((i) => i >= 0 && i < 3)).toBe(true);
    expect(s.map?.replicas.every((n) => n === 1)).toBe(true);
    const same = await ok<{ map: unknown; status: { epoch: number } }>(tc, `status?epoch=${s.map?.epoch}`);
    if (same.status.epoch === s.map?.epoch) expect(same.map).toBeNull();
  });

  it("charts the load: requests per second per shard and for the cluster, with latency", async () => {
    const client = await tc.client();
    const d = Dict.fromName("console-people", { client });
    const load = await waitUntil(
      async () => {
        await Promise.all(Array.from({ length: 200 }, () => d.get("alice")));
        const l = await ok<{ t: number[]; cluster: { ops: number[]; p99Ms: (number | null)[] }; shards: { id: string; ops: (number | null)[] }[] }>(tc, "load");
        // Each shard's line starts at its second report (the first is its base).
        return l.shards.length === 3 && l.cluster.ops.some((n) => n > 0) && l.cluster.p99Ms.some((x) => x !== null && x > 0) ? l : undefined;
      },
      { what: "every shard in the load history, and a second with requests", timeoutMs: 15_000, intervalMs: 200 },
    );
    expect(load.shards.map((s) => s.id)).toEqual(["shard-1", "shard-2", "shard-3"]);
    expect(load.t.length).toBe(load.cluster.ops.length);
    const last = load.t[load.t.length - 1] as number;
    const since = await ok<{ t: number[] }>(tc, `load?since=${last}`);
    expect(since.t.every((t) => t > last)).toBe(true);
  });

  it("lists environments and their named dicts, newest first, in pages", async () => {
    const { envs } = await ok<{ envs: { env: string; dicts: number }[] }>(tc, "envs");
    expect(envs).toEqual(expect.arrayContaining([{ env: "main", dicts: 2 }, { env: "staging", dicts: 1 }]));
    const main = await ok<{ dicts: { name: string; id: string }[]; next: number | null }>(tc, "dicts?env=main");
    expect(main.dicts.map((d) => d.name)).toEqual(["console-many", "console-people"]);
    const first = await ok<{ dicts: { name: string }[]; next: number | null }>(tc, "dicts?env=main&limit=1");
    expect(first.dicts.map((d) => d.name)).toEqual(["console-many"]);
    expect(first.next).not.toBeNull();
    const second = await ok<{ dicts: { name: string }[]; next: number | null }>(tc, `dicts?env=main&limit=1&before=${first.next}`);
    expect(second.dicts.map((d) => d.name)).toEqual(["console-people"]);
    expect(second.next).toBeNull();
    expect((await ok<{ dicts: { name: string }[] }>(tc, "dicts?env=staging")).dicts.map((d) => d.name)).toEqual(["console-elsewhere"]);
  });

  it("pages through a dict's entries: every entry once, bounded pages, values readable", async () => {
    const many = Dict.fromName("console-many", { client: await tc.client() });
    const id = await many.hydrate().then((d) => d.objectId);
    const info = await ok<{ name: string; len: number }>(tc, `dict?id=${id}`);
    expect(info).toMatchObject({ name: "console-many", len: 130 });
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const page: Page = await ok<Page>(tc, `entries?dict=${id}&limit=50${token === null ? "" : `&page=${token}`}`);
      expect(page.entries.length).toBeLessThanOrEqual(50);
      for (const e of page.entries) {
        seen.push(JSON.parse(e.key.json ?? "null") as string);
        expect(e.value.type).toBe("number");
        expect(Number(e.value.json)).toBe(Number((JSON.parse(e.key.json ?? "") as string).slice(2)));
      }
      token = page.next;
      pages++;
    } while (token !== null && pages < 20);
    expect(token).toBeNull();
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen.sort()).toEqual(Array.from({ length: 130 }, (_, i) => `k-${String(i).padStart(3, "0")}`));

    const pid = (await people.hydrate()).objectId;
    const page = await ok<Page>(tc, `entries?dict=${pid}&limit=100`);
    expect(page.next).toBeNull();
    const byKey = new Map(page.entries.map((e) => [e.key.json, e]));
    expect(byKey.get('"alice"')?.value).toEqual({ json: '{"name":"Alice","born":{"$date":"1990-02-03T00:00:00.000Z"},"score":{"$bigint":"12345678901234567890"}}', type: "object" });
    expect(byKey.get("42")?.value).toEqual({ json: '{"$map":[["bytes",{"$bytes":"AQID"}]]}', type: "Map(1)" });
    // Too large to decode in a page: its size, and the way to see it.
    expect(byKey.get('"big"')?.value.json).toBeNull();
    expect(byKey.get('"big"')?.value.note).toMatch(/too large.*look its key up/);
    expect(byKey.get('"big"')?.bytes).toBeGreaterThan(300_000);
  });

  it("looks a key up, given as tagged JSON", async () => {
    const pid = (await people.hydrate()).objectId;
    const alice = await ok<{ found: boolean; value: Shown; version: string; expiresAt: string }>(tc, `entry?dict=${pid}&key=${encodeURIComponent('"alice"')}`);
    expect(alice.found).toBe(true);
    expect(alice.value.type).toBe("object");
    expect(JSON.parse(alice.value.json ?? "")).toMatchObject({ name: "Alice", born: { $date: "1990-02-03T00:00:00.000Z" } });
    expect(new Date(alice.expiresAt).getTime()).toBeGreaterThan(Date.now());
    expect((await ok<{ found: boolean; value: Shown }>(tc, `entry?dict=${pid}&key=42`)).value.type).toBe("Map(1)");
    const big = await ok<{ found: boolean; value: Shown; bytes: number }>(tc, `entry?dict=${pid}&key=${encodeURIComponent('"big"')}`);
    expect(big.value.truncated).toBe(true);
    expect(big.value.json?.length).toBe(256 * 1024);
    expect(await ok(tc, `entry?dict=${pid}&key=${encodeURIComponent('"nobody"')}`)).toMatchObject({ found: false });
  });

  it("shows the hot keys", async () => {
    const pid = (await people.hydrate()).objectId;
    const d = Dict.fromId(pid, { client: await tc.client() });
    for (let i = 0; i < 20; i++) await d.get("alice");
    const hot = await ok<{ accessed: { key: Shown; count: number }[]; largest: { key: Shown; bytes: number }[]; unreachable: string[] }>(tc, `hot?dict=${pid}&limit=5`);
    expect(hot.unreachable).toEqual([]);
    expect(hot.accessed[0]?.key.json).toBe('"alice"');
    expect(hot.largest[0]?.key.json).toBe('"big"');
  });

  it("answers bad input with 400 or 404 and a message, and keeps serving", async () => {
    const pid = (await people.hydrate()).objectId;
    const cases: [string, number, RegExp][] = [
      ["entries?dict=not%20an%20id", 400, /bad dict id/],
      ["entries", 400, /bad dict id/],
      ["entries?dict=di-nosuchdictnosuchdict", 404, /no dict has id/],
      [`entries?dict=${pid}&page=garbage!`, 400, /bad page token/],
      [`entries?dict=${pid}&page=${Buffer.from("[9999,null,null]").toString("base64url")}`, 400, /no such partition/],
      [`entries?dict=${pid}&limit=0`, 400, /limit/],
      [`entries?dict=${pid}&limit=101`, 400, /limit/],
      [`entries?dict=${pid}&limit=abc`, 400, /limit/],
      [`entry?dict=${pid}`, 400, /"key" is required/],
      [`entry?dict=${pid}&key=alice`, 400, /not JSON/],
      [`entry?dict=${pid}&key=${encodeURIComponent('{"$map":[]}')}`, 400, /key/],
      [`hot?dict=${pid}&limit=65`, 400, /limit/],
      ["dicts?env=no%20spaces", 400, /environment/],
      ["dicts?before=soon", 400, /before/],
      ["status?epoch=x", 400, /epoch/],
      ["load?since=never", 400, /since/],
      ["frobnicate", 404, /no such console request/],
    ];
    for (const [path, status, message] of cases) {
      const r = await api<{ error: string }>(tc, path);
      expect(r.status, path).toBe(status);
      expect(r.body.error, path).toMatch(message);
    }
    expect((await fetch(`${base(tc)}/no/such/page`)).status).toBe(404);
    expect((await fetch(`${base(tc)}/console/nothing.js`)).status).toBe(404);
    const post = await fetch(`${base(tc)}/console/api/status`, { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    expect((await fetch(`${base(tc)}/metrics`)).status).toBe(200);
    // Shards keep answering 426 to plain HTTP.
    expect((await fetch((tc.cluster.urlOf("shard-1") ?? "").replace(/^ws:/, "http:"))).status).toBe(426);
    expect((await ok<{ status: unknown }>(tc, "status")).status).toBeDefined();
  });
});

describe("the console of a cluster with client tokens", () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await startTestCluster({ shards: 1, clientTokens: [TOKEN, { token: SCOPED, dicts: ["pub-*"], ops: ["read"] }] });
  });
  afterAll(async () => {
    await tc?.stop();
  });

  it("serves the page to anyone, and its API only with a client token", async () => {
    expect((await fetch(`${base(tc)}/`)).status).toBe(200);
    expect(await ok(tc, "access")).toEqual({ tokenRequired: true });
    const none = await api<{ error: string }>(tc, "status");
    expect(none.status).toBe(401);
    expect(none.body.error).toMatch(/token is required/);
    const wrong = await api<{ error: string }>(tc, "status", "not-a-known-token");
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatch(/unknown client token/);
    expect((await api(tc, "envs", "console-token-aaab")).status).toBe(401);
    expect((await ok<{ tokenRequired: boolean }>(tc, "status", TOKEN)).tokenRequired).toBe(true);

    const client = await tc.client({ token: TOKEN });
    const d = Dict.fromName("secret", { createIfMissing: true, client });
    await d.put("k", "v");
    const id = (await d.hydrate()).objectId;
    expect((await api(tc, `entries?dict=${id}`)).status).toBe(401);
    const page = await ok<Page>(tc, `entries?dict=${id}`, TOKEN);
    expect(page.entries.map((e) => [e.key.json, e.value.json])).toEqual([['"k"', '"v"']]);
  });

  it("shows a scoped token only the dicts it reaches, and refuses the others' entries (403)", async () => {
    const client = await tc.client({ token: TOKEN });
    const pub = Dict.fromName("pub-1", { createIfMissing: true, client });
    await pub.put("a", 1);
    const secret = await Dict.fromName("secret", { createIfMissing: true, client }).hydrate();
    const listed = await ok<{ dicts: { name: string }[] }>(tc, "dicts?env=main", SCOPED);
    expect(listed.dicts.map((d) => d.name)).toEqual(["pub-1"]);
    const refused = await api<{ error: string }>(tc, `entries?dict=${secret.objectId}`, SCOPED);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatch(/dict "secret"/);
    const page = await ok<Page>(tc, `entries?dict=${(await pub.hydrate()).objectId}`, SCOPED);
    expect(page.entries).toHaveLength(1);
  });
});

describe("a cluster with the console off", () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await startTestCluster({ shards: 1, console: false });
  });
  afterAll(async () => {
    await tc?.stop();
  });

  it("answers / as before: 426, WebSocket only (and /metrics still)", async () => {
    for (const path of ["/", "/console/api/status", "/console/console.js"]) {
      const res = await fetch(`${base(tc)}${path}`);
      expect(res.status, path).toBe(426);
      expect(await res.text()).toMatch(/WebSocket/);
    }
    expect((await fetch(`${base(tc)}/metrics`)).status).toBe(200);
  });
});

/** A GET whose body is not unpacked (fetch would). */
function rawGet(tc: TestCluster, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const url = new URL(`${base(tc)}${path}`);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
