/**
 * Canonical key encoding: equal keys are equal bytes in every process.
 *
 * Supported: strings, numbers, bigints, booleans, `null`, `Uint8Array`, and arrays / plain
 * objects of these (object keys sorted). Each value has exactly one encoding, so
 * `{a:1,b:2}` and `{b:2,a:1}` are the same key while `1`, `1n` and `"1"` are three keys.
 * The encoding is self-describing so a shard can hand keys back for iteration.
 */
import { InvalidError } from "../errors.js";
import { MAX_DEPTH, MAX_KEY_CONTAINERS, Tag } from "./key-tags.js";

/** A value usable as a dict key. */
export type DictKey =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | readonly DictKey[]
  | { readonly [k: string]: DictKey };

const tooManyContainers = () => new InvalidError(`key holds more than ${MAX_KEY_CONTAINERS} arrays and objects`);

class Writer {
  buf: Buffer;
  pos = 0;
  containers = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  varint(n: number): void {
    this.ensure(5);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }
  string(s: string): void {
    // A lone surrogate would be written as U+FFFD, giving two strings one encoding.
    if (!s.isWellFormed()) throw new InvalidError("invalid key: strings must be well-formed UTF-16 (no lone surrogates)");
    this.ensure(s.length * 3 + 5);
    const len = Buffer.byteLength(s, "utf8");
    this.varint(len);
    this.buf.write(s, this.pos, "utf8");
    this.pos += len;
  }
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === undefined) return "undefined";
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return "a symbol";
  if (typeof v === "object" && v !== null) return `an instance of ${v.constructor?.name ?? "an unknown class"}`;
  return typeof v;
}

function writeKey(w: Writer, v: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw new InvalidError(`key is nested deeper than ${MAX_DEPTH} levels`);
  switch (typeof v) {
    case "string":
      w.byte(Tag.String);
      w.string(v);
      return;
    case "number": {
      w.byte(Tag.Number);
      w.ensure(8);
      // One form per number: -0 is 0, every NaN is the canonical NaN.
      const n = Object.is(v, -0) ? 0 : Number.isNaN(v) ? Number.NaN : v;
      w.buf.writeDoubleBE(n, w.pos);
      w.pos += 8;
      return;
    }
    case "bigint": {
      w.byte(Tag.BigInt);
      const neg = v < 0n;
      const mag = neg ? -v : v;
      const hex = mag.toString(16);
      const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
      w.byte(neg ? 1 : 0);
      w.bytes(bytes);
      return;
    }
    case "boolean":
      w.byte(v ? Tag.True : Tag.False);
      return;
    case "object": {
      if (v === null) {
        w.byte(Tag.Null);
        return;
      }
      if (v instanceof Uint8Array) {
        // Buffer is a Uint8Array: both encode as bytes. Other typed arrays are refused below.
        w.byte(Tag.Bytes);
        w.bytes(v);
        return;
      }
      if ((Array.isArray(v) || isPlainObject(v)) && ++w.containers > MAX_KEY_CONTAINERS) throw tooManyContainers();
      if (Array.isArray(v)) {
        w.byte(Tag.Array);
        w.varint(v.length);
        for (let i = 0; i < v.length; i++) {
          if (!(i in v)) throw new InvalidError("key arrays must not have holes");
          writeKey(w, v[i], depth + 1);
        }
        return;
      }
      if (isPlainObject(v)) {
        const names = Object.keys(v).sort();
        w.byte(Tag.Object);
        w.varint(names.length);
        for (const name of names) {
          w.string(name);
          writeKey(w, v[name], depth + 1);
        }
        return;
      }
      throw new InvalidError(`invalid key: ${describe(v)} cannot be a key`);
    }
    default:
      throw new InvalidError(`invalid key: ${describe(v)} cannot be a key`);
  }
}

/**
 * Encode a key to its canonical bytes; throws {@link InvalidError} for anything that is not
 * a valid key.
 */
export function encodeKey(key: unknown): Uint8Array {
  // Short strings, the common key, in one exact allocation: the same bytes as the writer's.
  if (typeof key === "string" && key.length < 0x80) {
    const len = Buffer.byteLength(key, "utf8");
    if (len < 0x80 && key.isWellFormed()) {
      const out = Buffer.allocUnsafe(2 + len);
      out[0] = Tag.String;
      out[1] = len;
      out.write(key, 2, len === key.length ? "latin1" : "utf8");
      return out;
    }
  }
  return encodeKeyWithWriter(key);
}

/** {@link encodeKey} for any key (exported for the test that compares the two paths). */
export function encodeKeyWithWriter(key: unknown): Uint8Array {
  const w = new Writer(typeof key === "string" ? key.length * 3 + 8 : 64);
  writeKey(w, key, 0);
  return w.buf.subarray(0, w.pos);
}

class Reader {
  pos = 0;
  containers = 0;
  constructor(readonly buf: Uint8Array) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new InvalidError("truncated key bytes");
  }
  byte(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }
  varint(): number {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
      if (shift > 28) throw new InvalidError("bad length in key bytes");
    }
  }
  slice(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  string(): string {
    const b = this.slice(this.varint());
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8");
  }
}

function readKey(r: Reader, depth: number): DictKey {
  if (depth > MAX_DEPTH) throw new InvalidError("key bytes nested too deep");
  const tag = r.byte();
  switch (tag) {
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.Number: {
      const b = r.slice(8);
      return Buffer.from(b.buffer, b.byteOffset, 8).readDoubleBE(0);
    }
    case Tag.BigInt: {
      const neg = r.byte() === 1;
      const b = r.slice(r.varint());
      const mag = b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString("hex")}`);
      return neg ? -mag : mag;
    }
    case Tag.String:
      return r.string();
    case Tag.Bytes:
      return Uint8Array.from(r.slice(r.varint()));
    case Tag.Array: {
      if (++r.containers > MAX_KEY_CONTAINERS) throw tooManyContainers();
      const n = r.varint();
      const out: DictKey[] = [];
      for (let i = 0; i < n; i++) out.push(readKey(r, depth + 1));
      return out;
    }
    case Tag.Object: {
      if (++r.containers > MAX_KEY_CONTAINERS) throw tooManyContainers();
      const n = r.varint();
      const out: Record<string, DictKey> = {};
      for (let i = 0; i < n; i++) {
        const name = r.string();
        Object.defineProperty(out, name, { value: readKey(r, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    default:
      throw new InvalidError(`unknown tag 0x${tag.toString(16)} in key bytes`);
  }
}

/** Decode canonical key bytes back to the key; throws {@link InvalidError} on bad bytes. */
export function decodeKey(bytes: Uint8Array): DictKey {
  const r = new Reader(bytes);
  const key = readKey(r, 0);
  if (r.pos !== bytes.length) throw new InvalidError("trailing bytes after key");
  return key;
}

/** Whether decoding and encoding again gives the same bytes (any kind of key). */
export function roundTrips(bytes: Uint8Array): boolean {
  try {
    const again = encodeKey(decodeKey(bytes));
    return Buffer.compare(again, bytes) === 0;
  } catch {
    return false;
  }
}

export { isCanonicalKey } from "./key-check.js";
export { MAX_KEY_CONTAINERS } from "./key-tags.js";
