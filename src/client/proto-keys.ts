/**
 * Values whose objects have an own `__proto__` key (as `JSON.parse` makes them), decoded
 * exactly. msgpackr's record reader renames such a key `__proto_` (so that decoding never
 * sets a prototype), which silently changed the value, and could not be told apart from a
 * real `__proto_` key afterwards.
 *
 * This path runs only when the scan found a record key spelled `__proto__` (rare): the
 * bytes are copied with each such key replaced by a 9-byte placeholder that no record of
 * the value uses, msgpackr decodes the copy, and each object holding the placeholder gets
 * it back as an own `__proto__` data property (defined, never assigned, so no prototype
 * changes), in its place among the object's keys.
 */
import { scanValue } from "../protocol/value-check.js";

/** A 9-byte key no record in the value uses (there are fewer such keys than bytes). */
function placeholder(taken: ReadonlySet<string>): string {
  for (let i = 0; ; i++) {
    const candidate = `__pr${i.toString(36).padStart(5, "0")}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/** Where the bytes of the record key string at `at` start (after its str header). */
function stringBody(bytes: Uint8Array, at: number): number {
  const t = bytes[at] as number;
  return t === 0xd9 ? at + 2 : t === 0xda ? at + 3 : t === 0xdb ? at + 5 : at + 1;
}

/** Decode `bytes` (whose scan found `__proto__` record keys) with those keys kept exactly. */
export function unpackWithProtoKeys(bytes: Uint8Array, unpack: (b: Uint8Array) => unknown): unknown {
  const taken = new Set<string>();
  const { protoKeys } = scanValue(bytes, taken);
  const name = placeholder(taken);
  const copy = Buffer.from(bytes);
  for (const at of protoKeys ?? []) copy.write(name, stringBody(copy, at), "latin1");
  const value = unpack(copy);
  restore(value, name);
  return value;
}

/** Rename `name` to `__proto__` on every object reachable from `root` (cycles included). */
function restore(root: unknown, name: string): void {
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null || seen.has(v) || ArrayBuffer.isView(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v instanceof Map) {
      for (const [k, x] of v) stack.push(k, x);
    } else if (v instanceof Set) {
      for (const x of v) stack.push(x);
    } else if (v instanceof Error) {
      stack.push(v.cause);
      if (v instanceof AggregateError) stack.push(v.errors);
    } else if (Object.getPrototypeOf(v) === Object.prototype) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      for (const k of keys) stack.push(o[k]);
      const from = keys.indexOf(name);
      if (from < 0) continue;
      // Deleted and defined again in order, so `__proto__` keeps its place among the keys.
      for (const k of keys.slice(from)) {
        const x = o[k];
        delete o[k];
        Object.defineProperty(o, k === name ? "__proto__" : k, { value: x, writable: true, enumerable: true, configurable: true });
      }
    }
  }
}
