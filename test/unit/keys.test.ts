import { describe, expect, it } from "vitest";
import { decodeKey, encodeKey, encodeKeyWithWriter, isCanonicalKey, type DictKey } from "../../src/protocol/keys.js";
import { InvalidError } from "../../src/errors.js";
import { mulberry32 } from "../helpers/prng.js";


const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ""), "hex"));

/** Nest `leaf` inside `depth` single-element arrays. */
function nestArrays(depth: number, leaf: DictKey): DictKey {
  let v: DictKey = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Nest `leaf` inside `depth` single-property objects. */
function nestObjects(depth: number, leaf: DictKey): DictKey {
  let v: DictKey = leaf;
  for (let i = 0; i < depth; i++) v = { x: v };
  return v;
}

function expectInvalid(fn: () => unknown): InvalidError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InvalidError);
  expect((caught as Error).name).toBe("InvalidError");
  return caught as InvalidError;
}

function roundTrip(key: DictKey): DictKey {
  const enc = encodeKey(key);
  expect(isCanonicalKey(enc)).toBe(true);
  const dec = decodeKey(enc);
  // Decoding then encoding again gives the very same bytes.
  expect(hex(encodeKey(dec))).toBe(hex(enc));
  return dec;
}

describe("encodeKey: one encoding per key", () => {
  it("encodes objects independently of property insertion order", () => {
    expect(hex(encodeKey({ a: 1, b: 2 }))).toBe(hex(encodeKey({ b: 2, a: 1 })));
    expect(hex(encodeKey({ z: { y: [1, { q: 1, p: 2 }], x: "s" }, a: null }))).toBe(
      hex(encodeKey({ a: null, z: { x: "s", y: [1, { p: 2, q: 1 }] } })),
    );
    // A null-prototype object is a plain object too.
    const bare = Object.create(null) as Record<string, DictKey>;
    bare["b"] = 2;
    bare["a"] = 1;
    expect(hex(encodeKey(bare))).toBe(hex(encodeKey({ a: 1, b: 2 })));
  });

  it("keeps 1, 1n, '1' and true apart", () => {
    const encodings = [1, 1n, "1", true].map((k) => hex(encodeKey(k)));
    expect(new Set(encodings).size).toBe(4);
  });

  it("keeps values of different types apart", () => {
    const keys: DictKey[] = [
      null,
      false,
      true,
      0,
      0n,
      "",
      new Uint8Array(),
      [],
      {},
      "a",
      Uint8Array.of(0x61),
      [1],
      { 0: 1 },
      ["a", "b"],
      ["ab"],
      { a: "b" },
      [[]],
    ];
    const encodings = keys.map((k) => hex(encodeKey(k)));
    expect(new Set(encodings).size).toBe(keys.length);
  });

  it("encodes -0 like 0 and every NaN alike", () => {
    expect(hex(encodeKey(-0))).toBe(hex(encodeKey(0)));
    expect(hex(encodeKey([-0, { a: -0 }]))).toBe(hex(encodeKey([0, { a: 0 }])));
    expect(Object.is(decodeKey(encodeKey(-0)), 0)).toBe(true);
    const otherNaN = new Float64Array(Uint8Array.of(1, 0, 0, 0, 0, 0, 0xf8, 0x7f).buffer)[0] as number;
    expect(Number.isNaN(otherNaN)).toBe(true);
    expect(hex(encodeKey(otherNaN))).toBe(hex(encodeKey(Number.NaN)));
  });

  it("encodes a Buffer like a Uint8Array holding the same bytes", () => {
    const raw = [0, 1, 2, 250, 255];
    expect(hex(encodeKey(Buffer.from(raw)))).toBe(hex(encodeKey(Uint8Array.from(raw))));
    // A view into a larger buffer encodes only the bytes it covers.
    const big = Uint8Array.from([9, 9, ...raw, 9]);
    expect(hex(encodeKey(big.subarray(2, 2 + raw.length)))).toBe(hex(encodeKey(Uint8Array.from(raw))));
    const dec = decodeKey(encodeKey(Buffer.from(raw)));
    expect(dec).toBeInstanceOf(Uint8Array);
    expect([...(dec as Uint8Array)]).toEqual(raw);
  });

  it("produces fixed, self-describing bytes for simple keys", () => {
    expect(hex(encodeKey(null))).toBe("00");
    expect(hex(encodeKey(false))).toBe("01");
    expect(hex(encodeKey(true))).toBe("02");
    expect(hex(encodeKey(1))).toBe("033ff0000000000000");
    expect(hex(encodeKey(0n))).toBe("04000100");
    expect(hex(encodeKey(-255n))).toBe("040101ff");
    expect(hex(encodeKey("hi"))).toBe("05026869");
    expect(hex(encodeKey(Uint8Array.of(7)))).toBe("060107");
    expect(hex(encodeKey([true]))).toBe("070102");
    expect(hex(encodeKey({ b: null, a: true }))).toBe("08020161020162" + "00");
  });
});

describe("encodeKey: the short-string fast path", () => {
  it("gives exactly the general writer's bytes, around every length and width limit", () => {
    const rand = mulberry32(4242);
    const alphabets = ["abc", "é", "€", "😀", "a\u0000", "ÿ"];
    const samples: string[] = ["", "x".repeat(126), "x".repeat(127), "x".repeat(128), "é".repeat(63), "é".repeat(64), "€".repeat(42), "€".repeat(43)];
    for (let i = 0; i < 5_000; i++) {
      const abc = alphabets[Math.floor(rand() * alphabets.length)] as string;
      let s = "";
      const n = Math.floor(rand() * 140);
      for (let j = 0; j < n; j++) s += [...abc][Math.floor(rand() * [...abc].length)];
      samples.push(s);
    }
    for (const s of samples) expect(Buffer.from(encodeKey(s)).equals(Buffer.from(encodeKeyWithWriter(s))), JSON.stringify(s)).toBe(true);
  });

  it("still refuses a lone surrogate", () => {
    expect(() => encodeKey("a\ud800")).toThrow(InvalidError);
  });
});

describe("encodeKey / decodeKey round trip", () => {
  it.each<[string, string]>([
    ["empty", ""],
    ["ascii", "hello world"],
    ["latin1", "café ñ ü"],
    ["cjk", "日本語のキー"],
    ["emoji", "👩‍👩‍👧‍👦 🚀 😀"],
    ["nul and control characters", "a\u0000b\u0001\n\t"],
    ["long", "x".repeat(100_000)],
    ["long multibyte", "é😀".repeat(10_000)],
  ])("strings: %s", (_, s) => {
    expect(roundTrip(s)).toBe(s);
  });

  it.each<[string, number]>([
    ["zero", 0],
    ["negative", -42],
    ["float", 0.1 + 0.2],
    ["tiny", Number.MIN_VALUE],
    ["max", Number.MAX_VALUE],
    ["beyond safe integers", Number.MAX_SAFE_INTEGER + 2],
    ["large negative", -1.7976931348623157e308],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["-Infinity", Number.NEGATIVE_INFINITY],
  ])("numbers: %s", (_, n) => {
    expect(roundTrip(n)).toBe(n);
  });

  it("numbers: NaN", () => {
    expect(Number.isNaN(roundTrip(Number.NaN))).toBe(true);
  });

  it.each<[string, bigint]>([
    ["zero", 0n],
    ["one", 1n],
    ["negative one", -1n],
    ["255", 255n],
    ["256", 256n],
    ["2^64 - 1", 2n ** 64n - 1n],
    ["2^64", 2n ** 64n],
    ["far beyond 2^64", 2n ** 200n + 12345n],
    ["large negative", -(2n ** 130n) - 7n],
  ])("bigints: %s", (_, n) => {
    expect(roundTrip(n)).toBe(n);
  });

  it("booleans and null", () => {
    expect(roundTrip(true)).toBe(true);
    expect(roundTrip(false)).toBe(false);
    expect(roundTrip(null)).toBe(null);
  });

  it("byte arrays, including empty and large", () => {
    for (const b of [new Uint8Array(), Uint8Array.of(0), Uint8Array.from({ length: 70_000 }, (_, i) => i % 251)]) {
      const dec = roundTrip(b);
      expect(dec).toBeInstanceOf(Uint8Array);
      expect(hex(dec as Uint8Array)).toBe(hex(b));
    }
  });

  it("nested arrays and objects", () => {
    const key: DictKey = {
      list: [1, "two", 3n, [true, null, [Uint8Array.of(1, 2)]]],
      obj: { "": 0, "nested key": { deeper: ["x", { y: -1.5 }] } },
      empty: { arr: [], obj: {} },
      "日本": "emoji 😀",
    };
    expect(roundTrip(key)).toEqual(key);
    expect(roundTrip([])).toEqual([]);
    expect(roundTrip({})).toEqual({});
  });

  it("an own property named __proto__ stays a plain property", () => {
    const key = JSON.parse('{"__proto__": 1, "a": 2}') as DictKey;
    const dec = roundTrip(key) as Record<string, DictKey>;
    expect(Object.getPrototypeOf(dec)).toBe(Object.prototype);
    expect(Object.keys(dec).sort()).toEqual(["__proto__", "a"]);
    expect(Object.getOwnPropertyDescriptor(dec, "__proto__")?.value).toBe(1);
  });

  it("accepts nesting up to 32 levels", () => {
    expect(roundTrip(nestArrays(32, 1))).toEqual(nestArrays(32, 1));
    expect(roundTrip(nestObjects(32, "leaf"))).toEqual(nestObjects(32, "leaf"));
  });

  describe("property: random keys round trip", () => {
    const rand = mulberry32(0x5eed);
    const int = (n: number): number => Math.floor(rand() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

    function randomString(): string {
      const pieces = ["a", "Z", "0", " ", "é", "ß", "日", "本", "😀", "👍🏽", "\u0000", "\n", "\u{10ffff}", "\uffff"];
      let s = "";
      const n = int(12);
      for (let i = 0; i < n; i++) s += rand() < 0.5 ? String.fromCharCode(0x20 + int(0x5f)) : pick(pieces);
      return s;
    }

    function randomNumber(): number {
      switch (int(6)) {
        case 0:
          return int(1000) - 500;
        case 1:
          return (rand() - 0.5) * 1e6;
        case 2:
          return pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_VALUE, Number.MIN_VALUE]);
        case 3:
          return rand() * 2 ** int(1000) * (rand() < 0.5 ? -1 : 1);
        case 4:
          return Number.MAX_SAFE_INTEGER - int(10);
        default:
          return 0;
      }
    }

    function randomBigInt(): bigint {
      let v = 0n;
      const words = int(6);
      for (let i = 0; i < words; i++) v = (v << 32n) | BigInt(int(2 ** 32));
      return rand() < 0.5 ? -v : v;
    }

    function randomKey(depth: number): DictKey {
      const kind = depth >= 4 ? int(7) : int(9);
      switch (kind) {
        case 0:
          return randomString();
        case 1:
          return randomNumber();
        case 2:
          return randomBigInt();
        case 3:
          return rand() < 0.5;
        case 4:
          return null;
        case 5:
          return Uint8Array.from({ length: int(20) }, () => int(256));
        case 6:
          return int(2) === 0 ? "" : int(100);
        case 7:
          return Array.from({ length: int(5) }, () => randomKey(depth + 1));
        default: {
          const o: Record<string, DictKey> = {};
          const n = int(5);
          for (let i = 0; i < n; i++) o[randomString()] = randomKey(depth + 1);
          return o;
        }
      }
    }

    /** The same object graph with every object's properties inserted in reverse order. */
    function reorder(k: DictKey): DictKey {
      if (Array.isArray(k)) return k.map(reorder);
      if (k !== null && typeof k === "object" && !(k instanceof Uint8Array)) {
        const out: Record<string, DictKey> = {};
        for (const name of Object.keys(k).reverse()) out[name] = reorder((k as Record<string, DictKey>)[name] as DictKey);
        return out;
      }
      return k;
    }

    const keys = Array.from({ length: 400 }, () => randomKey(0));

    it("decodes to an equal key, re-encodes to the same bytes, and ignores property order", () => {
      const seen = new Map<string, DictKey>();
      for (const key of keys) {
        const enc = encodeKey(key);
        expect(isCanonicalKey(enc)).toBe(true);
        const dec = decodeKey(enc);
        expect(dec).toEqual(key);
        expect(hex(encodeKey(dec))).toBe(hex(enc));
        expect(hex(encodeKey(reorder(key)))).toBe(hex(enc));
        seen.set(hex(enc), key);
      }
      // The generator produced a varied set, not 400 copies of a few keys.
      expect(seen.size).toBeGreaterThan(250);
    });

    it("never turns a truncated encoding into a valid key", () => {
      for (const key of keys.slice(0, 100)) {
        const enc = encodeKey(key);
        for (let cut = 0; cut < enc.length; cut += Math.max(1, enc.length >> 3)) {
          expect(isCanonicalKey(enc.subarray(0, cut))).toBe(false);
        }
      }
    });
  });
});

describe("invalid keys throw InvalidError", () => {
  class Custom {
    x = 1;
  }
  const sparse: unknown[] = [1, 2, 3];
  delete sparse[1];

  it.each<[string, unknown]>([
    ["undefined", undefined],
    ["a function", () => 1],
    ["a symbol", Symbol("k")],
    ["a Date", new Date(0)],
    ["a Map", new Map([["a", 1]])],
    ["a Set", new Set([1])],
    ["a custom class instance", new Custom()],
    ["a Float32Array", new Float32Array([1, 2])],
    ["a Uint16Array", new Uint16Array([1])],
    ["a DataView", new DataView(new ArrayBuffer(2))],
    ["a boxed string", Object("s")],
    ["an array with a hole (literal)", [1, , 3]],
    ["an array with a hole (deleted)", sparse],
    ["an array of length 2 with no elements", new Array(2)],
    ["undefined inside an array", [1, undefined]],
    ["undefined as an object value", { a: undefined }],
    ["a Date inside an object", { when: new Date(0) }],
    ["a function deep inside", { a: [{ b: [() => 0] }] }],
    ["arrays nested 33 deep", nestArrays(33, 1)],
    ["objects nested 33 deep", nestObjects(33, 1)],
    ["arrays nested 1000 deep", nestArrays(1000, 1)],
  ])("%s", (_, key) => {
    expectInvalid(() => encodeKey(key));
  });

  it("names what was refused", () => {
    expect(expectInvalid(() => encodeKey(new Map())).message).toContain("Map");
    expect(expectInvalid(() => encodeKey(new Custom())).message).toContain("Custom");
    expect(expectInvalid(() => encodeKey(nestArrays(40, 1))).message).toContain("32");
  });

  it("decodeKey refuses bytes nested deeper than 32 without overflowing the stack", () => {
    const deep = bytes("0701".repeat(40) + "00");
    expectInvalid(() => decodeKey(deep));
    const veryDeep = bytes("0701".repeat(100_000) + "00");
    expectInvalid(() => decodeKey(veryDeep));
    expect(isCanonicalKey(veryDeep)).toBe(false);
  });
});

describe("isCanonicalKey", () => {
  it("is true for the output of encodeKey", () => {
    for (const k of [null, true, false, 0, -1.25, Number.NaN, 0n, -(2n ** 65n), "", "ключ", new Uint8Array(), [1, [2]], { b: 1, a: [] }]) {
      expect(isCanonicalKey(encodeKey(k))).toBe(true);
    }
  });

  it.each<[string, string]>([
    ["empty bytes", ""],
    ["an unknown tag", "09"],
    ["a number cut short", "033ff00000"],
    ["a string shorter than its length", "050568656c6c"],
    ["a trailing byte", "0000"],
    ["two keys back to back", "0102"],
    ["-0", "038000000000000000"],
    ["a non-canonical NaN", "037ff8000000000001"],
    ["a bigint with a leading zero byte", "0400020001"],
    ["a bigint with an empty magnitude", "040000"],
    ["a negative zero bigint", "04010100"],
    ["a bigint with sign byte 2", "04020101"],
    ["a non-minimal string length", "058000"],
    ["invalid UTF-8", "0501ff"],
    ["an overlong varint", "05ffffffffff01"],
    ["object properties out of order", "0802" + "016202" + "016101"],
    ["a duplicated object property", "0802" + "016101" + "016102"],
    ["an array longer than its elements", "070300"],
    ["a byte string past the end", "0605010203"],
  ])("is false for %s", (_, h) => {
    expect(isCanonicalKey(bytes(h))).toBe(false);
  });

  it("is false for random garbage (seeded)", () => {
    const rand = mulberry32(1234);
    let canonical = 0;
    for (let i = 0; i < 500; i++) {
      const b = Uint8Array.from({ length: 1 + Math.floor(rand() * 32) }, () => Math.floor(rand() * 256));
      const ok = isCanonicalKey(b);
      if (ok) {
        // Whatever is accepted must really be canonical.
        canonical++;
        expect(hex(encodeKey(decodeKey(b)))).toBe(hex(b));
      }
    }
    expect(canonical).toBeLessThan(25);
  });

  it("decodeKey throws InvalidError on garbage rather than something else", () => {
    for (const h of ["", "09", "ff", "033ff0", "0605", "0802016101", "0000", "0500ff"]) {
      expectInvalid(() => decodeKey(bytes(h)));
    }
  });
});

describe("isCanonicalKey's fast path for strings", () => {
  it("agrees with a decode-and-encode round trip on 20,000 seeded random and mutated string keys", async () => {
    const { roundTrips } = await import("../../src/protocol/keys.js");
    const { mulberry32 } = await import("../helpers/prng.js");
    const rand = mulberry32(4242);
    const samples: Uint8Array[] = [];
    const pool = ["", "a", "héllo", "日本語", "😀x", "\uFEFFbom", "x".repeat(200)];
    for (let i = 0; i < 10_000; i++) {
      const base = encodeKey(pool[Math.floor(rand() * pool.length)] as string);
      const b = Buffer.from(base);
      // Mutate one byte, or the length, or truncate / extend: mostly non-canonical inputs.
      const what = Math.floor(rand() * 4);
      if (what === 0 && b.length > 1) b[1 + Math.floor(rand() * (b.length - 1))] = Math.floor(rand() * 256);
      if (what === 1) samples.push(Buffer.concat([b, Buffer.from([Math.floor(rand() * 256)])]));
      if (what === 2) samples.push(b.subarray(0, Math.floor(rand() * b.length)));
      samples.push(b);
    }
    for (let i = 0; i < 10_000; i++) {
      const len = Math.floor(rand() * 8);
      const body = Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
      samples.push(Buffer.concat([Buffer.from([0x05, len]), body]));
    }
    // Overlong varint, encoded surrogate, overlong UTF-8.
    samples.push(Buffer.from([0x05, 0x81, 0x00, 0x61]), Buffer.from([0x05, 0x03, 0xed, 0xa0, 0x80]), Buffer.from([0x05, 0x02, 0xc0, 0xaf]));
    let canonical = 0;
    for (const s of samples) {
      expect(isCanonicalKey(s), Buffer.from(s).toString("hex")).toBe(roundTrips(s));
      if (roundTrips(s)) canonical++;
    }
    // Both kinds were exercised.
    expect(canonical).toBeGreaterThan(1000);
    expect(samples.length - canonical).toBeGreaterThan(1000);
  });
});
