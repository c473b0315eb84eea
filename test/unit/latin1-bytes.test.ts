import { describe, expect, it } from "vitest";
import { latin1Bytes, latin1String } from "../../src/encoding/latin1-bytes.js";

describe("latin1String", () => {
  it("reads a view in place: every byte value, at an offset, into an independent string", () => {
    const all = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
    const view = all.subarray(17, 17 + 256);
    const s = latin1String(view);
    expect(s.length).toBe(256);
    expect(Buffer.compare(Buffer.from(latin1Bytes(s)), view)).toBe(0);
    // A plain Uint8Array over the same memory reads the same; changing the memory later does not change the string.
    const plain = new Uint8Array(all.buffer, all.byteOffset + 17, 256);
    expect(latin1String(plain)).toBe(s);
    all[17] = (all[17] as number) ^ 0xff;
    expect(s.charCodeAt(0)).toBe(17);
  });

  it("gives an empty string for no bytes", () => {
    expect(latin1String(new Uint8Array(0))).toBe("");
    expect(latin1String(Buffer.alloc(10).subarray(5, 5))).toBe("");
  });
});
