/**
 * Writes a shard has applied but not yet acknowledged (waiting for their commit or their
 * replicas), per partition, so that later requests on the same keys wait for them.
 *
 * Nothing is computed per key when a write is registered: it keeps the key bytes it came
 * with, and only turns them into strings if a later request has to check them. Most writes
 * settle before anybody asks (a bulk update of 1,000 entries used to build 1,000
 * `part␀dict␀key` strings and map entries that nobody ever looked up).
 */
import { keyString } from "../store/partition-store.js";
import type { DataFrame } from "./data-frames.js";

/** One registered write on one partition. */
class PendingWrite {
  private keySet: Set<string> | undefined;

  constructor(
    readonly dict: string,
    /** The keys written, as canonical bytes (one without a list); undefined for the whole dict (clear). */
    private readonly keys: readonly Uint8Array[] | Uint8Array | undefined,
    readonly done: Promise<unknown>,
  ) {}

  /** Whether this write touched any of `ks` (key strings) in `dict`. */
  touches(dict: string, ks: readonly string[]): boolean {
    if (dict !== this.dict) return false;
    const keys = this.keys;
    if (keys === undefined) return true;
    if (keys instanceof Uint8Array) return ks.includes(keyString(keys));
    if (keys.length === 1 && ks.length === 1) return keyString(keys[0] as Uint8Array) === ks[0];
    const set = (this.keySet ??= new Set(keys.map(keyString)));
    for (const k of ks) if (set.has(k)) return true;
    return false;
  }
}

export class PendingWrites {
  /**
   * A partition's list stays once made (there are as many as partitions served): a put on a
   * partition with nothing else pending would otherwise make and drop one and a map entry.
   * A list, not a Set: it holds a write or two, and a Set emptied and filled again shrinks
   * and regrows its table each time (measured: 125 bytes fewer allocated per put with lists).
   */
  private readonly byPart = new Map<number, PendingWrite[]>();
  private count = 0;

  /** Writes registered and not yet settled, over every partition. */
  get size(): number {
    return this.count;
  }

  /** Whether any write on `part` is still pending. */
  any(part: number): boolean {
    return (this.byPart.get(part)?.length ?? 0) > 0;
  }

  /**
   * Register a write of `keys` (undefined: the whole dict) in `part` of `dict` until `done`
   * settles.
   */
  add(part: number, dict: string, keys: readonly Uint8Array[] | Uint8Array | undefined, done: Promise<unknown>): void {
    const w = new PendingWrite(dict, keys, done);
    let list = this.byPart.get(part);
    if (!list) this.byPart.set(part, (list = []));
    list.push(w);
    this.count++;
    const settle = () => {
      const i = list.indexOf(w);
      if (i < 0) return;
      // Order does not matter (waits are collected into a list and all awaited): the last one takes its place.
      const last = list.pop() as PendingWrite;
      if (last !== w) list[i] = last;
      this.count--;
    };
    done.then(settle, settle);
  }

  /** Pending writes in `part` of `dict` touching any of `ks`; all of the dict's if `ks` is undefined. */
  collect(part: number, dict: string, ks: readonly string[] | undefined, into: Promise<unknown>[]): void {
    const list = this.byPart.get(part);
    if (!list) return;
    for (const w of list) if (ks === undefined ? w.dict === dict : w.touches(dict, ks)) into.push(w.done);
  }

  /** Every pending write of `part`, whatever the dict. */
  all(part: number): Promise<unknown>[] {
    return (this.byPart.get(part) ?? []).map((w) => w.done);
  }
}

/** The pending writes a request must wait for. */
export function waitsFor(pending: PendingWrites, frame: DataFrame): Promise<unknown>[] {
  const waits: Promise<unknown>[] = [];
  switch (frame.type) {
    case "clear":
    case "len":
      for (const part of frame.parts) pending.collect(part, frame.dict, undefined, waits);
      break;
    case "watch":
      // It shows only acknowledged changes: nothing pending is seen, so nothing is waited for.
      break;
    case "scan":
      pending.collect(frame.part, frame.dict, undefined, waits);
      break;
    case "exportPage":
      // Only the capture (the first page) reads the store; later pages read the capture.
      if (frame.session === undefined) pending.collect(frame.part, frame.dict, undefined, waits);
      break;
    case "update":
      pending.collect(frame.part, frame.dict, frame.keys.map(keyString), waits);
      break;
    case "updateParts":
      for (const g of frame.parts) pending.collect(g.part, frame.dict, g.keys.map(keyString), waits);
      break;
    default:
      // Most requests find nothing pending on their partition: no key string for them.
      if (pending.any(frame.part)) pending.collect(frame.part, frame.dict, [keyString(frame.key)], waits);
  }
  return waits;
}

/** Register a write (or a read that persists a deadline) until it settles. */
export function track(pending: PendingWrites, frame: DataFrame, result: Promise<unknown>): void {
  switch (frame.type) {
    case "len":
    case "scan":
    case "exportPage":
    // A wait is no write: later writes to its key must not wait for it (they end it).
    case "awaitChange":
    case "watch":
      return;
    case "clear":
      for (const part of frame.parts) pending.add(part, frame.dict, undefined, result);
      return;
    case "update":
      pending.add(frame.part, frame.dict, frame.keys, result);
      return;
    case "updateParts":
      for (const g of frame.parts) pending.add(g.part, frame.dict, g.keys, result);
      return;
    default:
      pending.add(frame.part, frame.dict, frame.key, result);
  }
}
