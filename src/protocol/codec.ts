/**
 * Frame codec: msgpack bytes ⇄ validated frames. This is the edge: nothing past it sees a
 * value that was not checked against its schema.
 *
 * A WebSocket message holds one frame or an array of frames (a batch: the requests or
 * replies of one tick share one message), in msgpack or in the binary form of the data path
 * (binary-frames.ts; its first byte tells it apart).
 */
import { Packr } from "msgpackr";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { FrameSchemas, type Frame, type FrameType } from "./frames.js";
import { WireCode } from "../errors.js";
import { BINARY_MESSAGE, decodeBinary, encodeBinary } from "./binary-frames.js";
import { Latin1Bytes } from "./latin1-bytes.js";
import { ScanPage } from "./scan-page.js";
import { MAX_FRAMES_PER_MESSAGE } from "../net/limits.js";

// Frames are plain maps; records/structures would make peers depend on shared state.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

const checks = new Map<string, TypeCheck<(typeof FrameSchemas)[FrameType]>>();
for (const [type, schema] of Object.entries(FrameSchemas)) {
  checks.set(type, TypeCompiler.Compile(schema));
}

/** A frame that failed validation, with what the receiver can say back about it. */
export interface FrameProblem {
  /** The request id, when one could be read, so the sender gets a typed error reply. */
  rid: number | undefined;
  code: typeof WireCode.Invalid;
  message: string;
}

export type DecodedItem = { ok: true; frame: Frame } | { ok: false; problem: FrameProblem };

/** Replies whose result holds byte strings ({@link ScanPage}, {@link Latin1Bytes}) carry the bytes, as msgpack has no other way. */
function forMsgpack(f: Frame): Frame {
  if (f.type !== "ok") return f;
  if (f.result instanceof ScanPage) return { ...f, result: f.result.toWire() };
  if (f.result instanceof Latin1Bytes) return { ...f, result: f.result.toBytes() };
  return f;
}
const packOne = (f: Frame): Buffer => packr.pack(forMsgpack(f));
const unpackOne = (b: Buffer): unknown => packr.unpack(b);
const MAX_BATCH = MAX_FRAMES_PER_MESSAGE;

/**
 * Encode one frame or a batch: as msgpack, or with `binary` (for a peer known to read it)
 * in the compact form of binary-frames.ts.
 */
export function encodeFrames(frames: Frame | readonly Frame[], binary = false): Buffer {
  if (binary) return encodeBinary(Array.isArray(frames) ? frames : [frames as Frame], packOne);
  return packr.pack(Array.isArray(frames) ? frames.map(forMsgpack) : forMsgpack(frames as Frame));
}

/** Whether a message is in the binary form (so the peer that sent it reads it too). */
export function isBinaryMessage(data: Uint8Array): boolean {
  return data[0] === BINARY_MESSAGE;
}

/**
 * Decode a WebSocket message. Returns `null` for bytes that are not a frame at all (the
 * receiver closes the socket); otherwise one item per frame, each valid or a problem.
 */
export function decodeMessage(data: Uint8Array): DecodedItem[] | null {
  if (data[0] === BINARY_MESSAGE) {
    const items = decodeBinary(Buffer.from(data.buffer, data.byteOffset, data.byteLength), unpackOne, MAX_BATCH);
    if (items === null || items.length === 0) return null;
    return items.map(validateFrame);
  }
  let raw: unknown;
  try {
    raw = packr.unpack(data);
  } catch {
    return null;
  }
  if (Array.isArray(raw)) {
    if (raw.length === 0 || raw.length > MAX_BATCH) return null;
    return raw.map(validateFrame);
  }
  // msgpackr also yields Dates, Buffers, Maps…: only a plain object can be a frame.
  if (typeof raw !== "object" || raw === null || Object.getPrototypeOf(raw) !== Object.prototype) return null;
  return [validateFrame(raw)];
}

function ridOf(raw: unknown): number | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const rid = (raw as { rid?: unknown }).rid;
  return typeof rid === "number" && Number.isSafeInteger(rid) && rid >= 0 ? rid : undefined;
}

/** Validate one decoded value as a frame. */
export function validateFrame(raw: unknown): DecodedItem {
  const rid = ridOf(raw);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, problem: { rid, code: WireCode.Invalid, message: "frame is not an object" } };
  }
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== "string") {
    return { ok: false, problem: { rid, code: WireCode.Invalid, message: "frame has no string `type`" } };
  }
  const check = checks.get(type);
  if (check === undefined) {
    return { ok: false, problem: { rid, code: WireCode.Invalid, message: `unknown message type ${JSON.stringify(type.slice(0, 64))}` } };
  }
  if (!check.Check(raw)) {
    const first = check.Errors(raw).First();
    const where = first ? `${first.path || "/"}: ${first.message}` : "does not match its schema";
    return { ok: false, problem: { rid, code: WireCode.Invalid, message: `invalid ${type} frame at ${where}` } };
  }
  return { ok: true, frame: raw as Frame };
}
