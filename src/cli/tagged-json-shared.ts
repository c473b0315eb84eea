/** What both directions of the tagged JSON form (tagged-json.ts) share: types, names and small helpers. */

/** A JSON value (what JSON.stringify/parse carry). */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export type JsonObject = { [k: string]: Json };
export type Segment = string | number;

/** Binary types of `$typed` (Uint8Array and Buffer have their own tags). */
export const TYPED = {
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
export type TypedName = keyof typeof TYPED;
export const TYPED_NAMES = Object.keys(TYPED) as TypedName[];
export const isTypedName = (s: string): s is TypedName => Object.hasOwn(TYPED, s);

/** Error classes msgpackr revives by name; any other name is an Error with that name. */
export const ERRORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError } as const;
export const isErrorName = (s: string): s is keyof typeof ERRORS => Object.hasOwn(ERRORS, s);

/** `segments` as a jq path: `.a[2]["$map"][0]`, `.` for the root. */
export function formatPath(segments: readonly Segment[]): string {
  let s = "";
  for (const seg of segments) {
    s += typeof seg === "number" ? `[${seg}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`;
  }
  return s === "" ? "." : s.startsWith(".") ? s : `.${s}`;
}

/** Set an own enumerable property, `__proto__` included (assigning that one sets the prototype). */
export function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

export function base64(v: ArrayBufferView | ArrayBuffer): string {
  return (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(v)).toString("base64");
}

