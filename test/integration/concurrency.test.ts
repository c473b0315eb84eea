/** Concurrent callers: put-if-absent has one winner; iteration returns each key once. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, type Client } from "../../src/index.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";

let tc: TestCluster;
let clients: Client[];

beforeAll(async () => {
  tc = await startTestCluster();
  clients = await Promise.all(Array.from({ length: 5 }, () => tc.client()));
});
afterAll(async () => {
  await tc?.stop();
});

describe("concurrency", () => {
  it("skipIfExists under 50 concurrent callers: exactly one wins, and its value stays", async () => {
    const name = "lock-table";
    await Dict.objects.create(name, { client: clients[0] as Client });
    for (let round = 0; round < 10; round++) {
      const key = `lock-${round}`;
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          const c = clients[i % clients.length] as Client;
          return Dict.fromName(name, { client: c }).put(key, { owner: i }, { skipIfExists: true }).then((won) => ({ i, won }));
        }),
      );
      const winners = results.filter((r) => r.won);
      expect(winners).toHaveLength(1);
      const stored = (await Dict.fromName(name, { client: clients[0] as Client }).get(key)) as { owner: number };
      expect(stored.owner).toBe(winners[0]?.i);
    }
  });

  it("10,000 entries are iterated exactly once, also while other keys change", async () => {
    const c = clients[0] as Client;
    const d = Dict.fromName("ten-thousand", { createIfMissing: true, client: c });
    const stable = Array.from({ length: 10_000 }, (_, i) => `stable-${i}`);
    for (let i = 0; i < stable.length; i += 1000) {
      await d.update(Object.fromEntries(stable.slice(i, i + 1000).map((k, j) => [k, i + j])));
    }
    expect(await d.len()).toBe(10_000);
    let churn = 0;
    let stop = false;
    const writer = (async () => {
      const w = Dict.fromName("ten-thousand", { client: clients[1] as Client });
      while (!stop) {
        await w.put(`churn-${churn % 500}`, churn);
        if (churn % 3 === 0) await w.pop(`churn-${(churn + 250) % 500}`, null);
        churn++;
      }
    })();
    const seen = new Map<string, number>();
    for await (const k of d.keys()) {
      if (typeof k === "string" && k.startsWith("stable-")) seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    stop = true;
    await writer;
    expect(seen.size).toBe(10_000);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
    expect(churn).toBeGreaterThan(0);
    let items = 0;
    for await (const [k, v] of d.items()) if (typeof k === "string" && k.startsWith("stable-")) {
      expect(v).toBe(Number(k.slice(7)));
      items++;
    }
    expect(items).toBe(10_000);
  });
});
