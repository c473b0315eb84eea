/**
 * clear() and Dict.objects.delete() answer at once and remove the data in the background; a
 * crash in the middle must not bring cleared or deleted entries back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, NotFoundError, connect, type Client } from "../../src/index.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";

let tc: TestCluster;
const clients: Client[] = [];
beforeAll(async () => {
  tc = await startTestCluster();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await tc?.stop();
});

async function client(): Promise<Client> {
  const c = await connect({ url: tc.cluster.coordinatorUrl });
  clients.push(c);
  return c;
}

async function fill(d: Dict, n: number, prefix: string): Promise<void> {
  for (let i = 0; i < n; i += 2000) {
    await d.update(Object.fromEntries(Array.from({ length: Math.min(2000, n - i) }, (_, j) => [`${prefix}${i + j}`, i + j])));
  }
}

describe("clear and delete across a crash", () => {
  it("cleared entries and deleted dicts stay gone after kill -9 of the whole cluster", async () => {
    const c = await client();
    const cleared = Dict.fromName("to-clear", { createIfMissing: true, client: c });
    const deleted = Dict.fromName("to-delete", { createIfMissing: true, client: c });
    const kept = Dict.fromName("to-keep", { createIfMissing: true, client: c });
    await fill(cleared, 30_000, "c");
    await fill(deleted, 10_000, "d");
    await fill(kept, 1_000, "k");
    await deleted.hydrate();
    const deletedId = deleted.objectId;

    await cleared.clear();
    expect(await cleared.len()).toBe(0);
    await cleared.put("after-clear", 1);
    await Dict.objects.delete("to-delete", { client: c });
    // Crash at once: the background purge has barely started.
    await tc.cluster.killAll();
    await tc.cluster.start();

    const c2 = await client();
    const cleared2 = Dict.fromName("to-clear", { client: c2 });
    expect(await cleared2.len()).toBe(1);
    expect(await cleared2.get("after-clear")).toBe(1);
    expect(await cleared2.get("c123")).toBeUndefined();
    await expect(Dict.fromId(deletedId, { client: c2 }).len()).rejects.toBeInstanceOf(NotFoundError);
    const again = Dict.fromName("to-delete", { createIfMissing: true, client: c2 });
    expect(await again.len()).toBe(0);
    expect(await Dict.fromName("to-keep", { client: c2 }).len()).toBe(1_000);
    let n = 0;
    for await (const k of cleared2.keys()) {
      expect(k).toBe("after-clear");
      n++;
    }
    expect(n).toBe(1);
  });
});
