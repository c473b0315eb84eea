/** The tagged JSON form back to values (see tagged-json.ts). */
import { InvalidError } from "../errors.js";
import { checkId } from "../client/names.js";
import { ERRORS, formatPath, isErrorName, isTypedName, setOwn, TYPED, TYPED_NAMES, type Json, type JsonObject, type Segment } from "./tagged-json-shared.js";

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ISO_DATE = /^(?:[+-]\d{6}|\d{4})-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const NUMBERS: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, "-Infinity": Number.NEGATIVE_INFINITY, "-0": -0 };
const TAGS = new Set(["$object", "$ref", "$undefined", "$number", "$bigint", "$date", "$map", "$set", "$bytes", "$buffer", "$typed", "$regexp", "$error", "$dict"]);
const ESCAPE_HINT = 'a plain object with keys starting with "$" is written {"$object": {…}}';

const isObject = (j: Json | undefined): j is JsonObject => typeof j === "object" && j !== null && !Array.isArray(j);

class Untagger {
  readonly ids = new Map<number, object>();
  readonly path: Segment[] = [];
  constructor(readonly dict: ((id: string) => unknown) | undefined) {}

  fail(what: string): never {
    throw new InvalidError(`invalid tagged JSON at ${formatPath(this.path)}: ${what}`);
  }

  /** The value `j` stands for; `id`: register the object under it as soon as it exists. */
  read(j: Json | undefined, id?: number): unknown {
    if (typeof j !== "object" || j === null) {
      if (id !== undefined) this.fail(`"$value" must be an object, array or object-making tag, not ${JSON.stringify(j)}`);
      // Any number JSON.parse gives (1e400 is Infinity there).
      if (typeof j === "string" || typeof j === "boolean" || typeof j === "number" || j === null) return j;
      return this.fail(`${String(j)} is not JSON`);
    }
    if (Array.isArray(j)) {
      const out: unknown[] = [];
      this.register(id, out);
      j.forEach((x, i) => out.push(this.at(i, x)));
      return out;
    }
    const keys = Object.keys(j);
    const tags = keys.filter((k) => k.startsWith("$"));
    if (tags.length === 0) return this.object(j, id);
    if (keys.length === 2 && Object.hasOwn(j, "$id") && Object.hasOwn(j, "$value")) return this.define(j);
    if (keys.length !== 1) {
      this.fail(`an object with keys starting with "$" is a tag and has exactly one key (or is {"$id", "$value"}), got ${keys.map((k) => JSON.stringify(k)).join(", ")}; ${ESCAPE_HINT}`);
    }
    const tag = tags[0] as string;
    if (!TAGS.has(tag)) this.fail(`unknown tag ${JSON.stringify(tag)}; ${ESCAPE_HINT}`);
    this.path.push(tag);
    const out = this.tag(tag, j[tag] as Json, id);
    this.path.pop();
    return out;
  }

  at(seg: Segment, j: Json | undefined, id?: number): unknown {
    this.path.push(seg);
    const out = this.read(j, id);
    this.path.pop();
    return out;
  }

  register(id: number | undefined, v: unknown): void {
    if (id === undefined) return;
    if (typeof v !== "object" || v === null) this.fail(`"$value" must make an object, not ${String(v)}`);
    this.ids.set(id, v);
  }

  object(j: JsonObject, id: number | undefined): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.register(id, out);
    for (const k of Object.keys(j)) setOwn(out, k, this.at(k, j[k]));
    return out;
  }

  define(j: JsonObject): unknown {
    const id = j.$id;
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
      this.path.push("$id");
      this.fail(`an id is a non-negative integer, not ${JSON.stringify(id)}`);
    }
    if (this.ids.has(id)) this.fail(`id ${id} is defined twice`);
    const value = j.$value;
    if (isObject(value) && (Object.hasOwn(value, "$id") || Object.hasOwn(value, "$ref"))) {
      this.path.push("$value");
      this.fail(`"$value" cannot be another "$id" or a "$ref"`);
    }
    return this.at("$value", value, id);
  }

  tag(tag: string, body: Json, id: number | undefined): unknown {
    const leaf = (v: unknown) => {
      this.register(id, v);
      return v;
    };
    switch (tag) {
      case "$object":
        if (!isObject(body)) this.fail('"$object" holds an object');
        return this.object(body, id);
      case "$ref": {
        if (id !== undefined) this.fail('"$value" cannot be a "$ref"');
        const target = typeof body === "number" ? this.ids.get(body) : undefined;
        if (target === undefined) this.fail(`no object has id ${JSON.stringify(body)} here (a "$ref" comes after the {"$id": …, "$value": …} it points to)`);
        return target;
      }
      case "$undefined":
        if (body !== true) this.fail('"$undefined" is always true');
        return leaf(undefined);
      case "$number": {
        const n = typeof body === "string" && Object.hasOwn(NUMBERS, body) ? NUMBERS[body] : undefined;
        if (n === undefined) this.fail(`"$number" is one of "NaN", "Infinity", "-Infinity", "-0", not ${JSON.stringify(body)}`);
        return leaf(n);
      }
      case "$bigint":
        if (typeof body !== "string" || !/^-?\d+$/.test(body)) this.fail(`"$bigint" is a string of decimal digits, not ${JSON.stringify(body)}`);
        return leaf(BigInt(body));
      case "$date": {
        if (body === "Invalid Date") return leaf(new Date(Number.NaN));
        const t = typeof body === "string" && ISO_DATE.test(body) ? Date.parse(body) : Number.NaN;
        if (Number.isNaN(t)) this.fail(`"$date" is an ISO 8601 date such as "2026-01-02T03:04:05.678Z" (or "Invalid Date"), not ${JSON.stringify(body)}`);
        return leaf(new Date(t));
      }
      case "$map": {
        if (!Array.isArray(body)) this.fail('"$map" holds an array of [key, value] pairs');
        const out = new Map<unknown, unknown>();
        this.register(id, out);
        body.forEach((pair, i) => {
          this.path.push(i);
          if (!Array.isArray(pair) || pair.length !== 2) this.fail("a map entry is a [key, value] pair");
          const k = this.at(0, pair[0]);
          out.set(k, this.at(1, pair[1]));
          this.path.pop();
        });
        return out;
      }
      case "$set": {
        if (!Array.isArray(body)) this.fail('"$set" holds an array');
        const out = new Set<unknown>();
        this.register(id, out);
        body.forEach((x, i) => out.add(this.at(i, x)));
        return out;
      }
      case "$bytes":
        return leaf(new Uint8Array(this.bytes(body, tag)));
      case "$buffer":
        return leaf(this.bytes(body, tag));
      case "$typed":
        return leaf(this.typed(body));
      case "$regexp": {
        const end = typeof body === "string" ? body.lastIndexOf("/") : -1;
        if (typeof body !== "string" || !body.startsWith("/") || end < 1) this.fail(`"$regexp" is a string "/source/flags", not ${JSON.stringify(body)}`);
        try {
          return leaf(new RegExp(body.slice(1, end), body.slice(end + 1)));
        } catch (err) {
          return this.fail(`"$regexp": ${(err as Error).message}`);
        }
      }
      case "$error":
        return this.error(body, id);
      case "$dict": {
        try {
          checkId(body);
        } catch (err) {
          this.fail((err as Error).message);
        }
        if (this.dict === undefined) this.fail('a "$dict" (a Dict handle) cannot be read here (keys cannot hold Dicts)');
        return leaf(this.dict(body as string));
      }
      default:
        return this.fail(`unknown tag ${JSON.stringify(tag)}`); // checked by read()
    }
  }

  bytes(body: Json, tag: string): Buffer {
    if (typeof body !== "string" || !BASE64.test(body)) this.fail(`${JSON.stringify(tag)} is a base64 string (A-Z a-z 0-9 + / and = padding)`);
    return Buffer.from(body, "base64");
  }

  typed(body: Json): ArrayBuffer | DataView | ArrayBufferView {
    const names = ["ArrayBuffer", "DataView", ...TYPED_NAMES].join(", ");
    if (!Array.isArray(body) || body.length !== 2 || typeof body[0] !== "string") this.fail(`"$typed" is [type, base64], the type one of ${names}`);
    const name = body[0];
    this.path.push(1);
    const bytes = this.bytes(body[1] as Json, "$typed");
    this.path.pop();
    // A fresh, aligned ArrayBuffer of exactly these bytes.
    const ab = new ArrayBuffer(bytes.length);
    new Uint8Array(ab).set(bytes);
    if (name === "ArrayBuffer") return ab;
    if (name === "DataView") return new DataView(ab);
    this.path.push(0);
    if (!isTypedName(name)) this.fail(`"$typed" types are ${names}, not ${JSON.stringify(name)}`);
    this.path.pop();
    const C = TYPED[name];
    if (bytes.length % C.BYTES_PER_ELEMENT !== 0) this.fail(`a ${name} has a multiple of ${C.BYTES_PER_ELEMENT} bytes, not ${bytes.length}`);
    return new C(ab);
  }

  error(body: Json, id: number | undefined): Error {
    if (!isObject(body)) this.fail('"$error" holds an object {"name", "message", "cause", "errors"}');
    const extra = Object.keys(body).filter((k) => !["name", "message", "cause", "errors"].includes(k));
    if (extra.length > 0) this.fail(`"$error" has only the fields name, message, cause and errors, not ${JSON.stringify(extra[0])}`);
    const { name = "Error", message = "", errors } = body;
    if (typeof name !== "string") this.fail(`an error's name is a string, not ${JSON.stringify(name)}`);
    if (typeof message !== "string") this.fail(`an error's message is a string, not ${JSON.stringify(message)}`);
    if (errors !== undefined && !Array.isArray(errors)) this.fail('an error\'s "errors" is an array');
    let e: Error;
    if (errors !== undefined || name === "AggregateError") {
      e = new AggregateError([], message);
      if (name !== "AggregateError") e.name = name;
    } else if (isErrorName(name)) {
      e = new ERRORS[name](message);
    } else {
      e = new Error(message);
      e.name = name; // as msgpackr revives it: an own property
    }
    this.register(id, e);
    // Filled in after the error exists, so that a cause or an aggregated error can be the error itself.
    if (Object.hasOwn(body, "cause")) {
      this.path.push("cause");
      const cause = this.read(body.cause);
      this.path.pop();
      Object.defineProperty(e, "cause", { value: cause, writable: true, enumerable: false, configurable: true });
    }
    if (errors !== undefined) {
      this.path.push("errors");
      const list = (e as AggregateError).errors as unknown[];
      errors.forEach((x, i) => list.push(this.at(i, x)));
      this.path.pop();
    }
    return e;
  }
}

/**
 * The inverse of {@link toTagged}. `dict(id)` makes the value a `{"$dict": id}` tag stands
 * for (the CLI passes `(id) => Dict.fromId(id, { client })`); without it such a tag is
 * refused, as in keys. Throws {@link InvalidError} naming the JSON path on malformed tags.
 */
export function fromTagged(json: Json, dict?: (id: string) => unknown): unknown {
  return new Untagger(dict).read(json);
}

