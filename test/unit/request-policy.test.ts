/** Every request the SDK sends has a retry policy, and the at-most-once rule reads as stated. */
import { describe, expect, it } from "vitest";
import { FrameSchemas } from "../../src/protocol/frames.js";
import { mayApply, policyOf } from "../../src/protocol/request-policy.js";
import type { Outgoing } from "../../src/protocol/frames.js";

/** Frames only nodes send to each other or the coordinator pushes: no client retries them. */
const NODE_ONLY = new Set(["ok", "err", "replb", "confirm", "shard.register", "shard.table", "shard.dictAdded", "shard.dictRemoved", "shard.replicaFailed", "shard.caughtUp", "shard.handedOff", "shard.leave", "cluster.removeShard"]);

describe("request policies", () => {
  it("cover every request type a client can send", () => {
    for (const type of Object.keys(FrameSchemas)) {
      if (NODE_ONLY.has(type)) continue;
      const frame = { type, createIfMissing: false } as unknown as Outgoing;
      expect(() => policyOf(frame), type).not.toThrow();
    }
  });

  it("a lookup that may create is a registry write; writes answered once may have happened when lost", () => {
    expect(policyOf({ type: "dict.lookup", name: "n", env: "main", createIfMissing: true })).toBe("unsafe");
    expect(policyOf({ type: "dict.lookup", name: "n", env: "main", createIfMissing: false })).toBe("read");
    expect(mayApply(policyOf({ type: "put", dict: "d", part: 0, epoch: 1, key: new Uint8Array(1), value: new Uint8Array(1), ifAbsent: false }))).toBe(true);
    expect(mayApply("read")).toBe(false);
    expect(mayApply("unsafe")).toBe(false);
  });
});
