/**
 * A shard's approximate hot keys per dict: the most-accessed keys (space-saving sketch of a
 * 1-in-SAMPLE sample of key requests, counts scaled back up) and the largest values written.
 * Memory is bounded: SKETCH counters per dict, at most MAX_DICTS dicts (the least recently
 * touched is forgotten first: a deleted dict's sketches age out that way).
 */
import { LargestKeys, SpaceSaving } from "../store/space-saving.js";
import { keyString } from "../store/partition-store.js";
import { latin1Bytes } from "../encoding/latin1-bytes.js";
import type { DataFrame } from "./data-frames.js";

/** One key request in this many is counted: the sketch stays off the hot path. */
export const HOT_SAMPLE = 8;
/** Values at least this large are always offered to the largest-keys list (smaller ones when sampled). */
const BIG_VALUE = 4096;
const SKETCH = 64;
const MAX_DICTS = 256;

interface DictSketches {
  accessed: SpaceSaving<string>;
  largest: LargestKeys<string>;
}

export interface HotKeysReport {
  /** Key bytes as latin1 strings, with estimated counts (scaled by the sample rate). */
  accessed: { k: string; count: number; error: number }[];
  largest: { k: string; bytes: number }[];
}

export class HotKeys {
  private readonly dicts = new Map<string, DictSketches>();
  private tick = 0;
  private lastDict: string | undefined;
  private last: DictSketches | undefined;

  private sketches(dict: string): DictSketches {
    // Most requests name the dict the last one did: it is the most recent already.
    if (dict === this.lastDict && this.last !== undefined) return this.last;
    let s = this.dicts.get(dict);
    if (s) {
      // Most recently touched last: the first is the one to forget.
      this.dicts.delete(dict);
    } else {
      if (this.dicts.size >= MAX_DICTS) {
        const oldest = this.dicts.keys().next();
        if (!oldest.done) this.dicts.delete(oldest.value);
      }
      s = { accessed: new SpaceSaving(SKETCH), largest: new LargestKeys(SKETCH) };
    }
    this.dicts.set(dict, s);
    this.lastDict = dict;
    this.last = s;
    return s;
  }

  /** Whether this request is in the sample (one in HOT_SAMPLE). */
  sampled(): boolean {
    return ++this.tick % HOT_SAMPLE === 0;
  }

  /** A sampled request on a key; `bytes` when it wrote a value of that size. */
  accessed(dict: string, k: string, bytes: number): void {
    const s = this.sketches(dict);
    s.accessed.add(k, HOT_SAMPLE);
    if (bytes > 0) s.largest.add(k, bytes);
  }

  /** A large value written outside the sample (smaller ones are not worth a key string). */
  wrote(dict: string, key: Uint8Array, bytes: number): void {
    this.sketches(dict).largest.add(keyString(key), bytes);
  }

  report(dict: string, n: number): HotKeysReport {
    const s = this.dicts.get(dict);
    if (!s) return { accessed: [], largest: [] };
    return {
      accessed: s.accessed.top(n).map((c) => ({ k: c.key, count: c.count, error: c.error })),
      largest: s.largest.top(n).map((c) => ({ k: c.key, bytes: c.bytes })),
    };
  }

  /** {@link report} as the `hotKeys` reply: keys as their bytes. */
  reply(dict: string, n: number): { accessed: { key: Uint8Array; count: number; error: number }[]; largest: { key: Uint8Array; bytes: number }[] } {
    const r = this.report(dict, n);
    return { accessed: r.accessed.map((x) => ({ key: latin1Bytes(x.k), count: x.count, error: x.error })), largest: r.largest.map((x) => ({ key: latin1Bytes(x.k), bytes: x.bytes })) };
  }
}

/** Offer a data request to the sketches: cheap for the 7 in 8 that are not sampled. */
export function noteHotKey(hot: HotKeys, frame: DataFrame): void {
  if (!("key" in frame)) return;
  const bytes = frame.type === "put" || frame.type === "putEntry" ? frame.key.byteLength + frame.value.byteLength : 0;
  if (hot.sampled()) hot.accessed(frame.dict, keyString(frame.key), bytes);
  else if (bytes >= BIG_VALUE) hot.wrote(frame.dict, frame.key, bytes);
}
