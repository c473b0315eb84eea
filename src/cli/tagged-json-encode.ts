/** Values to the tagged JSON form (see tagged-json.ts). */
import { InvalidError } from "../errors.js";
import { HANDLE_ID } from "../client/value-codec.js";
import { base64, formatPath, setOwn, TYPED, TYPED_NAMES, type Json, type JsonObject, type Segment } from "./tagged-json-shared.js";

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

