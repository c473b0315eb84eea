/** Encoding frames in the binary form (see binary-frames.ts). */
import type { Frame } from "./frames.js";
import { Latin1Bytes } from "../encoding/latin1-bytes.js";
import { ScanPage } from "../encoding/scan-page.js";
import { encodeBody } from "../encoding/log-body.js";
import type { Mutation } from "../encoding/mutation.js";
import { BINARY_MESSAGE, T_PACKED, T_PUT, T_UPDATE_PARTS, T_REPL_BATCH, T_OK, T_OK_TRUE, T_OK_FALSE, T_OK_NULL, T_OK_BYTES, T_OK_NUMBER, T_OK_PAGE, NO_NEXT, KEY_OPS, isBytes, isU16, isNum, type AnyFrame } from "./binary-tags.js";

/** UTF-8 length of a dict id; ids are nearly always ASCII, and one dict is usually hot. */
let lastDict = "";
let lastDictBytes = 0;
function dictBytes(v: unknown): number {
  if (typeof v !== "string" || v.length > 64) return -1;
  if (v !== lastDict) {
    lastDict = v;
    lastDictBytes = Buffer.byteLength(v);
  }
  return lastDictBytes > 255 ? -1 : lastDictBytes;
}

/** The item size of a frame in binary, or -1 if it must travel as msgpack. */
function binarySize(f: AnyFrame): number {
  if (!isNum(f.rid)) return -1;
  switch (f.type) {
    case "get":
    case "contains":
    case "pop":
    case "del":
    case "put": {
      // (Frames come from our own typed code: no stray properties to carry.)
      const d = dictBytes(f.dict);
      if (d < 0 || !isU16(f.part) || !isNum(f.epoch) || !isBytes(f.key)) return -1;
      let n = 1 + 8 + 2 + 8 + 1 + d + 4 + f.key.byteLength;
      if (f.type === "put") {
        if (!isBytes(f.value) || typeof f.ifAbsent !== "boolean") return -1;
        n += 1 + 4 + f.value.byteLength;
      }
      return n;
    }
    case "updateParts": {
      const d = dictBytes(f.dict);
      // One with a TTL is rare: it travels as msgpack rather than widen the common form.
      if (!isNum(f.op) || d < 0 || !isNum(f.epoch) || !Array.isArray(f.parts) || f.ttl !== undefined) return -1;
      let n = 1 + 8 + 8 + 8 + 1 + d + 4;
      for (const g of f.parts as unknown[]) {
        if (typeof g !== "object" || g === null) return -1;
        const { part, keys, values } = g as Record<string, unknown>;
        if (!isU16(part) || !Array.isArray(keys) || !Array.isArray(values) || keys.length !== values.length) return -1;
        n += 2 + 4;
        for (let i = 0; i < keys.length; i++) {
          const k: unknown = keys[i];
          const v: unknown = values[i];
          if (!isBytes(k) || !isBytes(v)) return -1;
          n += 8 + k.byteLength + v.byteLength;
        }
      }
      return n;
    }
    case "ok": {
      const r = f.result;
      if (r === undefined) return 9;
      if (typeof r === "boolean" || r === null) return 9;
      if (typeof r === "number") return 17;
      if (isBytes(r)) return 13 + r.byteLength;
      if (r instanceof Latin1Bytes) return 13 + r.text.length;
      if (r instanceof ScanPage) {
        if (r.session.length > 255 || Buffer.byteLength(r.session) > 255) return -1;
        let n = 1 + 8 + 1 + Buffer.byteLength(r.session) + 4 + (r.nextString?.length ?? 0) + 4 + 4;
        for (const k of r.keyStrings) n += 4 + k.length;
        for (const v of r.valueStrings) n += 4 + v.length;
        return n;
      }
      return -1;
    }
    default:
      return -1;
  }
}

const isReplItem = (it: unknown): boolean => {
  const o = it as { part?: unknown; pepoch?: unknown; muts?: unknown } | null;
  return typeof o === "object" && o !== null && isU16(o.part) && isNum(o.pepoch) && Array.isArray(o.muts);
};

/** Encode a batch; frames that have no binary form are embedded as `pack(frame)`. */
export function encodeBinary(frames: readonly Frame[], pack: (f: Frame) => Buffer): Buffer {
  const packed = new Array<Buffer | undefined>(frames.length);
  /** Replication bodies, one per item, encoded in the sizing pass and copied in the writing pass. */
  let batchBodies: Buffer[][] | undefined;
  let total = 1;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as Frame;
    if (f.type === "replb" && isNum(f.rid) && Array.isArray(f.items) && f.items.length > 0 && f.items.length <= 0xffff && f.items.every(isReplItem)) {
      const items = f.items as { muts: Mutation[] }[];
      const list = items.map((it) => encodeBody(it.muts));
      (batchBodies ??= new Array<Buffer[]>(frames.length))[i] = list;
      total += 1 + 8 + 2;
      for (const b of list) total += 2 + 8 + 4 + b.length;
      continue;
    }
    const n = binarySize(f as unknown as AnyFrame);
    if (n < 0) {
      const p = pack(f);
      packed[i] = p;
      total += 5 + p.length;
    } else {
      total += n;
    }
  }
  const out = Buffer.allocUnsafe(total);
  out[0] = BINARY_MESSAGE;
  let at = 1;
  const bytes = (b: Uint8Array) => {
    at = out.writeUInt32LE(b.byteLength, at);
    out.set(b, at);
    at += b.byteLength;
  };
  const dict = (s: string) => {
    const n = out.write(s, at + 1, "utf8");
    out[at] = n;
    at += 1 + n;
  };
  // A byte string (latin1: one character per byte) as length + bytes.
  const latin1 = (s: string) => {
    at = out.writeUInt32LE(s.length, at);
    at += out.write(s, at, "latin1");
  };
  for (let i = 0; i < frames.length; i++) {
    const p = packed[i];
    if (p !== undefined) {
      out[at++] = T_PACKED;
      at = out.writeUInt32LE(p.length, at);
      at += p.copy(out, at);
      continue;
    }
    const f = frames[i] as unknown as AnyFrame;
    const list = batchBodies?.[i];
    if (list !== undefined) {
      const items = f.items as { part: number; pepoch: number }[];
      out[at++] = T_REPL_BATCH;
      at = out.writeDoubleLE(f.rid as number, at);
      at = out.writeUInt16LE(items.length, at);
      for (let j = 0; j < items.length; j++) {
        const it = items[j] as { part: number; pepoch: number };
        at = out.writeUInt16LE(it.part, at);
        at = out.writeDoubleLE(it.pepoch, at);
        bytes(list[j] as Buffer);
      }
      continue;
    }
    switch (f.type) {
      case "get":
      case "contains":
      case "pop":
      case "del":
      case "put":
        out[at++] = f.type === "put" ? T_PUT : KEY_OPS[f.type];
        at = out.writeDoubleLE(f.rid as number, at);
        at = out.writeUInt16LE(f.part as number, at);
        at = out.writeDoubleLE(f.epoch as number, at);
        dict(f.dict as string);
        bytes(f.key as Uint8Array);
        if (f.type === "put") {
          out[at++] = f.ifAbsent ? 1 : 0;
          bytes(f.value as Uint8Array);
        }
        break;
      case "updateParts": {
        out[at++] = T_UPDATE_PARTS;
        at = out.writeDoubleLE(f.rid as number, at);
        at = out.writeDoubleLE(f.op as number, at);
        at = out.writeDoubleLE(f.epoch as number, at);
        dict(f.dict as string);
        const parts = f.parts as { part: number; keys: Uint8Array[]; values: Uint8Array[] }[];
        at = out.writeUInt32LE(parts.length, at);
        for (const g of parts) {
          at = out.writeUInt16LE(g.part, at);
          at = out.writeUInt32LE(g.keys.length, at);
          for (let j = 0; j < g.keys.length; j++) {
            bytes(g.keys[j] as Uint8Array);
            bytes(g.values[j] as Uint8Array);
          }
        }
        break;
      }
      case "ok": {
        const r = f.result;
        if (r instanceof ScanPage) {
          out[at++] = T_OK_PAGE;
          at = out.writeDoubleLE(f.rid as number, at);
          dict(r.session);
          if (r.nextString === null) at = out.writeUInt32LE(NO_NEXT, at);
          else latin1(r.nextString);
          at = out.writeUInt32LE(r.keyStrings.length, at);
          for (const k of r.keyStrings) latin1(k);
          at = out.writeUInt32LE(r.valueStrings.length, at);
          for (const v of r.valueStrings) latin1(v);
          break;
        }
        const tag =
          r === undefined ? T_OK : r === true ? T_OK_TRUE : r === false ? T_OK_FALSE : r === null ? T_OK_NULL : typeof r === "number" ? T_OK_NUMBER : T_OK_BYTES;
        out[at++] = tag;
        at = out.writeDoubleLE(f.rid as number, at);
        if (tag === T_OK_NUMBER) at = out.writeDoubleLE(r as number, at);
        else if (r instanceof Latin1Bytes) latin1(r.text);
        else if (tag === T_OK_BYTES) bytes(r as Uint8Array);
        break;
      }
    }
  }
  if (at !== total) throw new Error(`binary batch size mismatch: wrote ${at} of ${total}`);
  return out;
}
