/**
 * Scoped client tokens (README, "Security"): `clientTokens` entries `{ token, env?, dicts?,
 * ops }` against a real cluster. Every refusal is an `AuthError` naming what was refused,
 * and changes nothing; the shards check too, so a client that skips the coordinator (raw
 * frames straight to a shard, or a handle found inside a value) is refused all the same.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AuthError, connect, Dict, NotFoundError, type Client } from "../../src/index.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { partitionOf } from "../../src/hashing/hash.js";
import { RawPeer } from "../helpers/raw-peer.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { cleanEnv, runCli } from "../helpers/cli.js";

const FULL = "full-token-aaaaaaaa";
const READ_ONLY = "read-only-token-bbbb";
const JOBS = "jobs-writer-token-cccc";
const JOBS_ADMIN = "jobs-admin-token-dddd";
const STAGING = "staging-token-eeee";
const SCRATCH = "scratch-token-ffff";
const ADMIN_ONLY = "admin-only-token-gggg";

let tc: TestCluster;
const clients: Client[] = [];
const raws: RawPeer[] = [];
let full: Client;
let rid = 0;

async function as(token: string): Promise<Client> {
  const c = await connect({ url: tc.url, token });
  clients.push(c);
  return c;
}

/** The rejection of `p`, which must be an AuthError. */
async function refused(p: Promise<unknown>): Promise<AuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the request went through but should have been refused").toBeInstanceOf(AuthError);
  return err as AuthError;
}

beforeAll(async () => {
  delete process.env.SHARDICT_TOKEN;
  delete process.env.SHARDICT_URL;
  tc = await startTestCluster({
    shards: 2,
    clusterSecret: "scoped-tokens-cluster-secret",
    clientTokens: [
      FULL,
      { token: READ_ONLY, ops: ["read"] },
      { token: JOBS, dicts: ["jobs-*", "shared"], ops: ["read", "write"] },
      { token: JOBS_ADMIN, env: "main", dicts: ["jobs-*"], ops: ["read", "write", "admin"] },
      { token: STAGING, env: "staging", ops: ["read", "write", "admin"] },
      { token: SCRATCH, dicts: [], ops: ["read", "write"] },
      { token: ADMIN_ONLY, ops: ["admin"] },
    ],
  });
  full = await as(FULL);
  for (const name of ["jobs-a", "shared", "secret"]) await Dict.objects.create(name, { client: full });
  await Dict.objects.create("other", { client: full, environmentName: "staging" });
  await Dict.fromName("jobs-a", { client: full }).put("k", "v0");
  await Dict.fromName("secret", { client: full }).put("k", "classified");
});

afterAll(async () => {
  for (const p of raws) if (p.ws.readyState === WebSocket.OPEN) p.close();
  for (const c of clients) c.close();
  await tc?.stop();
});

/** A raw connection to a node, with a token, introduced by a hello. */
async function rawAs(node: string, token: string, clientId = `raw-${++rid}`): Promise<RawPeer> {
  const url = node === "coordinator" ? tc.url : tc.cluster.urlOf(node);
  if (url === undefined) throw new Error(`no url for ${node}`);
  const p = await RawPeer.open(url, { authorization: `Bearer ${token}` });
  raws.push(p);
  const hello = await p.request({ type: "hello", rid: ++rid, v: 1, clientId });
  expect(hello.type).toBe("ok");
  return p;
}

/** Where a key of a dict lives: the partition, its primary, and the table's epoch. */
async function placement(dict: string, key: string): Promise<{ part: number; primary: string; epoch: number; key: Uint8Array }> {
  const c = await tc.client({ token: FULL });
  await c.ready();
  const kb = encodeKey(key);
  const part = partitionOf(dict, kb, c.table.partitions);
  const primary = c.table.primaryOf(part);
  if (primary === undefined) throw new Error(`partition ${part} has no primary`);
  return { part, primary, epoch: c.table.epoch, key: kb };
}

describe("a read-only token", () => {
  it("reads, and every kind of write is refused with AuthError naming the dict and changes nothing", async () => {
    const ro = await as(READ_ONLY);
    const d = Dict.fromName<unknown>("jobs-a", { client: ro });
    expect(await d.get("k")).toBe("v0");
    expect(await d.len()).toBe(1);
    const keys: unknown[] = [];
    for await (const k of d.keys()) keys.push(k);
    expect(keys).toEqual(["k"]);
    const err = await refused(d.put("k", "v1"));
    expect(err.message).toMatch(/may not write dict "jobs-a" in environment "main"/);
    await refused(d.update({ k: "v2", k2: 1 }));
    await refused(d.delete("k"));
    await refused(d.pop("k"));
    await refused(d.clear());
    await refused(d.putEntry("k", "v3", { ifVersion: null }));
    await refused(d.incr("n", 1));
    const f = Dict.fromName<unknown>("jobs-a", { client: full });
    expect(await f.get("k")).toBe("v0");
    expect(await f.len()).toBe(1);
  });

  it("cannot move another client's request floor by naming its id in a hello (that client's writes go on)", async () => {
    for (const token of [FULL, JOBS]) {
      const victim = await tc.client({ token });
      try {
        const d = await Dict.fromName<string>("jobs-a", { client: victim }).hydrate();
        await d.put("floor-victim", "one");
        const at = await placement(d.objectId, "floor-victim");
        // The client id is the victim's; the token is not: the floor it names is its own.
        const p = await rawAs(at.primary, READ_ONLY, victim.clientId);
        expect(await p.request({ type: "done", rid: ++rid, below: 2 ** 50 })).toMatchObject({ type: "ok" });
        await d.put("floor-victim", "two");
        expect(await d.get("floor-victim")).toBe("two");
      } finally {
        victim.close();
      }
    }
  });

  it("cannot create, delete or make an ephemeral dict", async () => {
    const ro = await as(READ_ONLY);
    await refused(Dict.objects.create("jobs-new", { client: ro }));
    await refused(Dict.fromName("jobs-new2", { client: ro, createIfMissing: true }).put("a", 1));
    await refused(Dict.objects.delete("jobs-a", { client: ro }));
    const err = await refused(Dict.ephemeral({ client: ro }));
    expect(err.message).toMatch(/needs "write"/);
    const names = (await Dict.objects.list({ client: full })).map((d) => d.name);
    expect(names).not.toContain("jobs-new");
    expect(names).toContain("jobs-a");
  });
});

describe("a token held to some dicts", () => {
  it("reads and writes its dicts, and cannot touch another (by name, by id, or in a listing)", async () => {
    const jobs = await as(JOBS);
    await Dict.fromName("jobs-a", { client: jobs }).put("w", 1);
    await Dict.fromName("shared", { client: jobs }).put("w", 2);
    const byName = await refused(Dict.fromName("secret", { client: jobs }).get("k"));
    expect(byName.message).toMatch(/dict "secret"/);
    const secretId = await Dict.fromName("secret", { client: full }).hydrate().then((d) => d.objectId);
    await refused(Dict.fromId(secretId, { client: jobs }).get("k"));
    await refused(Dict.fromId(secretId, { client: jobs }).put("k", "overwritten"));
    const listed = (await Dict.objects.list({ client: jobs })).map((d) => d.name).sort();
    expect(listed).toEqual(["jobs-a", "shared"]);
    expect(await Dict.fromName("secret", { client: full }).get("k")).toBe("classified");
  });

  it("is refused by the shard itself when it skips the coordinator (raw frames with another dict's id)", async () => {
    const secretId = await Dict.fromName("secret", { client: full }).hydrate().then((d) => d.objectId);
    const jobsId = await Dict.fromName("jobs-a", { client: full }).hydrate().then((d) => d.objectId);
    const at = await placement(jobsId, "k");
    const p = await rawAs(at.primary, JOBS);
    const get = await p.request({ type: "get", rid: ++rid, dict: secretId, part: at.part, epoch: at.epoch, key: at.key });
    expect(get).toMatchObject({ type: "err", code: "AUTH" });
    expect(String(get.message)).toMatch(/dict "secret"/);
    const put = await p.request({ type: "put", rid: ++rid, dict: secretId, part: at.part, epoch: at.epoch, key: at.key, value: new Uint8Array([0xa1, 0x78]), ifAbsent: false });
    expect(put).toMatchObject({ type: "err", code: "AUTH" });
    const watch = await p.request({ type: "watch", rid: ++rid, dict: secretId, epoch: at.epoch, parts: [{ part: at.part, after: null }], waitMs: 0 });
    expect(watch).toMatchObject({ type: "err", code: "AUTH" });
    const clear = await p.request({ type: "clear", rid: ++rid, dict: secretId, epoch: at.epoch, parts: [at.part], op: ++rid });
    expect(clear).toMatchObject({ type: "err", code: "AUTH" });
    // Its own dict on the same connection is served (control).
    const own = await p.request({ type: "get", rid: ++rid, dict: jobsId, part: at.part, epoch: at.epoch, key: at.key });
    expect(own.type).toBe("ok");
    expect(await Dict.fromName("secret", { client: full }).get("k")).toBe("classified");
  });

  it("cannot create or delete dicts without admin; an admin token can, within its prefix only", async () => {
    const jobs = await as(JOBS);
    const noAdmin = await refused(Dict.objects.create("jobs-b", { client: jobs }));
    expect(noAdmin.message).toMatch(/may not create or delete dict "jobs-b"/);
    await refused(Dict.fromName("jobs-c", { client: jobs, createIfMissing: true }).put("a", 1));
    await refused(Dict.objects.delete("jobs-a", { client: jobs }));
    const admin = await as(JOBS_ADMIN);
    await Dict.objects.create("jobs-b", { client: admin });
    await Dict.fromName("jobs-c", { client: admin, createIfMissing: true }).put("a", 1);
    await Dict.objects.delete("jobs-c", { client: admin });
    await refused(Dict.objects.create("reports", { client: admin }));
    await refused(Dict.objects.delete("secret", { client: admin }));
    const names = (await Dict.objects.list({ client: full })).map((d) => d.name);
    expect(names).toContain("jobs-b");
    expect(names).not.toContain("jobs-c");
    expect(names).not.toContain("reports");
    expect(names).toContain("secret");
  });

  it("an admin-only token creates and deletes but cannot read or write", async () => {
    const a = await as(ADMIN_ONLY);
    await Dict.objects.create("made-by-admin", { client: a });
    await refused(Dict.fromName("made-by-admin", { client: a }).put("x", 1));
    await Dict.objects.delete("made-by-admin", { client: a });
  });
});

describe("a token held to an environment", () => {
  it("reaches only that environment's dicts", async () => {
    const st = await as(STAGING);
    await Dict.fromName("other", { client: st, environmentName: "staging" }).put("s", 1);
    await Dict.objects.create("fresh", { client: st, environmentName: "staging" });
    const err = await refused(Dict.fromName("jobs-a", { client: st }).get("k"));
    expect(err.message).toMatch(/limited to environment "staging"/);
    await refused(Dict.objects.create("fresh", { client: st }));
    await refused(Dict.ephemeral({ client: st }));
    const e = await Dict.ephemeral({ client: st, environmentName: "staging" });
    await e.put("x", 1);
    expect(await e.get("x")).toBe(1);
  });
});

describe("ephemeral dicts", () => {
  it("belong to the client that made them: another client with the same token, another token, or raw frames cannot read them", async () => {
    const mine = await as(SCRATCH);
    const d = await Dict.ephemeral({ client: mine });
    await d.put("k", "private");
    expect(await d.get("k")).toBe("private");
    const id = d.objectId;
    const sameToken = await as(SCRATCH);
    const err = await refused(Dict.fromId(id, { client: sameToken }).get("k"));
    expect(err.message).toMatch(/belongs to another client/);
    await refused(Dict.fromId(id, { client: await as(JOBS) }).get("k"));
    // Straight to the shard, even claiming the owner's client id: the token does not match.
    const at = await placement(id, "k");
    for (const token of [SCRATCH, JOBS]) {
      const p = await rawAs(at.primary, token, `claimed-${token}`);
      const r = await p.request({ type: "get", rid: ++rid, dict: id, part: at.part, epoch: at.epoch, key: at.key });
      expect(r).toMatchObject({ type: "err", code: "AUTH" });
    }
    // A token that may do everything may (control), and the maker still can.
    expect(await Dict.fromId(id, { client: full }).get("k")).toBe("private");
    await d.put("k2", 2);
    expect(await d.len()).toBe(2);
    await d[Symbol.asyncDispose]();
    await expect(Dict.fromId(id, { client: full }).get("k")).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("handles reached through a stored value", () => {
  it("are checked like any other: a dict handle found in a value it may read gives no access to that dict", async () => {
    const secret = await Dict.fromName("secret", { client: full }).hydrate();
    await Dict.fromName("shared", { client: full }).put("pointer", secret);
    const jobs = await as(JOBS);
    const found = await Dict.fromName("shared", { client: jobs }).get("pointer");
    expect(found).toBeInstanceOf(Dict);
    const handle = found as Dict<unknown>;
    await refused(handle.get("k"));
    await refused(handle.put("k", "overwritten"));
    expect(await secret.get("k")).toBe("classified");
  });
});

describe("the CLI", () => {
  it("exits with the auth code and the refusal when a scoped token is refused", async () => {
    const r = await runCli(["dict", "put", "secret", "k", "\"x\"", "--url", tc.url], { env: cleanEnv({ SHARDICT_TOKEN: JOBS }) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/dict "secret"/);
    expect(r.stderr).not.toContain(JOBS);
    const ok = await runCli(["dict", "get", "jobs-a", "k", "--url", tc.url], { env: cleanEnv({ SHARDICT_TOKEN: JOBS }) });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("v0");
  });
});

describe("logs", () => {
  it("never name a token", () => {
    const all = tc.logs.join("\n");
    for (const t of [FULL, READ_ONLY, JOBS, JOBS_ADMIN, STAGING, SCRATCH, ADMIN_ONLY]) expect(all).not.toContain(t);
  });
});
