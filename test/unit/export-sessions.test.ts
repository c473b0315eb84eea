/** Export pages come from one capture of a partition's dict, whatever is written meanwhile. */
import { describe, expect, it } from "vitest";
import { PartitionStore, keyString } from "../../src/store/partition-store.js";
import { MemoryEngine } from "../../src/store/storage-engine.js";
import { encodeKey } from "../../src/protocol/keys.js";

const D = "dict-a";
const k = (s: string) => keyString(encodeKey(s));
const v = (s: string) => Uint8Array.from(Buffer.from(s));
const text = (s: string) => Buffer.from(s, "latin1").toString();

describe("export sessions", () => {
  it("pages after the first come from its capture: later writes, deletes and clears do not show", () => {
    const s = new PartitionStore({ part: 0, ttlMs: 10_000, engine: new MemoryEngine() });
    for (let i = 0; i < 10; i++) s.write(D, k(`key${i}`), v(`old${i}`), 0, i === 3 ? 2_000 : undefined);
    const first = s.exportPage(D, undefined, 0, 4, 100, Number.POSITIVE_INFINITY);
    expect(first?.entries).toHaveLength(4);
    // Everything changes after the capture.
    for (let i = 0; i < 10; i++) s.write(D, k(`key${i}`), v(`new${i}`), 200);
    s.write(D, k("key99"), v("added"), 200);
    s.delete(D, k("key5"), 200);
    const rest = [];
    let page = first;
    while (page && page.next !== null) {
      page = s.exportPage(D, page.session, page.next, 4, 300, Number.POSITIVE_INFINITY);
      rest.push(...(page?.entries ?? []));
    }
    const all = [...(first?.entries ?? []), ...rest];
    expect(all.map((e) => text(e.value)).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `old${i}`).sort());
    const e3 = all.find((e) => e.k === k("key3"));
    expect(e3?.ttl).toBe(2_000);
    expect(e3?.left).toBe(2_000 - 100);
    s.clear(D);
    // A finished or unknown session is never replaced silently: the exporter must start over.
    expect(s.exportPage(D, first?.session, 4, 4, 400, Number.POSITIVE_INFINITY)).toBeUndefined();
    expect(s.exportPage(D, "0.xmadeup", 0, 4, 400, Number.POSITIVE_INFINITY)).toBeUndefined();
  });

  it("the partition leaving the node drops its captures", () => {
    const s = new PartitionStore({ part: 0, ttlMs: 10_000, engine: new MemoryEngine() });
    for (let i = 0; i < 6; i++) s.write(D, k(`key${i}`), v("x"), 0);
    const first = s.exportPage(D, undefined, 0, 2, 0, Number.POSITIVE_INFINITY);
    s.release();
    expect(s.exportPage(D, first?.session, first?.next ?? 0, 2, 0, Number.POSITIVE_INFINITY)).toBeUndefined();
  });
});
