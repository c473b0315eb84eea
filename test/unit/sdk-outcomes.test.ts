/**
 * How the SDK's one retry layer (src/client/retry.ts) classifies each outcome, against
 * scripted nodes: an answer is returned or thrown as it is; "moved" / "unavailable" are
 * retried with the same request id; a write's outcome is unknown (IndeterminateError) once
 * any attempt may have taken effect (sent and lost, a node saying so, an internal failure
 * after it arrived), else the budget ends in ConnectionError ("it did not happen").
 */
import { afterEach, describe, expect, it } from "vitest";
import { connect, ConnectionError, Dict, DictError, IndeterminateError, KeyError, type Client } from "../../src/index.js";
import { RetryableError, WireCode } from "../../src/errors.js";
import type { RequestFrame } from "../../src/protocol/frames.js";
import { DROP, STALL, scriptedCluster, type ScriptedCluster } from "../helpers/scripted-cluster.js";

let cluster: ScriptedCluster | undefined;
let client: Client | undefined;
afterEach(async () => {
  client?.close();
  await cluster?.close();
});

const moved = (maybeApplied = false) => new RetryableError(WireCode.WrongOwner, "moved", maybeApplied);

async function run(
  answer: (attempt: number, frame: RequestFrame) => unknown,
  call: (d: Dict, c: Client) => Promise<unknown>,
  coordinatorAnswer?: (frame: RequestFrame) => unknown,
): Promise<unknown> {
  cluster = await scriptedCluster((frame, attempt) => answer(attempt, frame), coordinatorAnswer);
  const c = (client = await connect({ url: cluster.url, retryBudgetMs: 300, requestTimeoutMs: 150 }));
  const d = Dict.fromName("scripted", { client: c });
  return call(d, c).then(
    (v) => ({ value: v }),
    (err: unknown) => err,
  );
}

const put = (d: Dict) => d.put("k", 1);
const get = (d: Dict) => d.get("k");
const rids = () => (cluster?.received ?? []).map((f) => ("rid" in f ? f.rid : undefined));

describe("SDK outcome classes", () => {
  it("moved every time, never applied: ConnectionError (it did not happen), after several attempts with one request id", async () => {
    const out = await run(() => {
      throw moved();
    }, put);
    expect(out).toBeInstanceOf(ConnectionError);
    expect(out).not.toBeInstanceOf(IndeterminateError);
    expect(rids().length).toBeGreaterThan(1);
    expect(new Set(rids()).size).toBe(1);
  });

  it("moved after the node applied it: IndeterminateError, even if later attempts say plain moved", async () => {
    const out = await run((attempt) => {
      throw moved(attempt === 1);
    }, put);
    expect(out).toBeInstanceOf(IndeterminateError);
  });

  it("moved, then answered: the retry's answer, with the same request id", async () => {
    const out = await run((attempt) => {
      if (attempt === 1) throw moved(true);
      return true;
    }, put);
    expect(out).toEqual({ value: true });
    expect(rids()).toHaveLength(2);
    expect(new Set(rids()).size).toBe(1);
  });

  it("a write sent and its connection lost, then no answer within the budget: IndeterminateError", async () => {
    const out = await run(() => DROP, put);
    expect(out).toBeInstanceOf(IndeterminateError);
  });

  it("a write sent and its connection lost, then answered on a new connection: acknowledged once", async () => {
    const out = await run((attempt) => (attempt === 1 ? DROP : true), put);
    expect(out).toEqual({ value: true });
    expect(new Set(rids()).size).toBe(1);
  });

  it("a read whose connection is lost is simply read again; never IndeterminateError", async () => {
    expect(await run((attempt) => (attempt === 1 ? DROP : undefined), get)).toEqual({ value: undefined });
    client?.close();
    await cluster?.close();
    const out = await run(() => DROP, get);
    expect(out).toBeInstanceOf(ConnectionError);
  });

  it("an internal failure on the node: a write's outcome is unknown at once, a read fails plainly", async () => {
    // A plain Error on the node is answered as INTERNAL (and logged there).
    const internal = () => {
      throw new Error("disk on fire");
    };
    expect(await run(internal, put)).toBeInstanceOf(IndeterminateError);
    expect(cluster?.received).toHaveLength(1);
    client?.close();
    await cluster?.close();
    const out = await run(internal, get);
    expect(out).toBeInstanceOf(DictError);
    expect(out).not.toBeInstanceOf(IndeterminateError);
  });

  it("an answer about the data is the answer, not retried (KeyError)", async () => {
    const out = await run(() => {
      throw new KeyError("key not found");
    }, (d) => d.delete("k"));
    expect(out).toBeInstanceOf(KeyError);
    expect(cluster?.received).toHaveLength(1);
  });

  it("a registry write whose connection is lost after sending is surfaced at once (not repeated)", async () => {
    let creates = 0;
    const out = await run(
      () => true,
      (_d, c) => Dict.objects.create("new-one", { client: c }),
      (frame) => {
        if (frame.type !== "dict.create") throw new Error(`unexpected ${frame.type}`);
        creates++;
        return DROP;
      },
    );
    expect(out).toBeInstanceOf(ConnectionError);
    expect(creates).toBe(1);
  });

  it("clear: one shard failing retryably is asked again; with the budget spent, unknown if any shard did it", async () => {
    const out = await run((_attempt, frame) => {
      if (frame.type === "clear") throw moved(true);
      return 0;
    }, (d) => d.clear());
    expect(out).toBeInstanceOf(IndeterminateError);
  });

  it("a node that stalls past the budget: a write's outcome is unknown, a read fails plainly", async () => {
    expect(await run(() => STALL, put)).toBeInstanceOf(IndeterminateError);
    client?.close();
    await cluster?.close();
    const out = await run(() => STALL, get);
    expect(out).toBeInstanceOf(ConnectionError);
    expect(out).not.toBeInstanceOf(IndeterminateError);
  });

  it("a stalled attempt, then an answer on the retry: acknowledged, with the same request id", async () => {
    const out = await run((attempt) => (attempt === 1 ? STALL : true), put);
    expect(out).toEqual({ value: true });
    expect(new Set(rids()).size).toBe(1);
  });
});
