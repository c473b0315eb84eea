/**
 * Retries are safe: a shard answers a repeated put-if-absent / pop / delete (same client id
 * and request id) with its first answer, also after a crash; a request whose outcome cannot
 * be known rejects with IndeterminateError.
 */
import { describe, expect, it } from "vitest";
import { Dict, IndeterminateError, connect } from "../../src/index.js";
import { clientOf, type ClusterClient } from "../../src/client/client.js";
import { encodeKey } from "../../src/protocol/keys.js";
import { encodeValue } from "../../src/client/value-codec.js";
import { RawPeer } from "../helpers/raw-peer.js";
import { useTestCluster, type TestCluster } from "../helpers/test-cluster.js";
import { keysLedBy, type PlacedKey } from "../helpers/placement.js";
import { waitUntil } from "../helpers/wait.js";

let tc: TestCluster;
let client: ClusterClient;
useTestCluster({}, (t, c) => {
  tc = t;
  client = c;
});

/** A key of the dict whose partition's primary is `shard`, with its partition. */
const keyOn = (dictId: string, shard: string, prefix: string) => keysLedBy(client.table, dictId, shard, 1, prefix)[0] as PlacedKey;

describe("deduplicated retries", () => {
  it("a repeated request id gets the first answer, before and after kill -9 of the shard", async () => {
    const d = await Dict.fromName("dedup", { createIfMissing: true, client }).hydrate();
    const { key, part } = keyOn(d.objectId, "shard-1", "k");
    const kb = Buffer.from(encodeKey(key));
    const value = Buffer.from(await encodeValue("first"));
    const frame = (type: string, rid: number, extra: Record<string, unknown> = {}) => ({ type, rid, dict: d.objectId, part, epoch: client.table.epoch, key: kb, ...extra });
    const open = () => RawPeer.client(tc.cluster.urlOf("shard-1") as string, "retrying-client");
    let p = await open();
    const put = (rid: number) => p.request(frame("put", rid, { value, ifAbsent: true }));
    expect((await put(10)).result).toBe(true);
    expect((await put(10)).result).toBe(true); // the retry: not "already exists"
    expect((await put(11)).result).toBe(false); // a new request does see the key
    const popped = await p.request(frame("pop", 12));
    expect(Buffer.from(popped.result as Uint8Array)).toEqual(value);
    expect(Buffer.from((await p.request(frame("pop", 12))).result as Uint8Array)).toEqual(value);
    expect((await p.request(frame("pop", 13))).result).toBeUndefined();
    expect((await put(14)).result).toBe(true);
    p.close();

    await tc.cluster.kill("shard-1", "SIGKILL");
    await tc.cluster.startShard("shard-1");
    p = await open();
    let probe = 1000;
    await waitUntil(async () => (await p.request(frame("get", probe++))).type === "ok", { what: "the restarted shard to serve" });
    const replay = await put(14);
    expect(replay, JSON.stringify(replay)).toMatchObject({ type: "ok", result: true }); // answered from the stored record
    expect(Buffer.from((await p.request(frame("pop", 12))).result as Uint8Array)).toEqual(value);
    expect((await put(15)).result).toBe(false);
    const del = await p.request(frame("del", 16));
    expect(del.type).toBe("ok");
    expect((await p.request(frame("del", 16))).type).toBe("ok"); // not a KeyError the second time
    expect((await p.request(frame("del", 17))).code).toBe("KEY_ERROR");
    p.close();
  });

  it("a write lost with its shard rejects with IndeterminateError, not a guess", async () => {
    const c = clientOf(await connect({ url: tc.url, retryBudgetMs: 1500 }));
    try {
      const d = await Dict.fromName("indeterminate", { createIfMissing: true, client: c }).hydrate();
      const { key } = keyOn(d.objectId, "shard-3", "x");
      await d.put(`${key}-warm`, 0).catch(() => {}); // may land elsewhere; opens connections
      await d.put(key, "before");
      await tc.cluster.kill("shard-3", "SIGSTOP");
      const pending = [d.put(key, "a", { skipIfExists: true }), d.pop(key, null), d.put(key, "b")].map((p) =>
        p.then(
          () => "resolved",
          (e: unknown) => e,
        ),
      );
      // Let the requests leave (they sit in the stopped process's socket buffer), then crash it.
      await new Promise((r) => setTimeout(r, 100));
      await tc.cluster.kill("shard-3", "SIGKILL");
      const outcomes = await Promise.all(pending);
      for (const o of outcomes) {
        expect(o).toBeInstanceOf(IndeterminateError);
        expect((o as Error).name).toBe("IndeterminateError");
      }
    } finally {
      c.close();
      await tc.cluster.startShard("shard-3");
    }
  });
});
