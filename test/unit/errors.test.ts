import { describe, expect, it } from "vitest";
import * as api from "../../src/index.js";
import { afterApply, RetryableError, WireCode, errorFromWire, wireCodeOf } from "../../src/errors.js";

const names = ["KeyError", "NotFoundError", "AlreadyExistsError", "InvalidError", "RequestSizeError", "DeserializationError", "ConnectionError", "AuthError"] as const;

describe("public errors", () => {
  it.each(names)("%s is exported, extends DictError and has a stable name", (name) => {
    const Cls = api[name] as unknown as new (...args: unknown[]) => Error;
    const err = name === "RequestSizeError" ? new Cls("m", 10, 20) : name === "DeserializationError" ? new Cls("m", "d", "k") : new Cls("m");
    expect(err).toBeInstanceOf(api.DictError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(name);
  });

  it("RequestSizeError carries limit and size; DeserializationError the dict and key", () => {
    const e = new api.RequestSizeError("too big", 100, 150);
    expect([e.limit, e.size]).toEqual([100, 150]);
    const d = new api.DeserializationError("bad", "my-dict", { k: 1 });
    expect(d.dict).toBe("my-dict");
    expect(d.key).toEqual({ k: 1 });
  });

  it("wire codes map both ways", () => {
    for (const err of [new api.KeyError("m"), new api.NotFoundError("m"), new api.AlreadyExistsError("m"), new api.InvalidError("m"), new api.AuthError("m")]) {
      expect(errorFromWire(wireCodeOf(err), "m").name).toBe(err.name);
    }
    const size = errorFromWire(WireCode.RequestSize, "m", { limit: 5, size: 9 }) as api.RequestSizeError;
    expect(size).toBeInstanceOf(api.RequestSizeError);
    expect([size.limit, size.size]).toEqual([5, 9]);
    expect(wireCodeOf(new Error("x"))).toBe(WireCode.Internal);
    expect(errorFromWire("SOMETHING_NEW", "m")).toBeInstanceOf(api.DictError);
  });

  it("a retryable failure after the node applied the request stays marked on the wire", () => {
    const moved = new RetryableError(WireCode.WrongOwner, "stopped leading");
    const marked = afterApply(moved) as RetryableError;
    expect(marked.maybeApplied).toBe(true);
    expect(marked.code).toBe(WireCode.WrongOwner);
    expect(afterApply(marked)).toBe(marked);
    const other = new Error("x");
    expect(afterApply(other)).toBe(other);
    expect((errorFromWire(WireCode.WrongOwner, "m", { maybeApplied: true }) as RetryableError).maybeApplied).toBe(true);
    expect((errorFromWire(WireCode.Unavailable, "m") as RetryableError).maybeApplied).toBe(false);
  });
});
