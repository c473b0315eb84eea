/** Several client processes: sharing by id, ephemeral leases, the default client. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dict, NotFoundError, type Client } from "../../src/index.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { runFixture } from "../helpers/child.js";
import { waitUntil } from "../helpers/wait.js";

let tc: TestCluster;
let client: Client;
const GRACE_MS = 1000;

beforeAll(async () => {
  tc = await startTestCluster({ ephemeralGraceMs: GRACE_MS });
  client = await tc.client();
});
afterAll(async () => {
  await tc?.stop();
});

describe("client processes", () => {
  it("two processes share a dict through fromId, and the default client lets each exit", async () => {
    const writer = runFixture("writer.mjs", ["shared-by-id", "200"], { SHARDICT_URL: tc.url });
    const { id } = (await writer.firstLine) as { id: string };
    const w = await writer.exit;
    expect(w.code).toBe(0);
    const reader = runFixture("reader.mjs", [id, "200"], { SHARDICT_URL: tc.url });
    expect(await reader.firstLine).toEqual({ found: 200, len: 201 });
    expect((await reader.exit).code).toBe(0);
    const d = Dict.fromId(id, { client });
    const fromReader = (await d.get("from-reader")) as { pid: number; self: Dict };
    expect(fromReader.pid).toBe(reader.child.pid);
    expect(fromReader.self.objectId).toBe(id);
    expect(await d.len()).toBe(201);
  });

  it("an ephemeral dict lives while its client heartbeats and is removed after kill -9", async () => {
    const owner = runFixture("ephemeral-owner.mjs", [], { SHARDICT_URL: tc.url });
    const { id } = (await owner.firstLine) as { id: string };
    const d = Dict.fromId(id, { client });
    // Alive for three grace periods while the owner heartbeats: every read succeeds.
    const until = Date.now() + 3 * GRACE_MS;
    while (Date.now() < until) {
      expect(await d.get("alive")).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
    }
    owner.child.kill("SIGKILL");
    expect((await owner.exit).signal).toBe("SIGKILL");
    await waitUntil(async () => (await d.get("alive").then(() => false, (e: unknown) => e instanceof NotFoundError)), {
      timeoutMs: 15_000,
      what: "the ephemeral dict to be collected",
    });
    const listed = await Dict.objects.list({ client });
    expect(listed.map((x) => x.objectId)).not.toContain(id);
  });
});
