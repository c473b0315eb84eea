/**
 * How the SDK reports a write whose retries run out, against scripted nodes: "not applied"
 * (ConnectionError) only when every failure said so; "unknown" (IndeterminateError) once any
 * attempt may have taken effect, e.g. a deposed primary that had applied it before it found
 * out it no longer leads.
 */
import { afterEach, describe, expect, it } from "vitest";
import { connect, ConnectionError, Dict, IndeterminateError, type Client } from "../../src/index.js";
import { RetryableError, WireCode } from "../../src/errors.js";
import { scriptedCluster, type ScriptedCluster } from "../helpers/scripted-cluster.js";

let cluster: ScriptedCluster | undefined;
let client: Client | undefined;
afterEach(async () => {
  client?.close();
  await cluster?.close();
});

async function putWith(answer: (attempt: number) => unknown): Promise<unknown> {
  cluster = await scriptedCluster((_frame, attempt) => answer(attempt));
  client = await connect({ url: cluster.url, retryBudgetMs: 300 });
  const d = Dict.fromName("scripted", { client });
  return d.put("k", 1).then(
    () => "acked",
    (err: unknown) => err,
  );
}

describe("SDK outcome of a write that keeps failing", () => {
  it("moved every time, never applied: ConnectionError (it did not happen)", async () => {
    const out = await putWith(() => {
      throw new RetryableError(WireCode.WrongOwner, "moved");
    });
    expect(out).toBeInstanceOf(ConnectionError);
    expect(out).not.toBeInstanceOf(IndeterminateError);
    expect(cluster?.received.length).toBeGreaterThan(1);
  });

  it("moved after the node applied it: IndeterminateError, even if later attempts say plain moved", async () => {
    const out = await putWith((attempt) => {
      throw new RetryableError(WireCode.WrongOwner, "stopped leading while replicating", attempt === 1);
    });
    expect(out).toBeInstanceOf(IndeterminateError);
  });

  it("a retry that gets through is acknowledged once", async () => {
    const out = await putWith((attempt) => {
      if (attempt === 1) throw new RetryableError(WireCode.WrongOwner, "stopped leading while replicating", true);
      return true;
    });
    expect(out).toBe("acked");
    // The retry reused the request id, so a node that kept the first answer returns it.
    const [first, second] = cluster?.received ?? [];
    expect(first && "rid" in first && second && "rid" in second && first.rid === second.rid).toBe(true);
  });
});
