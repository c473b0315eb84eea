/** The string fast path of value encoding writes exactly what msgpackr writes. */
import { describe, expect, it } from "vitest";
import { Packr } from "msgpackr";
import { encodeValueNow, packString } from "../../src/client/value-codec.js";
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
