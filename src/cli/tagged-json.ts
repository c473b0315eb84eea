/**
 * Tagged JSON: every value a Dict can store (and every key) as plain JSON, losslessly, for
 * the CLI to print (`get --json`, export) and read back (`put --json`, `--key-json`, import).
 *
 * JSON-native values are themselves: `null`, booleans, strings, finite numbers (except -0),
 * arrays, and plain objects none of whose keys starts with `$`. Anything else is a *tag*: an
 * object with exactly one key, which starts with `$` (the one exception is `$id`, below):
 *
 *   undefined                       {"$undefined": true}
 *   NaN, Infinity, -Infinity, -0    {"$number": "NaN"}   ("Infinity", "-Infinity", "-0")
 *   bigint                          {"$bigint": "-123"}               (decimal)
 *   Date                            {"$date": "2026-01-02T03:04:05.678Z"}   (toISOString();
 *                                   an invalid Date is {"$date": "Invalid Date"})
 *   Map                             {"$map": [[key, value], …]}       (in insertion order)
 *   Set                             {"$set": [value, …]}
 *   Uint8Array                      {"$bytes": "AQID"}                (base64)
 *   Buffer                          {"$buffer": "AQID"}               (base64)
 *   other typed arrays, DataView,   {"$typed": ["Float64Array", "<base64>"]}  (the bytes the
 *   ArrayBuffer                     SDK stores: the platform's order, little-endian on x86/ARM)
 *   RegExp                          {"$regexp": "/a+b/gi"}            (`/${source}/${flags}`)
 *   Error                           {"$error": {"name": "TypeError", "message": "boom",
 *                                     "cause": value, "errors": [value, …]}}   (cause only when
 *                                   defined, errors only for an AggregateError)
 *   Dict handle                     {"$dict": "di-…"}
 *   object with `$` keys            {"$object": {"$price": 3}}        (keys taken literally)
 *   an object met twice             {"$id": 1, "$value": tagged}  where it first appears,
 *                                   {"$ref": 1}  everywhere after (cycles included)
 *
 * Values inside tags are tagged in turn (`$map` keys and values, `$set` members, `cause`…);
 * only `$object`'s own keys are literal, so a plain object with `$` keys never reads as a tag.
 * Ids are given only to objects (arrays, objects, Maps, Sets, Dates, byte arrays, Errors…)
 * referenced more than once, numbered 1, 2, … in document order; a `$ref` always comes after
 * its `$id`. Own `__proto__` keys are kept as own keys both ways.
 *
 * `toTagged` shows a value as the SDK stores it (msgpackr's structured clone): a class
 * instance is its own enumerable properties (or its `toJSON()`), array holes are undefined,
 * an Error keeps name, message, cause and (AggregateError) errors, a RegExp its source and
 * flags. It refuses what the SDK refuses (functions, symbols, WeakMap, WeakSet, WeakRef,
 * Promise) and a Dict handle whose id is not known yet (hydrate it first). `fromTagged` is
 * strict: a malformed tag is an {@link InvalidError} naming its place as a jq path; it reads
 * any ISO 8601 date (`2026-01-02`, or a date-time with `Z` or an offset) besides
 * toISOString's form, and `{"$error"}` may leave out name ("Error") and message ("").
 */
import { InvalidError } from "../errors.js";
import { HANDLE_ID } from "../client/value-codec.js";
import { checkId } from "../client/names.js";

/** A JSON value (what JSON.stringify/parse carry). */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

type JsonObject = { [k: string]: Json };
type Segment = string | number;

/** Binary types of `$typed` (Uint8Array and Buffer have their own tags). */
const TYPED = {
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
type TypedName = keyof typeof TYPED;
const TYPED_NAMES = Object.keys(TYPED) as TypedName[];
const isTypedName = (s: string): s is TypedName => Object.hasOwn(TYPED, s);

/** Error classes msgpackr revives by name; any other name is an Error with that name. */
const ERRORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError } as const;
const isErrorName = (s: string): s is keyof typeof ERRORS => Object.hasOwn(ERRORS, s);

/** `segments` as a jq path: `.a[2]["$map"][0]`, `.` for the root. */
function formatPath(segments: readonly Segment[]): string {
  let s = "";
  for (const seg of segments) {
    s += typeof seg === "number" ? `[${seg}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`;
  }
  return s === "" ? "." : s.startsWith(".") ? s : `.${s}`;
}

/** Set an own enumerable property, `__proto__` included (assigning that one sets the prototype). */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

function base64(v: ArrayBufferView | ArrayBuffer): string {
  return (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(v)).toString("base64");
}

// ---- toTagged ----------------------------------------------------------------------------

/** What an object is made of, read once (getters and toJSON run once per object). */
type Node =
  | { kind: "array"; items: unknown[] }
  | { kind: "object"; entries: [string, unknown][]; escaped: boolean }
  | { kind: "map"; entries: [unknown, unknown][] }
  | { kind: "set"; items: unknown[] }
  | { kind: "error"; name: string; message: string; cause: unknown; errors: unknown[] | undefined }
  | { kind: "leaf"; json: JsonObject }
  /** An object the SDK stores as its `toJSON()`. */
  | { kind: "alias"; to: unknown };

const TypedArray = Object.getPrototypeOf(Uint8Array) as abstract new () => ArrayBufferView;
/** msgpackr's built-in extension classes, in its order. */
const BUILT_INS = [Date, Set, Error, RegExp, ArrayBuffer, TypedArray, DataView] as const;

class Tagger {
  readonly nodes = new Map<object, Node>();
  readonly counts = new Map<object, number>();
  readonly ids = new Map<object, number>();
  readonly path: Segment[] = [];

  fail(what: string): never {
    throw new InvalidError(`invalid value at ${formatPath(this.path)}: ${what} cannot be stored in a Dict`);
  }

  /** The value the SDK writes for `v`: `v` itself, or what its `toJSON()` gives. */
  resolve(v: unknown): unknown {
    for (let hops = 0; typeof v === "object" && v !== null; hops++) {
      if (hops > 64) this.fail("an object whose toJSON() keeps returning objects with toJSON()");
      let node = this.nodes.get(v);
      if (node === undefined) {
        node = this.classify(v);
        this.nodes.set(v, node);
      }
      if (node.kind !== "alias") return v;
      v = node.to;
    }
    return v;
  }

  /** Mirrors msgpackr's structured clone: which encoding it picks for an object. */
  classify(v: object): Node {
    if (HANDLE_ID in v) {
      const id = (v as { [HANDLE_ID]: unknown })[HANDLE_ID];
      if (typeof id !== "string") this.fail("a Dict handle not resolved yet (await d.hydrate() first)");
      return { kind: "leaf", json: { $dict: id } };
    }
    if (v instanceof WeakMap || v instanceof WeakSet || v instanceof WeakRef || v instanceof Promise) this.fail(`a ${v.constructor.name}`);
    const ctor: unknown = (v as { constructor?: unknown }).constructor;
    if (ctor === Object) return this.plain(v);
    if (ctor === Array) return { kind: "array", items: Array.from(v as unknown[]) };
    if (ctor === Map && v instanceof Map) return { kind: "map", entries: [...(v as Map<unknown, unknown>)] };
    const toJSON: unknown = (v as { toJSON?: unknown }).toJSON;
    for (const C of BUILT_INS) {
      if (!(v instanceof C)) continue;
      // A subclass with a toJSON of its own is written through it (Date's own toJSON aside).
      if (ctor !== C && toJSON !== undefined && toJSON !== Date.prototype.toJSON && !ArrayBuffer.isView(v)) break;
      return this.builtIn(v);
    }
    if (Array.isArray(v)) return { kind: "array", items: Array.from(v as unknown[]) };
    if (toJSON) {
      if (typeof toJSON !== "function") this.fail("an object whose toJSON is not a function");
      const to: unknown = (toJSON as () => unknown).call(v);
      if (to !== v) return { kind: "alias", to };
    }
    return this.plain(v);
  }

  plain(v: object): Node {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    return { kind: "object", entries: keys.map((k) => [k, o[k]]), escaped: keys.some((k) => k.startsWith("$")) };
  }

  builtIn(v: object): Node {
    if (v instanceof Date) {
      const t = v.getTime();
      return { kind: "leaf", json: { $date: Number.isNaN(t) ? "Invalid Date" : v.toISOString() } };
    }
    if (v instanceof Set) return { kind: "set", items: [...(v as Set<unknown>)] };
    if (v instanceof Error) {
      const message: unknown = v.message;
      const list: unknown = v instanceof AggregateError ? v.errors : undefined;
      const errors = v instanceof AggregateError ? (Array.isArray(list) ? Array.from(list as unknown[]) : []) : undefined;
      return { kind: "error", name: String(v.name), message: message === undefined ? "" : String(message), cause: v.cause, errors };
    }
    if (v instanceof RegExp) return { kind: "leaf", json: { $regexp: `/${v.source}/${v.flags}` } };
    if (v instanceof ArrayBuffer) return { kind: "leaf", json: { $typed: ["ArrayBuffer", base64(v)] } };
    if (v instanceof DataView) return { kind: "leaf", json: { $typed: ["DataView", base64(v)] } };
    const view = v as ArrayBufferView;
    if (Buffer.isBuffer(view)) return { kind: "leaf", json: { $buffer: base64(view) } };
    if (view instanceof Uint8Array) return { kind: "leaf", json: { $bytes: base64(view) } };
    const name = TYPED_NAMES.find((n) => view instanceof TYPED[n]);
    if (name === undefined) this.fail(`a ${v.constructor.name}`);
    return { kind: "leaf", json: { $typed: [name, base64(view)] } };
  }

  /** Pass 1: classify every object once and count how often each one is referenced. */
  visit(value: unknown): void {
    const v = this.resolve(value);
    if (typeof v === "function") this.fail("a function");
    if (typeof v === "symbol") this.fail("a symbol");
    if (typeof v !== "object" || v === null) return;
    const seen = this.counts.get(v);
    this.counts.set(v, (seen ?? 0) + 1);
    if (seen !== undefined) return;
    const node = this.nodes.get(v) as Node;
    const p = this.path;
    switch (node.kind) {
      case "array":
        node.items.forEach((x, i) => this.at(i, x));
        break;
      case "object":
        if (node.escaped) p.push("$object");
        for (const [k, x] of node.entries) this.at(k, x);
        if (node.escaped) p.pop();
        break;
      case "map":
        p.push("$map");
        node.entries.forEach(([k, x], i) => {
          p.push(i);
          this.at(0, k);
          this.at(1, x);
          p.pop();
        });
        p.pop();
        break;
      case "set":
        p.push("$set");
        node.items.forEach((x, i) => this.at(i, x));
        p.pop();
        break;
      case "error":
        p.push("$error");
        this.at("cause", node.cause);
        if (node.errors) {
          p.push("errors");
          node.errors.forEach((x, i) => this.at(i, x));
          p.pop();
        }
        p.pop();
        break;
      case "leaf":
      case "alias":
        break;
    }
  }

  at(seg: Segment, v: unknown): void {
    this.path.push(seg);
    this.visit(v);
    this.path.pop();
  }

  /** Pass 2: the tagged form; objects referenced more than once get an id. */
  emit(value: unknown): Json {
    const v = this.resolve(value);
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        if (Number.isFinite(v) && !Object.is(v, -0)) return v;
        return { $number: Number.isNaN(v) ? "NaN" : Object.is(v, -0) ? "-0" : v > 0 ? "Infinity" : "-Infinity" };
      case "bigint":
        return { $bigint: v.toString() };
      case "undefined":
        return { $undefined: true };
      case "object": {
        if (v === null) return null;
        const node = this.nodes.get(v) as Node;
        if ((this.counts.get(v) ?? 0) < 2) return this.emitNode(node);
        const id = this.ids.get(v);
        if (id !== undefined) return { $ref: id };
        const next = this.ids.size + 1;
        this.ids.set(v, next);
        return { $id: next, $value: this.emitNode(node) };
      }
      default:
        return this.fail(`a ${typeof v}`); // refused in pass 1 already
    }
  }

  emitNode(node: Node): Json {
    switch (node.kind) {
      case "array":
        return node.items.map((x) => this.emit(x));
      case "object": {
        const o: JsonObject = {};
        for (const [k, x] of node.entries) setOwn(o, k, this.emit(x));
        return node.escaped ? { $object: o } : o;
      }
      case "map":
        return { $map: node.entries.map(([k, x]) => [this.emit(k), this.emit(x)]) };
      case "set":
        return { $set: node.items.map((x) => this.emit(x)) };
      case "error": {
        const body: JsonObject = { name: node.name, message: node.message };
        if (node.cause !== undefined) body.cause = this.emit(node.cause);
        if (node.errors) body.errors = node.errors.map((x) => this.emit(x));
        return { $error: body };
      }
      case "leaf":
        return node.json;
      case "alias":
        return this.emit(node.to);
    }
  }
}

/**
 * Any storable value → its tagged JSON form (never throws on a storable value; never loses
 * information). Throws {@link InvalidError} for what the SDK would refuse to store.
 */
export function toTagged(value: unknown): Json {
  const t = new Tagger();
  t.visit(value);
  return t.emit(value);
}

// ---- fromTagged --------------------------------------------------------------------------

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
