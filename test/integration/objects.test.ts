/** Dict.objects (create / list / delete) and ephemeral dicts in one process. */
import { describe, expect, it } from "vitest";
import { AlreadyExistsError, Dict, NotFoundError, type Client } from "../../src/index.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";

let tc: TestCluster;
let client: Client;
useTestCluster({}, (t, c) => {
  tc = t;
  client = c;
});

describe("Dict.objects", () => {
  it("create refuses an existing name unless allowExisting", async () => {
    const d = await Dict.objects.create("created", { client });
    expect(d.name).toBe("created");
    expect(d.objectId).toMatch(/^di-/);
    await expect(Dict.objects.create("created", { client })).rejects.toBeInstanceOf(AlreadyExistsError);
    const same = await Dict.objects.create("created", { allowExisting: true, client });
    expect(same.objectId).toBe(d.objectId);
  });

  it("list is newest first, per environment, with maxObjects and createdBefore", async () => {
    const env = "listing";
    const made: Dict[] = [];
    for (const name of ["l1", "l2", "l3", "l4"]) made.push(await Dict.objects.create(name, { environmentName: env, client }));
    await Dict.ephemeral({ environmentName: env, client });
    const all = await Dict.objects.list({ environmentName: env, client });
    expect(all.map((d) => d.name)).toEqual(["l4", "l3", "l2", "l1"]);
    const two = await Dict.objects.list({ environmentName: env, maxObjects: 2, client });
    expect(two.map((d) => d.name)).toEqual(["l4", "l3"]);
    const l3 = await (made[2] as Dict).info();
    const older = await Dict.objects.list({ environmentName: env, createdBefore: l3.createdAt, client });
    expect(older.map((d) => d.name)).toEqual(["l2", "l1"]);
    const olderIso = await Dict.objects.list({ environmentName: env, createdBefore: l3.createdAt.toISOString(), client });
    expect(olderIso.map((d) => d.name)).toEqual(["l2", "l1"]);
    const main = await Dict.objects.list({ client });
    expect(main.map((d) => d.name)).not.toContain("l1");
    // listed handles are live
    await (all[0] as Dict).put("k", "v");
    expect(await Dict.fromName("l4", { environmentName: env, client }).get("k")).toBe("v");
  });

  it("delete removes the dict: old handles fail, a new dict of that name starts empty", async () => {
    const d = Dict.fromName("to-delete", { createIfMissing: true, client });
    await d.update({ a: 1, b: 2 });
    const byId = Dict.fromId(d.objectId, { client });
    await Dict.objects.delete("to-delete", { client });
    await expect(d.get("a")).rejects.toBeInstanceOf(NotFoundError);
    await expect(byId.len()).rejects.toBeInstanceOf(NotFoundError);
    await expect(d.put("c", 3)).rejects.toBeInstanceOf(NotFoundError);
    await expect(d.info()).rejects.toBeInstanceOf(NotFoundError);
    await expect(Dict.objects.delete("to-delete", { client })).rejects.toBeInstanceOf(NotFoundError);
    await Dict.objects.delete("to-delete", { allowMissing: true, client });
    const again = Dict.fromName("to-delete", { createIfMissing: true, client });
    expect(await again.len()).toBe(0);
    expect(await again.get("a")).toBeUndefined();
    await again.hydrate();
    expect(again.objectId).not.toBe(d.objectId);
  });
});

describe("ephemeral dicts", () => {
  it("await using deletes the dict at the end of the scope", async () => {
    let id = "";
    {
      await using d = await Dict.ephemeral({ client });
      id = d.objectId;
      expect(d.name).toBeNull();
      await d.put("k", 1);
      expect(await Dict.fromId(id, { client }).get("k")).toBe(1);
      expect((await d.info()).name).toBeNull();
    }
    await expect(Dict.fromId(id, { client }).get("k")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("withEphemeral returns the callback's result and deletes the dict even on error", async () => {
    let id = "";
    const n = await Dict.withEphemeral(async (d) => {
      id = d.objectId;
      await d.update({ a: 1, b: 2 });
      return d.len();
    }, { client });
    expect(n).toBe(2);
    await expect(Dict.fromId(id, { client }).len()).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      Dict.withEphemeral(async (d) => {
        id = d.objectId;
        throw new Error("boom");
      }, { client }),
    ).rejects.toThrow("boom");
    await expect(Dict.fromId(id, { client }).len()).rejects.toBeInstanceOf(NotFoundError);
  });

  it("ephemeral dicts are never listed", async () => {
    await using d = await Dict.ephemeral({ client });
    const listed = await Dict.objects.list({ client });
    expect(listed.map((x) => x.objectId)).not.toContain(d.objectId);
  });
});
