/**
 * Retries are safe: a shard answers a repeated put-if-absent / pop / delete / compare-and-set / incr (same client id
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

  it("a repeated compare-and-set, conditional delete or incr gets its first answer, before and after kill -9", async () => {
    const d = await Dict.fromName("dedup-versioned", { createIfMissing: true, client }).hydrate();
    const { key, part } = keyOn(d.objectId, "shard-2", "v");
    const { key: counter, part: counterPart } = keyOn(d.objectId, "shard-2", "c");
    const kb = Buffer.from(encodeKey(key));
    const cb = Buffer.from(encodeKey(counter));
    const frame = (type: string, rid: number, k: Buffer, extra: Record<string, unknown>) => ({ type, rid, dict: d.objectId, part: k === cb ? counterPart : part, epoch: client.table.epoch, key: k, ...extra });
    const one = Buffer.from(await encodeValue(1));
    const open = () => RawPeer.client(tc.cluster.urlOf("shard-2") as string, "retrying-versioned");
    let p = await open();
    const first = await p.request(frame("putEntry", 20, kb, { value: Buffer.from(await encodeValue("a")), ifAbsent: false, ifVersion: null }));
    const { ver } = first.result as { ok: boolean; ver: number };
    expect(first.result).toEqual({ ok: true, ver });
    // The retry of a compare-and-set that took effect is not a conflict.
    expect((await p.request(frame("putEntry", 20, kb, { value: Buffer.from(await encodeValue("a")), ifAbsent: false, ifVersion: null }))).result).toEqual({ ok: true, ver });
    const b = Buffer.from(await encodeValue("b"));
    const cas = (rid: number) => p.request(frame("putEntry", rid, kb, { value: b, ifAbsent: false, ifVersion: ver }));
    const won = (await cas(21)).result as { ok: boolean; ver: number };
    expect(won.ok).toBe(true);
    expect((await cas(21)).result).toEqual(won);
    expect((await cas(22)).result).toEqual({ ok: false, ver: won.ver });
    const incr = (rid: number) => p.request(frame("incr", rid, cb, { delta: one }));
    const counted = async (rid: number) => Buffer.from((await incr(rid)).result as Uint8Array);
    expect(await counted(30)).toEqual(Buffer.from(await encodeValue(1)));
    expect(await counted(30)).toEqual(Buffer.from(await encodeValue(1))); // not 2
    expect(await counted(31)).toEqual(Buffer.from(await encodeValue(2)));
    p.close();

    await tc.cluster.kill("shard-2", "SIGKILL");
    await tc.cluster.startShard("shard-2");
    p = await open();
    let probe = 2000;
    await waitUntil(async () => (await p.request(frame("getEntry", probe++, kb, {}))).type === "ok", { what: "the restarted shard to serve" });
    expect((await cas(21)).result).toEqual(won);
    expect(await counted(31)).toEqual(Buffer.from(await encodeValue(2)));
    expect(await counted(32)).toEqual(Buffer.from(await encodeValue(3)));
    const del = (rid: number) => p.request(frame("delEntry", rid, kb, { ifVersion: won.ver }));
    expect((await del(40)).result).toBe(true);
    expect((await del(40)).result).toBe(true); // the retry: not "absent"
    expect((await del(41)).result).toBe(false);
    p.close();
    expect(await d.get(counter)).toBe(3);
    expect(await d.contains(key)).toBe(false);
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
