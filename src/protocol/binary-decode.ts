/** Decoding the binary form (see binary-frames.ts), within the message's object budget. */
import { decodeBody } from "../encoding/log-body.js";
import { DecodeLimitError, type ObjectBudget } from "../encoding/decode-budget.js";
import { T_PACKED, T_GET, T_CONTAINS, T_POP, T_DEL, T_PUT, T_UPDATE_PARTS, T_REPL_BATCH, T_OK, T_OK_TRUE, T_OK_FALSE, T_OK_NULL, T_OK_BYTES, T_OK_NUMBER, T_OK_PAGE, NO_NEXT, KEY_OP_NAMES } from "./binary-tags.js";

/**
 * The last short string decoded (a dict id: nearly every frame names the same one), so a
 * frame naming it again gets the same string without decoding it, and later lookups keyed
 * by it compare one string object.
 */
let lastBytes = Buffer.alloc(0);
let lastString = "";

function cachedString(data: Buffer, from: number, n: number): string {
  if (n === lastBytes.length) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (data[from + i] !== lastBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastString;
  }
  lastString = data.toString("utf8", from, from + n);
  lastBytes = Buffer.from(data.subarray(from, from + n));
  return lastString;
}

export interface BinaryDecodeOptions {
  /** Frames one message may hold: more is refused while reading, not after. */
  maxItems: number;
  /** The message's object budget: frames, byte views, lists (and embedded msgpack). */
  budget: ObjectBudget;
  /** Decode an embedded msgpack frame under the same budget (or refuse it). */
  unpack(bytes: Buffer, budget: ObjectBudget): unknown;
  /**
   * Whether the sender is a node (authenticated with the cluster secret). A replication
   * body from a node is bounded by its own length; from anyone else it is charged to the
   * message's budget like everything else (then refused by the node's role check).
   */
  node: boolean;
}

const truncated = () => new DecodeLimitError("format", "not a valid binary message: an item runs past its end");

/**
 * Decode a binary message into raw frame objects (to be validated like any decoded frame;
 * `unpack` may return what it likes for an embedded one). Throws a {@link DecodeLimitError}
 * when it is not a well-formed batch (truncated, an unknown tag, more than `maxItems`
 * frames) or holds more objects than its budget; counts are charged before the lists they
 * size are allocated. Byte fields are views into `data`.
 *
 * A replication body from a node is bounded by its own length instead (see log-record.ts):
 * the frame batches mutations of many writes, so no fixed count fits it. From any other
 * sender (`node: false`) it is held to the message's budget.
 */
export function decodeBinary(data: Buffer, opts: BinaryDecodeOptions): unknown[] {
  const { maxItems, budget } = opts;
  let at = 1;
  const need = (n: number) => {
    if (at + n > data.length) throw truncated();
  };
  const f64 = () => {
    need(8);
    const v = data.readDoubleLE(at);
    at += 8;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = data.readUInt32LE(at);
    at += 4;
    return v;
  };
  const u16 = () => {
    need(2);
    const v = data.readUInt16LE(at);
    at += 2;
    return v;
  };
  const bytes = () => {
    const n = u32();
    need(n);
    const b = data.subarray(at, at + n);
    at += n;
    return b;
  };
  const str = () => {
    need(1);
    const n = data[at] as number;
    need(1 + n);
    const s = cachedString(data, at + 1, n);
    at += 1 + n;
    return s;
  };
  const out: unknown[] = [];
  while (at < data.length) {
    if (out.length >= maxItems) throw new DecodeLimitError("batch", `a binary message of more than ${maxItems} frames`, maxItems);
    const tag = data[at++];
    switch (tag) {
      case T_PACKED: {
        const n = u32();
        need(n);
        out.push(opts.unpack(data.subarray(at, at + n), budget));
        at += n;
        break;
      }
      case T_GET:
      case T_CONTAINS:
      case T_POP:
      case T_DEL:
      case T_PUT: {
        const rid = f64();
        const part = u16();
        const epoch = f64();
        const dict = str();
        const key = bytes();
        if (tag === T_PUT) {
          budget.take(3);
          need(1);
          const ifAbsent = data[at++] === 1;
          out.push({ type: "put", rid, dict, part, epoch, key, value: bytes(), ifAbsent });
        } else {
          budget.take(2);
          out.push({ type: KEY_OP_NAMES[tag], rid, dict, part, epoch, key });
        }
        break;
      }
      case T_UPDATE_PARTS: {
        const rid = f64();
        const op = f64();
        const epoch = f64();
        const dict = str();
        const count = u32();
        // Each group takes at least 6 bytes: a count beyond the message is garbage.
        need(count * 6);
        // The frame, its list of groups, and per group an object and two lists.
        budget.take(2 + 3 * count);
        const parts = new Array<{ part: number; keys: Uint8Array[]; values: Uint8Array[] }>(count);
        for (let g = 0; g < count; g++) {
          const part = u16();
          const n = u32();
          need(n * 8);
          budget.take(2 * n);
          const keys = new Array<Uint8Array>(n);
          const values = new Array<Uint8Array>(n);
          for (let j = 0; j < n; j++) {
            keys[j] = bytes();
            values[j] = bytes();
          }
          parts[g] = { part, keys, values };
        }
        out.push({ type: "updateParts", rid, op, dict, epoch, parts });
        break;
      }
      case T_REPL_BATCH: {
        const rid = f64();
        const count = u16();
        // Each item holds at least its partition, epoch and body length.
        need(count * 14);
        budget.take(2 + count);
        const items = new Array<{ part: number; pepoch: number; muts: unknown[] }>(count);
        for (let j = 0; j < count; j++) {
          const part = u16();
          const pepoch = f64();
          items[j] = { part, pepoch, muts: decodeBody(bytes(), opts.node ? undefined : budget) };
        }
        out.push({ type: "replb", rid, items });
        break;
      }
      case T_OK:
        budget.take(1);
        out.push({ type: "ok", rid: f64() });
        break;
      case T_OK_TRUE:
      case T_OK_FALSE:
      case T_OK_NULL:
        budget.take(1);
        out.push({ type: "ok", rid: f64(), result: tag === T_OK_TRUE ? true : tag === T_OK_FALSE ? false : null });
        break;
      case T_OK_NUMBER: {
        budget.take(1);
        const rid = f64();
        out.push({ type: "ok", rid, result: f64() });
        break;
      }
      case T_OK_BYTES: {
        budget.take(2);
        const rid = f64();
        out.push({ type: "ok", rid, result: bytes() });
        break;
      }
      case T_OK_PAGE: {
        const rid = f64();
        const session = str();
        need(4);
        budget.take(3);
        const next = data.readUInt32LE(at) === NO_NEXT ? ((at += 4), null) : bytes();
        const list = () => {
          const n = u32();
          need(n * 4);
          budget.take(1 + n);
          const xs = new Array<Uint8Array>(n);
          for (let i = 0; i < n; i++) xs[i] = bytes();
          return xs;
        };
        const keys = list();
        out.push({ type: "ok", rid, result: { keys, values: list(), next, session } });
        break;
      }
      default:
        throw new DecodeLimitError("format", `not a valid binary message: unknown item tag ${String(tag)}`);
    }
  }
  return out;
}
