/** An exact description of a value for tests that compare values across an encoding. */
import { Dict } from "../../src/index.js";
import { HANDLE_ID } from "../../src/client/value-codec.js";

/** An exact description: types, own keys in order, -0, shared references (as #n). */
export function dump(v: unknown, seen = new Map<object, number>()): string {
  if (v === undefined) return "u";
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v !== "object" || v === null) return JSON.stringify(v);
  const id = seen.get(v);
  if (id !== undefined) return `#${id}`;
  seen.set(v, seen.size);
  if (v instanceof Dict) return `Dict(${String(v[HANDLE_ID])})`;
  if (v instanceof Date) return `D${v.getTime()}`;
  if (v instanceof Error) {
    const errors = v instanceof AggregateError ? `:[${Array.from(v.errors as unknown[], (x) => dump(x, seen)).join(",")}]` : "";
    return `E(${v.constructor.name}:${v.name}:${JSON.stringify(v.message)}:${dump(v.cause, seen)}${errors})`;
  }
  if (v instanceof RegExp) return `R(${v.source}/${v.flags})`;
  if (v instanceof ArrayBuffer) return `AB(${Buffer.from(v).toString("hex")})`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex")})`;
  if (Array.isArray(v)) return `[${Array.from(v as unknown[], (x) => dump(x, seen)).join(",")}]`;
  if (v instanceof Map) return `M{${[...v].map(([k, x]) => `${dump(k, seen)}=>${dump(x, seen)}`).join(",")}}`;
  if (v instanceof Set) return `S{${[...v].map((x) => dump(x, seen)).join(",")}}`;
  const proto = Object.getPrototypeOf(v) === Object.prototype ? "" : "!proto";
  return `{${Object.keys(v)
    .map((k) => `${JSON.stringify(k)}:${dump((v as Record<string, unknown>)[k], seen)}`)
    .join(",")}}${proto}`;
}
