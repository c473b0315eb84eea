/**
 * Tagged JSON (src/cli/tagged-json.ts): every value a Dict stores and every key goes to JSON
 * and back exactly (types, key order, own `__proto__` keys, cycles and shared references),
 * the SDK stores what comes back exactly as it stores the original, and malformed tags are
 * refused with an InvalidError naming where they are.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fromTagged, toTagged, type Json } from "../../src/cli/tagged-json.js";
// Importing dict.ts registers the Dict handle extension, as in any SDK.
import { Dict } from "../../src/client/dict.js";
import { decodeValue, encodeValueNow, HANDLE_ID } from "../../src/client/value-codec.js";
import { decodeKey, encodeKey, type DictKey } from "../../src/protocol/keys.js";
import { InvalidError } from "../../src/errors.js";
import { FUZZ_TIMEOUT_MS, fuzzParams } from "../helpers/fuzz.js";
import { dump } from "../helpers/value-dump.js";

const dict = (id: string): unknown => Dict.fromId(id);
/** What the CLI does: tag, print, parse, untag. */
const viaJson = (v: unknown): unknown => fromTagged(JSON.parse(JSON.stringify(toTagged(v))) as Json, dict);
/** The SDK's view of a value: what a reader gets back. */
const stored = (v: unknown): unknown => decodeValue(encodeValueNow(v) as Uint8Array, undefined, "d", "k");


/** An own enumerable property, `__proto__` included. */
function defineOwn(o: object, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function objectOf(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) defineOwn(o, k, v);
  return o;
}

function expectRoundTrip(v: unknown): unknown {
  const out = viaJson(v);
  expect(dump(out)).toBe(dump(v));
  // The tagged form is canonical: tagging what came back gives the same JSON.
  expect(JSON.stringify(toTagged(out))).toBe(JSON.stringify(toTagged(v)));
  return out;
}

describe("tagged JSON: the forms", () => {
  it("leaves JSON-native values as they are", () => {
    const v = { a: [1, -2.5, "x", null, true, false, { b: "" }], "": {}, "0": [], "a b": "$not-a-tag" };
    expect(toTagged(v)).toEqual(v);
    expect(JSON.stringify(toTagged(v))).toBe(JSON.stringify(v));
    expect(fromTagged(v)).toEqual(v);
  });

  it("writes every other type as the documented one-key tag", () => {
    const cases: [unknown, Json][] = [
      [undefined, { $undefined: true }],
      [Number.NaN, { $number: "NaN" }],
      [Number.POSITIVE_INFINITY, { $number: "Infinity" }],
      [Number.NEGATIVE_INFINITY, { $number: "-Infinity" }],
      [-0, { $number: "-0" }],
      [123n, { $bigint: "123" }],
      [-(2n ** 100n), { $bigint: "-1267650600228229401496703205376" }],
      [new Date("2026-01-02T03:04:05.678Z"), { $date: "2026-01-02T03:04:05.678Z" }],
      [new Date(Number.NaN), { $date: "Invalid Date" }],
      [new Map<unknown, unknown>([["a", 1], [2n, [true]]]), { $map: [["a", 1], [{ $bigint: "2" }, [true]]] }],
      [new Set([1, "x"]), { $set: [1, "x"] }],
      [new Uint8Array([1, 2, 3]), { $bytes: "AQID" }],
      [Buffer.from([1, 2, 3]), { $buffer: "AQID" }],
      [new Float64Array([1.5]), { $typed: ["Float64Array", "AAAAAAAA+D8="] }],
      [new Int16Array([-2]), { $typed: ["Int16Array", "/v8="] }],
      [new DataView(new Uint8Array([9]).buffer), { $typed: ["DataView", "CQ=="] }],
      [new Uint8Array([7, 8]).buffer, { $typed: ["ArrayBuffer", "Bwg="] }],
      [/a+b/gi, { $regexp: "/a+b/gi" }],
      [new TypeError("boom"), { $error: { name: "TypeError", message: "boom" } }],
      [new Error("outer", { cause: 1n }), { $error: { name: "Error", message: "outer", cause: { $bigint: "1" } } }],
      [new AggregateError([new RangeError("r")], "all"), { $error: { name: "AggregateError", message: "all", errors: [{ $error: { name: "RangeError", message: "r" } }] } }],
      [Dict.fromId("di-abc123"), { $dict: "di-abc123" }],
      [{ $date: "x", a: 1 }, { $object: { $date: "x", a: 1 } }],
      [[undefined, 1], [{ $undefined: true }, 1]],
    ];
    for (const [v, json] of cases) {
      expect(toTagged(v), dump(v)).toEqual(json);
      expect(dump(fromTagged(json, dict)), JSON.stringify(json)).toBe(dump(v));
    }
  });

  it("gives ids only to objects met more than once, in document order", () => {
    const shared = { n: 1 };
    const d = new Date(0);
    const v = { a: [shared, d], b: shared, c: d, once: { n: 2 } };
    expect(toTagged(v)).toEqual({
      a: [{ $id: 1, $value: { n: 1 } }, { $id: 2, $value: { $date: "1970-01-01T00:00:00.000Z" } }],
      b: { $ref: 1 },
      c: { $ref: 2 },
      once: { n: 2 },
    });
    const self: Record<string, unknown> = { x: 1 };
    self.self = self;
    expect(toTagged(self)).toEqual({ $id: 1, $value: { x: 1, self: { $ref: 1 } } });
  });
});

describe("tagged JSON: round trips", () => {
  it("numbers, strings, bigints, dates and undefined", () => {
    const values = [null, true, false, 0, -0, 1.5, -1e-300, 5e-324, 2 ** 60, Number.MAX_VALUE, Number.NaN, Infinity, -Infinity];
    const more = ["", "x", "$date", "a\u0000b", "é😀", "\ud800 lone \udc00", 0n, -1n, 2n ** 64n, -(2n ** 200n), undefined];
    const dates = [new Date(0), new Date(-1), new Date(8.64e15), new Date(-8.64e15), new Date(1767323045678), new Date(Number.NaN)];
    for (const v of [...values, ...more, ...dates]) expectRoundTrip(v);
    expect(Object.is(viaJson(-0), -0)).toBe(true);
    expect(viaJson([undefined, { a: undefined }])).toEqual([undefined, { a: undefined }]);
  });

  it("containers, empty and nested, and array holes (as the SDK reads them: undefined)", () => {
    const values: unknown[] = [[], {}, new Map(), new Set(), [[[]]], { a: { b: { c: [1, { d: new Map([[new Map([[1, 2]]), new Set([new Set()])]]) }] } } }];
    values.push(new Map<unknown, unknown>([[{ k: 1 }, "object key"], [[1, 2], "array key"], [NaN, "nan"], [undefined, null], [new Date(5), 1n]]));
    values.push(new Set<unknown>([1, "1", 1n, null, undefined, [1], { a: 1 }, NaN]));
    for (const v of values) expectRoundTrip(v);
    const holes = viaJson([1, , 3]) as unknown[];
    expect(1 in holes).toBe(true);
    expect(holes).toEqual([1, undefined, 3]);
  });

  it("byte arrays: Uint8Array and Buffer stay apart (as through the SDK), every typed array, views of larger buffers", () => {
    const big = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    const values: unknown[] = [
      new Uint8Array(0),
      Buffer.alloc(0),
      new Uint8Array([0, 255, 128]),
      Buffer.from("héllo"),
      big.subarray(3, 7),
      Buffer.from(big.buffer, 5, 3),
      new Int8Array([-128, 127]),
      new Uint8ClampedArray([0, 255]),
      new Int16Array([-32768, 32767]),
      new Uint16Array([65535]),
      new Int32Array([-(2 ** 31)]),
      new Uint32Array([2 ** 32 - 1]),
      new Float32Array([Math.fround(1.1), -0, NaN, Infinity]),
      new Float64Array([Math.PI, -0, NaN, -Infinity]),
      new BigInt64Array([-(2n ** 63n), 1n]),
      new BigUint64Array([2n ** 64n - 1n]),
      new Float64Array(big.buffer.slice(8, 16)),
      new DataView(big.buffer, 1, 5),
      new ArrayBuffer(0),
      big.buffer.slice(2, 9),
    ];
    for (const v of values) expectRoundTrip(v);
    // Through the SDK too, a Buffer comes back a Buffer and a Uint8Array a Uint8Array.
    expect(Buffer.isBuffer(stored(Buffer.from([1])))).toBe(true);
    expect(Buffer.isBuffer(stored(new Uint8Array([1])))).toBe(false);
    expect(Buffer.isBuffer(viaJson(Buffer.from([1])))).toBe(true);
    expect(Buffer.isBuffer(viaJson(new Uint8Array([1])))).toBe(false);
    // NaN payloads survive: the bytes are carried, not the numbers.
    const odd = new Float64Array(new BigUint64Array([0x7ff8_0000_dead_beefn]).buffer);
    expect(Buffer.from((viaJson(odd) as Float64Array).buffer).equals(Buffer.from(odd.buffer))).toBe(true);
  });

  it("RegExps and Errors (name, message, cause, aggregated errors)", () => {
    for (const r of [/a+b/gi, /[\]\/]/u, new RegExp(""), new RegExp("a/b", "y"), /\n$/ms, /(?<x>a)\k<x>/d, new RegExp("[\\p{L}--[a-z]]", "v")]) expectRoundTrip(r);
    const custom = new Error("m");
    custom.name = "CustomError";
    const renamedAggregate = new AggregateError([1], "r");
    renamedAggregate.name = "Renamed";
    const errors = [
      new Error("plain"),
      new Error(""),
      new TypeError("t", { cause: { deep: [1n, new Date(3)] } }),
      new RangeError("r"),
      new SyntaxError("s"),
      new EvalError("e"),
      new ReferenceError("f"),
      new URIError("u"),
      custom,
      new AggregateError([new Error("a"), 2, undefined], "several", { cause: "why" }),
      new AggregateError([], ""),
      renamedAggregate,
    ];
    for (const e of errors) {
      const out = expectRoundTrip(e) as Error;
      expect(out.constructor).toBe(e.constructor);
      expect(Object.getOwnPropertyNames(out)).toContain("message");
    }
  });

  it("plain objects with keys starting with $ are escaped and never read as tags", () => {
    const values = [
      { $date: "2026-01-01T00:00:00.000Z" },
      { $bigint: "1" },
      { $ref: 1 },
      { $id: 1, $value: [] },
      { $object: { $object: {} } },
      { $: 1, $$: 2, "$ x": 3, x$: 4 },
      { a: { $undefined: true }, b: [{ $map: [] }], c: new Map([["$k", { $v: 1 }]]) },
      objectOf([["$nope", 1], ["__proto__", { $x: 2 }]]),
    ];
    for (const v of values) expectRoundTrip(v);
    expect(toTagged({ $ref: 1 })).toEqual({ $object: { $ref: 1 } });
    // A $object needs no $ key inside (it is only written when one is there).
    expect(fromTagged({ $object: { a: 1 } })).toEqual({ a: 1 });
  });

  it("own __proto__ keys stay own keys, never prototypes", () => {
    const parsed = JSON.parse('{"a":1,"__proto__":{"polluted":true},"b":[{"__proto__":null}]}') as Record<string, unknown>;
    const out = expectRoundTrip(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(["a", "__proto__", "b"]);
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toEqual({ polluted: true });
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The tagged JSON itself carries the key (JSON.stringify prints own __proto__ keys).
    expect(JSON.stringify(toTagged(parsed))).toBe('{"a":1,"__proto__":{"polluted":true},"b":[{"__proto__":null}]}');
    // Also inside $object, Maps' values, and Errors' causes.
    expectRoundTrip(new Error("e", { cause: objectOf([["__proto__", 1], ["$a", 2]]) }));
  });

  it("cycles keep their identity", () => {
    const o: Record<string, unknown> = { a: 1 };
    o.self = o;
    const out = expectRoundTrip(o) as Record<string, unknown>;
    expect(out.self).toBe(out);

    const a: unknown[] = [1];
    a.push(a);
    const outA = expectRoundTrip(a) as unknown[];
    expect(outA[1]).toBe(outA);

    const m = new Map<unknown, unknown>();
    m.set(m, m);
    const outM = expectRoundTrip(m) as Map<unknown, unknown>;
    expect(outM.get(outM)).toBe(outM);

    const s = new Set<unknown>();
    s.add(s);
    const outS = expectRoundTrip(s) as Set<unknown>;
    expect(outS.has(outS)).toBe(true);

    const e = new Error("loop");
    e.cause = e;
    const outE = expectRoundTrip(e) as Error;
    expect(outE.cause).toBe(outE);
    const ag = new AggregateError([], "agg");
    (ag.errors as unknown[]).push(ag, { back: ag });
    const outAg = expectRoundTrip(ag) as AggregateError;
    expect(outAg.errors[0]).toBe(outAg);

    // A cycle through several containers of different kinds.
    const inner = { list: [] as unknown[] };
    const outer = { m: new Map([["inner", inner]]) };
    inner.list.push(outer, new Set([outer, inner]));
    const outO = expectRoundTrip(outer) as typeof outer;
    const innerOut = outO.m.get("inner") as typeof inner;
    expect(innerOut.list[0]).toBe(outO);
    expect([...(innerOut.list[1] as Set<unknown>)]).toEqual([outO, innerOut]);
  });

  it("shared references stay shared, of every object kind", () => {
    const kinds: object[] = [{ a: 1 }, [1], new Map(), new Set(), new Date(1), new Uint8Array([1]), Buffer.from([2]), new Float32Array([1]), /x/, new Error("e"), Dict.fromId("di-shared"), new ArrayBuffer(2)];
    for (const k of kinds) {
      const out = expectRoundTrip([k, { again: k }, new Map([[k, k]])]) as [object, { again: object }, Map<object, object>];
      expect(out[1].again).toBe(out[0]);
      expect(out[2].get(out[0])).toBe(out[0]);
    }
    // Equal but distinct objects stay distinct.
    const two = viaJson([{ a: 1 }, { a: 1 }]) as object[];
    expect(two[0]).not.toBe(two[1]);
  });

  it("Dict handles become what the factory makes; without one a $dict is refused", () => {
    const out = viaJson({ d: Dict.fromId("di-x_y-1") }) as { d: Dict };
    expect(out.d).toBeInstanceOf(Dict);
    expect(out.d[HANDLE_ID]).toBe("di-x_y-1");
    const made: string[] = [];
    expect(fromTagged([{ $dict: "di-a" }], (id) => (made.push(id), `handle ${id}`))).toEqual(["handle di-a"]);
    expect(made).toEqual(["di-a"]);
    expect(() => fromTagged({ $dict: "di-a" })).toThrow(/at \.\["\$dict"\]: .*cannot be read here/);
  });

  it("keys: every key type, and the same key bytes afterwards", () => {
    const keys: DictKey[] = ["k", "", "$x", 0, -0, 1.5, NaN, -Infinity, 12n, -(2n ** 80n), true, null, new Uint8Array([1, 2]), ["a", 1, [new Uint8Array(0)]], { b: 1, a: [2n], $c: null }, objectOf([["__proto__", "p"]]) as DictKey];
    for (const k of keys) {
      const out = viaJson(k);
      expect(Buffer.from(encodeKey(out)).equals(Buffer.from(encodeKey(k))), dump(k)).toBe(true);
      // What a listing decodes is tagged and read back to the same key too.
      const listed = decodeKey(encodeKey(k));
      expect(dump(viaJson(listed))).toBe(dump(listed));
    }
    expect(fromTagged({ $bytes: "AQI=" })).toEqual(new Uint8Array([1, 2]));
  });
});

describe("tagged JSON: what the SDK refuses, toTagged refuses", () => {
  it("functions, symbols, weak collections, promises, unresolved Dict handles, with the path", () => {
    const cases: [unknown, RegExp][] = [
      [() => 1, /at \.: a function/],
      [{ a: [1, Symbol("s")] }, /at \.a\[1\]: a symbol/],
      [new Map([["k", new WeakMap()]]), /at \.\["\$map"\]\[0\]\[1\]: a WeakMap/],
      [new Set([Promise.resolve()]), /at \.\["\$set"\]\[0\]: a Promise/],
      [{ $a: new WeakRef({}) }, /at \.\["\$object"\]\["\$a"\]: a WeakRef/],
      [new Error("e", { cause: () => 0 }), /at \.\["\$error"\]\.cause: a function/],
      [{ d: Dict.fromName("named") }, /at \.d: a Dict handle not resolved yet/],
    ];
    for (const [v, message] of cases) {
      expect(() => toTagged(v)).toThrow(InvalidError);
      expect(() => toTagged(v)).toThrow(message);
    }
  });

  it("class instances are stored as their own properties, or their toJSON()", () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
      norm(): number {
        return Math.hypot(this.x, this.y);
      }
    }
    class Money {
      constructor(readonly cents: bigint) {}
      toJSON(): unknown {
        return { cents: this.cents, currency: "EUR" };
      }
    }
    class Plain extends Map<number, number> {}
    const money = new Money(5n);
    const v = { p: new Point(1, 2), m: money, again: money, sub: new Plain([[1, 2]]), nullProto: Object.assign(Object.create(null) as object, { a: 1 }) };
    expect(toTagged(v)).toEqual({ p: { x: 1, y: 2 }, m: { $id: 1, $value: { cents: { $bigint: "5" }, currency: "EUR" } }, again: { $ref: 1 }, sub: {}, nullProto: { a: 1 } });
    expect(dump(stored(viaJson(v)))).toBe(dump(stored(v)));
  });
});

describe("tagged JSON: malformed tags", () => {
  const bad: [Json, string, RegExp][] = [
    [{ $date: 5 }, '.["$date"]', /"\$date" is an ISO 8601 date/],
    [{ $date: "yesterday" }, '.["$date"]', /ISO 8601/],
    [{ $date: "2026-01-02T03:04:05" }, '.["$date"]', /ISO 8601/], // no zone: local time, refused
    [{ a: [{ $bigint: "x" }] }, '.a[0]["$bigint"]', /decimal digits/],
    [{ $bigint: 1 }, '.["$bigint"]', /decimal digits/],
    [{ $nope: 1 }, ".", /unknown tag "\$nope".*\{"\$object"/],
    [{ x: { $date: "2026-01-02", $bigint: "1" } }, ".x", /exactly one key/],
    [{ $date: "2026-01-02", plain: 1 }, ".", /exactly one key/],
    [{ $ref: 99 }, '.["$ref"]', /no object has id 99/],
    [[{ $ref: 1 }, { $id: 1, $value: [] }], '.[0]["$ref"]', /no object has id 1/],
    [{ $ref: "1" }, '.["$ref"]', /no object has id "1"/],
    [{ $id: 1, $value: 5 }, '.["$value"]', /must be an object/],
    [{ $id: 1, $value: { $bigint: "5" } }, '.["$value"]["$bigint"]', /must make an object/],
    [{ $id: 1, $value: { $ref: 1 } }, '.["$value"]', /cannot be another/],
    [{ $id: "a", $value: [] }, '.["$id"]', /non-negative integer/],
    [[{ $id: 1, $value: [] }, { $id: 1, $value: [] }], ".[1]", /defined twice/],
    [{ $undefined: false }, '.["$undefined"]', /always true/],
    [{ $number: "1" }, '.["$number"]', /one of "NaN"/],
    [{ $map: [[1]] }, '.["$map"][0]', /\[key, value\] pair/],
    [{ $map: {} }, '.["$map"]', /array of \[key, value\] pairs/],
    [{ $map: [[1, { $bigint: "z" }]] }, '.["$map"][0][1]["$bigint"]', /decimal digits/],
    [{ $set: 1 }, '.["$set"]', /holds an array/],
    [{ $bytes: "!!" }, '.["$bytes"]', /base64/],
    [{ $bytes: "AQI" }, '.["$bytes"]', /base64/],
    [{ $buffer: 12 }, '.["$buffer"]', /base64/],
    [{ $typed: ["Float64Array", "AAA="] }, '.["$typed"]', /multiple of 8 bytes, not 2/],
    [{ $typed: ["Uint8Array", "AAA="] }, '.["$typed"][0]', /types are ArrayBuffer, DataView, Int8Array/],
    [{ $typed: ["Int8Array", "***"] }, '.["$typed"][1]', /base64/],
    [{ $typed: "Int8Array" }, '.["$typed"]', /\[type, base64\]/],
    [{ $regexp: "a+" }, '.["$regexp"]', /"\/source\/flags"/],
    [{ $regexp: "/(/" }, '.["$regexp"]', /Invalid regular expression/],
    [{ $regexp: "/a/q" }, '.["$regexp"]', /Invalid flags/],
    [{ $error: "boom" }, '.["$error"]', /holds an object/],
    [{ $error: { name: 1 } }, '.["$error"]', /name is a string/],
    [{ $error: { message: "m", stack: "s" } }, '.["$error"]', /not "stack"/],
    [{ $error: { errors: {} } }, '.["$error"]', /"errors" is an array/],
    [{ $error: { cause: { $nope: 1 } } }, '.["$error"].cause', /unknown tag/],
    [{ $dict: "x" }, '.["$dict"]', /invalid Dict id "x"/],
    [{ $object: [1] }, '.["$object"]', /holds an object/],
    [{ $object: { $a: { $b: 1 } } }, '.["$object"]["$a"]', /unknown tag "\$b"/],
    [{ "a b": { $x: 1 } }, '.["a b"]', /unknown tag/],
  ];
  for (const [json, path, message] of bad) {
    it(`${JSON.stringify(json)} is refused at ${path}`, () => {
      let caught: unknown;
      try {
        fromTagged(json, dict);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidError);
      expect((caught as Error).message).toContain(`invalid tagged JSON at ${path}: `);
      expect((caught as Error).message).toMatch(message);
    });
  }

  it("reads ISO dates in their other forms, in UTC", () => {
    expect(dump(fromTagged({ $date: "2026-01-02" }))).toBe(`D${Date.UTC(2026, 0, 2)}`);
    expect(dump(fromTagged({ $date: "2026-01-02T03:04Z" }))).toBe(`D${Date.UTC(2026, 0, 2, 3, 4)}`);
    expect(dump(fromTagged({ $date: "2026-01-02T03:04:05+02:00" }))).toBe(`D${Date.UTC(2026, 0, 2, 1, 4, 5)}`);
    expect(dump(fromTagged({ $date: "+275760-09-13T00:00:00.000Z" }))).toBe("D8640000000000000");
    expect(dump(fromTagged({ $error: {} }))).toBe('E(Error:Error:"":u)');
  });
});

// ---- fuzz ----------------------------------------------------------------------------------

const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("__proto__", "constructor", "$date", "$ref", "$id", "$value", "$object", "$", "$$x", "0", "10"));
const leaf = fc.oneof(
  fc.string({ maxLength: 12, unit: "binary" }),
  fc.double(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 2 ** 53, -(2 ** 64)),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt({ min: -(1n << 200n), max: 1n << 200n }),
  fc.date({ noInvalidDate: false }),
  fc.uint8Array({ maxLength: 6 }),
  fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b)),
  fc.float64Array({ maxLength: 3 }),
  fc.float32Array({ maxLength: 3 }),
  fc.bigInt64Array({ maxLength: 2 }),
  fc.bigUint64Array({ maxLength: 2 }),
  fc.int8Array({ maxLength: 3 }),
  fc.uint8ClampedArray({ maxLength: 3 }),
  fc.int16Array({ maxLength: 3 }),
  fc.uint16Array({ maxLength: 3 }),
  fc.int32Array({ maxLength: 3 }),
  fc.uint32Array({ maxLength: 3 }),
  fc.uint8Array({ maxLength: 6 }).map((b) => b.slice().buffer),
  fc.uint8Array({ maxLength: 6 }).map((b) => new DataView(b.slice().buffer)),
  fc.constantFrom(/a+b/gi, /x/, /[\]\/]/u, /(?:)/),
  fc.constantFrom("di-a", "di-B_c-9").map((id) => Dict.fromId(id)),
);

const tree = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown>; map: Map<unknown, unknown>; set: Set<unknown>; error: Error }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object"), tie("map"), tie("set"), tie("error")),
  array: fc.array(tie("value"), { maxLength: 5 }),
  object: fc.array(fc.tuple(key, tie("value")), { maxLength: 5 }).map(objectOf),
  map: fc.array(fc.tuple(fc.oneof(key, fc.integer(), tie("value")), tie("value")), { maxLength: 4 }).map((e) => new Map(e)),
  set: fc.array(tie("value"), { maxLength: 4 }).map((x) => new Set(x)),
  error: fc
    .tuple(fc.string({ maxLength: 8 }), fc.constantFrom("Error", "TypeError", "RangeError", "Custom", "AggregateError"), fc.option(tie("value"), { nil: undefined }), fc.array(tie("value"), { maxLength: 3 }))
    .map(([message, name, cause, errors]) => {
      const opts = cause === undefined ? undefined : { cause };
      if (name === "AggregateError") return new AggregateError(errors, message, opts);
      if (name === "Custom") return Object.assign(new Error(message, opts), { name });
      return name === "TypeError" ? new TypeError(message, opts) : name === "RangeError" ? new RangeError(message, opts) : new Error(message, opts);
    }),
}));

/** A fresh copy of the generated containers and errors (fast-check may reuse them while shrinking). */
function copyTree(v: unknown, out: object[], memo = new Map<object, unknown>()): unknown {
  if (typeof v !== "object" || v === null) return v;
  const done = memo.get(v);
  if (done !== undefined) return done;
  if (Array.isArray(v)) {
    const a: unknown[] = [];
    memo.set(v, a);
    out.push(a);
    for (const x of v as unknown[]) a.push(copyTree(x, out, memo));
    return a;
  }
  if (v instanceof Map) {
    const m = new Map<unknown, unknown>();
    memo.set(v, m);
    out.push(m);
    for (const [k, x] of v) m.set(copyTree(k, out, memo), copyTree(x, out, memo));
    return m;
  }
  if (v instanceof Set) {
    const s = new Set<unknown>();
    memo.set(v, s);
    out.push(s);
    for (const x of v) s.add(copyTree(x, out, memo));
    return s;
  }
  if (Object.getPrototypeOf(v) === Object.prototype) {
    const o: Record<string, unknown> = {};
    memo.set(v, o);
    out.push(o);
    for (const k of Object.keys(v)) defineOwn(o, k, copyTree((v as Record<string, unknown>)[k], out, memo));
    return o;
  }
  if (v instanceof Error) {
    const e = v instanceof AggregateError ? new AggregateError([], v.message) : new (v.constructor as ErrorConstructor)(v.message);
    if (Object.hasOwn(v, "name")) e.name = v.name;
    memo.set(v, e);
    out.push(e);
    if (v.cause !== undefined) e.cause = copyTree(v.cause, out, memo);
    if (v instanceof AggregateError) for (const x of v.errors as unknown[]) (e as AggregateError).errors.push(copyTree(x, out, memo));
    return e;
  }
  return v; // leaves are never changed
}

/** Values with shared references and cycles: links added from one container to another. */
const knotted = fc.tuple(tree.value, fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 4 })).map(([v, links]) => {
  const containers: object[] = [];
  const root = copyTree(v, containers);
  links.forEach(([from, to], i) => {
    if (containers.length === 0) return;
    const a = containers[from % containers.length] as object;
    const b = containers[to % containers.length] as object;
    if (Array.isArray(a)) a.push(b);
    else if (a instanceof Map) a.set(`link${i}`, b);
    else if (a instanceof Set) a.add(b);
    else if (a instanceof AggregateError) (a.errors as unknown[]).push(b);
    else if (a instanceof Error) a.cause = b;
    else defineOwn(a, `$link${i}`, b);
  });
  return root;
});

describe("tagged JSON: fuzz", () => {
  it(
    "every value round-trips through JSON exactly (identity included), and its tagged form is canonical",
    () => {
      fc.assert(
        fc.property(knotted, (v) => {
          expectRoundTrip(v);
        }),
        fuzzParams(2),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "the SDK stores what comes back from JSON exactly as it stores the original",
    () => {
      fc.assert(
        fc.property(knotted, (v) => {
          const [a, b] = [stored(viaJson(v)), stored(v)];
          expect(dump(a)).toBe(dump(b));
          // …and what the SDK reads back is itself carried exactly.
          expect(dump(viaJson(b))).toBe(dump(b));
        }),
        fuzzParams(2),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
