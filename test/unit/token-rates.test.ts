/** TokenRates: a bucket per token, refilled at the rate, holding one second of it. */
import { describe, expect, it } from "vitest";
import { TokenRates } from "../../src/net/token-rates.js";

describe("TokenRates", () => {
  it("lets a second's worth through in a burst, then the rate; tokens are apart; 0 is no limit", () => {
    const r = new TokenRates(10);
    let ok = 0;
    for (let i = 0; i < 50; i++) if (r.take("a", 0)) ok++;
    expect(ok).toBe(10);
    expect(r.take("b", 0)).toBe(true);
    expect(r.take("a", 50)).toBe(false); // half a request refilled
    expect(r.take("a", 100)).toBe(true); // one refilled at 10/s
    expect(r.take("a", 100)).toBe(false);
    // Idle for long: still one second's worth, not more.
    let later = 0;
    for (let i = 0; i < 50; i++) if (r.take("a", 60_000)) later++;
    expect(later).toBe(10);
    const off = new TokenRates(0);
    expect(off.limited).toBe(false);
    for (let i = 0; i < 1_000; i++) expect(off.take("a", 0)).toBe(true);
  });
});
