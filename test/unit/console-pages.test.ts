/**
 * The console's dict browser, the parts without a cluster: continuation tokens (what ours
 * hold comes back; anything else is an InvalidError, never a crash), keys given as tagged
 * JSON, and how values read.
 */
import { describe, expect, it } from "vitest";
import { decodePageToken, encodePageToken, parseKey, show, typeOf } from "../../src/console/dict-pages.js";
import { Dict } from "../../src/client/dict.js";
import { InvalidError } from "../../src/errors.js";

describe("page tokens", () => {
  it("bring back the position they were made from", () => {
    const pos = { part: 17, after: new Uint8Array([0x41, 0, 255, 7]), session: "s-abc" };
    expect(decodePageToken(encodePageToken(pos), 64)).toEqual(pos);
    const start = { part: 3, after: null, session: null };
    expect(decodePageToken(encodePageToken(start), 64)).toEqual(start);
  });

  it("refuse anything else with an InvalidError", () => {
    const bad = [
      "",
      "not base64!",
      Buffer.from("not json").toString("base64url"),
      Buffer.from("{}").toString("base64url"),
      Buffer.from("[1,null]").toString("base64url"),
      Buffer.from('["1",null,null]').toString("base64url"),
      Buffer.from("[-1,null,null]").toString("base64url"),
      Buffer.from("[1.5,null,null]").toString("base64url"),
      encodePageToken({ part: 64, after: null, session: null }), // past the partitions
      Buffer.from('[1,"a b",null]').toString("base64url"),
      Buffer.from("[1,7,null]").toString("base64url"),
      Buffer.from(`[1,null,"${"s".repeat(65)}"]`).toString("base64url"),
      "A".repeat(9000),
    ];
    for (const t of bad) expect(() => decodePageToken(t, 64), t.slice(0, 40)).toThrow(InvalidError);
  });
});

describe("keys as tagged JSON", () => {
  it("read strings, numbers, arrays and tagged keys", () => {
    expect(parseKey('"alice"')).toBe("alice");
    expect(parseKey("42")).toBe(42);
    expect(parseKey('["a",1]')).toEqual(["a", 1]);
    expect(parseKey('{"$bigint":"12345678901234567890"}')).toBe(12345678901234567890n);
  });

  it("refuse what is not JSON or cannot be a key", () => {
    for (const text of ["alice", "{", '{"$dict":"di-abcdefghijklmnopqrstu"}', '{"$bigint":"x"}', '{"$map":[]}', '{"$undefined":true}']) {
      expect(() => parseKey(text), text).toThrow(InvalidError);
    }
  });
});

describe("values as the console shows them", () => {
  it("are tagged JSON with a short type", () => {
    expect(show("hi", 100)).toEqual({ json: '"hi"', type: "string" });
    expect(show(new Date("2026-01-02T03:04:05.678Z"), 100)).toEqual({ json: '{"$date":"2026-01-02T03:04:05.678Z"}', type: "Date" });
    expect(show(12n, 100)).toEqual({ json: '{"$bigint":"12"}', type: "bigint" });
    expect(show(new Map([["a", new Uint8Array([1, 2])]]), 100)).toEqual({ json: '{"$map":[["a",{"$bytes":"AQI="}]]}', type: "Map(1)" });
    expect(typeOf([1, 2])).toBe("Array(2)");
    expect(typeOf(new Set([1]))).toBe("Set(1)");
    expect(typeOf(new Float64Array(2))).toBe("Float64Array(16)");
    expect(typeOf({ a: 1 })).toBe("object");
    expect(typeOf(null)).toBe("null");
    expect(typeOf(undefined)).toBe("undefined");
    expect(typeOf(Dict.fromId("di-abcdefghijklmnopqrstu"))).toBe("Dict");
  });

  it("are cut at the limit, saying so", () => {
    const s = show("x".repeat(50), 10);
    expect(s).toEqual({ json: `"${"x".repeat(9)}`, type: "string", truncated: true });
  });

  it("show cycles and what a Dict handle is", () => {
    const a: { self?: unknown } = {};
    a.self = a;
    expect(show(a, 1000).json).toBe('{"$id":1,"$value":{"self":{"$ref":1}}}');
    expect(show(Dict.fromId("di-abcdefghijklmnopqrstu"), 1000)).toEqual({ json: '{"$dict":"di-abcdefghijklmnopqrstu"}', type: "Dict" });
  });
});
