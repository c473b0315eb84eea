import { latin1Bytes } from "./latin1-bytes.js";

/**
 * A page of a scan as a shard answers it. A shard keeps keys and values as latin1 strings
 * (one character per byte); the page holds them as such, so the binary encoder writes each
 * string straight into the message instead of first copying it into a Buffer of its own
 * (for a full scan, two allocations and two copies per entry). `keys`, `values` and `next`
 * give the bytes, for msgpack peers and for tests.
 */
export class ScanPage {
  constructor(
    readonly keyStrings: string[],
    readonly valueStrings: string[],
    /** Where the next page starts (after this key), or null when the partition is done. */
    readonly nextString: string | null,
    /** Lets the next page on this node reuse the sorted keys. */
    readonly session: string,
  ) {}

  get keys(): Uint8Array[] {
    return this.keyStrings.map(latin1Bytes);
  }

  get values(): Uint8Array[] {
    return this.valueStrings.map(latin1Bytes);
  }

  get next(): Uint8Array | null {
    return this.nextString === null ? null : latin1Bytes(this.nextString);
  }

  /** The page as plain data with byte arrays (what msgpack carries). */
  toWire(): { keys: Uint8Array[]; values: Uint8Array[]; next: Uint8Array | null; session: string } {
    return { keys: this.keys, values: this.values, next: this.next, session: this.session };
  }

  /** About how many bytes it takes on the wire. */
  get wireBytes(): number {
    let n = 64 + (this.nextString?.length ?? 0);
    for (const k of this.keyStrings) n += k.length + 5;
    for (const v of this.valueStrings) n += v.length + 5;
    return n;
  }
}
