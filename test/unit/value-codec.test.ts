/** The string fast path of value encoding writes exactly what msgpackr writes. */
import { describe, expect, it } from "vitest";
import { Packr } from "msgpackr";
import { decodeValue, encodeValueNow, packString, unpackString } from "../../src/client/value-codec.js";
import { mulberry32 } from "../helpers/prng.js";

// The SDK's codec: msgpackr in structured-clone mode.
const packr = new Packr({ structuredClone: true });

describe("packString", () => {
  it("gives msgpackr's bytes around every header boundary and for every UTF-8 width", () => {
    const rand = mulberry32(99);
    const alphabets = ["ab", "é", "€", "😀", "a\u0000", "ÿ", "x😀é"];
    const samples = ["", "a", "x".repeat(31), "x".repeat(32), "x".repeat(255), "x".repeat(256), "x".repeat(0x5554), "é".repeat(15), "é".repeat(16), "€".repeat(85), "€".repeat(86)];
    for (let i = 0; i < 3_000; i++) {
      const abc = [...(alphabets[Math.floor(rand() * alphabets.length)] as string)];
      const n = Math.floor(rand() * (rand() < 0.1 ? 3_000 : 300));
      let s = "";
      for (let j = 0; j < n; j++) s += abc[Math.floor(rand() * abc.length)];
      samples.push(s);
    }
    for (const s of samples) {
      const fast = packString(s);
      expect(fast, `length ${s.length}`).toBeDefined();
      expect(Buffer.from(fast as Uint8Array).equals(packr.pack(s)), `length ${s.length}`).toBe(true);
      expect(packr.unpack(fast as Uint8Array)).toBe(s);
    }
  });

  it("leaves long and ill-formed strings to msgpackr, which still encodes them", () => {
    for (const s of ["x".repeat(0x5555), "a\ud800b", "\udc00"]) {
      expect(packString(s)).toBeUndefined();
      const bytes = encodeValueNow(s) as Uint8Array;
      expect(Buffer.from(bytes).equals(packr.pack(s))).toBe(true);
    }
  });
});

describe("unpackString", () => {
  it("reads back what msgpackr reads, for every str header and UTF-8 width", () => {
    const rand = mulberry32(7);
    const alphabets = ["ab", "é", "€", "😀", "a\u0000"];
    const samples = ["", "x".repeat(31), "x".repeat(32), "x".repeat(255), "x".repeat(256), "x".repeat(70_000)];
    for (let i = 0; i < 2_000; i++) {
      const abc = [...(alphabets[Math.floor(rand() * alphabets.length)] as string)];
      let s = "";
      for (let j = Math.floor(rand() * 400); j > 0; j--) s += abc[Math.floor(rand() * abc.length)];
      samples.push(s);
    }
    for (const s of samples) {
      const bytes = packr.pack(s);
      const expected = packr.unpack(bytes) as string;
      // str32 (70,000 bytes) is left to msgpackr; everything else takes the fast path.
      if (bytes.length < 0x10003) expect(unpackString(bytes)).toBe(expected);
      expect(decodeValue(bytes, undefined, "d", "k")).toBe(expected);
    }
  });

  it("leaves everything that is not exactly one valid str to msgpackr", () => {
    const notStrings = [packr.pack(1), packr.pack({ a: "b" }), packr.pack(["x"]), packr.pack(null), new Uint8Array(0)];
    for (const bytes of notStrings) expect(unpackString(bytes)).toBeUndefined();
    // A str followed by more bytes, a str cut short, and a str of invalid UTF-8.
    expect(unpackString(Buffer.concat([packr.pack("ab"), Buffer.from([1])]))).toBeUndefined();
    expect(unpackString(packr.pack("abcdef").subarray(0, 4))).toBeUndefined();
    const invalid = Buffer.from([0xa2, 0xc3, 0x28]);
    expect(unpackString(invalid)).toBeUndefined();
    expect(decodeValue(invalid, undefined, "d", "k")).toBe(packr.unpack(invalid));
  });
});
