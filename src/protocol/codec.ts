/**
 * Frame codec: msgpack bytes ⇄ validated frames. This is the edge: nothing past it sees a
 * value that was not checked against its schema.
 *
 * A WebSocket message holds one frame or an array of frames (a batch: the requests or
 * replies of one tick share one message), in msgpack or in the binary form of the data path
 * (binary-frames.ts; its first byte tells it apart).
 *
 * Decoding is bounded: msgpack is scanned (msgpack-bounds.ts, with the frame rules of
 * decode-limits.ts) before msgpackr reads it, and one object budget covers the whole
 * message, binary items included. A message that is not frames at all (or too large to
 * decode) is refused whole; a frame that breaks a rule is answered like an invalid frame.
 */
import { Packr } from "msgpackr";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { FrameSchemas, type Frame, type FrameType } from "./frames.js";
import { WireCode } from "../errors.js";
import { BINARY_MESSAGE, decodeBinary, encodeBinary } from "./binary-frames.js";
import { DecodeLimitError, ObjectBudget } from "../encoding/decode-budget.js";
import { scanMsgpack, type MsgpackRules } from "../encoding/msgpack-bounds.js";
import { ridAt, skipValue } from "../encoding/msgpack-skip.js";
import { EMBEDDED_FRAME_RULES, FRAME_MAX_OBJECTS, FRAME_RULES, MAX_BATCH } from "../encoding/decode-limits.js";
import { Latin1Bytes } from "../encoding/latin1-bytes.js";
import { ScanPage } from "../encoding/scan-page.js";

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

export interface DecodeOptions {
  /**
   * Whether the sender authenticated as a node (default). Replication bodies, which only
   * nodes send, batch many writes: from a node they are bounded by their own length (see
   * log-record.ts), from anyone else by the message's object budget like all the rest.
   */
  node?: boolean;
  /**
   * Frames a message may hold (the node's `maxFramesPerMessage`); default, and at most,
   * MAX_BATCH. Checked from a msgpack batch's header before any frame is decoded, and while
   * reading a binary one: past it a `DecodeLimitError` of kind `batch`.
   */
  maxFrames?: number | undefined;
}

/** The frame rules with a lower batch limit, one object per limit (nodes use one or two). */
const rulesByBatch = new Map<number, MsgpackRules>([[MAX_BATCH, FRAME_RULES]]);
function frameRules(maxFrames: number): MsgpackRules {
  let rules = rulesByBatch.get(maxFrames);
  if (!rules) rulesByBatch.set(maxFrames, (rules = { ...FRAME_RULES, maxBatch: Math.min(maxFrames, MAX_BATCH) }));
  return rules;
}

/**
 * Decode a WebSocket message. Returns `null` for bytes that are not a frame at all (the
 * receiver closes the socket); otherwise one item per frame, each valid or a problem.
 */
export function decodeMessage(data: Uint8Array, opts: DecodeOptions = {}): DecodedItem[] | null {
  try {
    return readMessage(data, opts);
  } catch {
    return null;
  }
}

/**
 * {@link decodeMessage}, throwing a {@link DecodeLimitError} (or msgpackr's error) for a
 * message that is not a frame at all. Every byte is checked (msgpack-bounds.ts) before
 * msgpackr decodes it: the object budget, the batch length and the frame rules hold while
 * reading, so a hostile message is refused before it allocates.
 */
export function readMessage(data: Uint8Array, opts: DecodeOptions = {}): DecodedItem[] {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const budget = new ObjectBudget(FRAME_MAX_OBJECTS, "a message");
  const maxFrames = Math.min(opts.maxFrames ?? MAX_BATCH, MAX_BATCH);
  if (buf[0] === BINARY_MESSAGE) {
    const items = decodeBinary(buf, { maxItems: maxFrames, budget, unpack: unpackEmbedded, node: opts.node ?? true });
    if (items.length === 0) throw new DecodeLimitError("format", "an empty binary message");
    return items.map((it) => (it instanceof RefusedFrame ? refusedItem(it.rid, it.message) : validateFrame(it)));
  }
  const scan = scanMsgpack(buf, frameRules(maxFrames), budget);
  if (scan.batch === 0) throw new DecodeLimitError("format", "an empty batch");
  if (scan.batch > 0) {
    const refused = scan.refused;
    if (refused === undefined) return (packr.unpack(buf) as unknown[]).map(validateFrame);
    // Some frames broke a rule: those are answered with their rid, the others decoded alone.
    const out: DecodedItem[] = [];
    let at = scan.first;
    for (let i = 0; i < scan.batch; i++) {
      const end = skipValue(buf, at, buf.length);
      const why = refused.get(i);
      out.push(why === undefined ? validateFrame(packr.unpack(buf.subarray(at, end))) : refusedItem(ridAt(buf, at, end), why));
      at = end;
    }
    return out;
  }
  const why = scan.refused?.get(0);
  if (why !== undefined) {
    // Only a map can be a frame: anything else is not one at all, as below.
    if (!isMapByte(buf[0] as number)) throw new DecodeLimitError("format", why);
    return [refusedItem(ridAt(buf, 0, buf.length), why)];
  }
  const raw: unknown = packr.unpack(buf);
  // msgpackr also yields Dates, Buffers, Maps…: only a plain object can be a frame.
  if (typeof raw !== "object" || raw === null || Object.getPrototypeOf(raw) !== Object.prototype) {
    throw new DecodeLimitError("format", "a message that is neither a frame nor a batch");
  }
  return [validateFrame(raw)];
}

/** An embedded frame refused for its content, with what the sender is told. */
class RefusedFrame {
  constructor(
    readonly rid: number | undefined,
    readonly message: string,
  ) {}
}

const isMapByte = (t: number): boolean => (t >= 0x80 && t <= 0x8f) || t === 0xde || t === 0xdf;

/** A frame embedded as msgpack in a binary message: scanned under the message's budget. */
function unpackEmbedded(b: Buffer, budget: ObjectBudget): unknown {
  const scan = scanMsgpack(b, EMBEDDED_FRAME_RULES, budget);
  const why = scan.refused?.get(0);
  if (why !== undefined) return new RefusedFrame(ridAt(b, 0, b.length), why);
  return packr.unpack(b);
}

function refusedItem(rid: number | undefined, message: string): DecodedItem {
  return { ok: false, problem: { rid: validRid(rid), code: WireCode.Invalid, message } };
}

const validRid = (rid: unknown): number | undefined => (typeof rid === "number" && Number.isSafeInteger(rid) && rid >= 0 ? rid : undefined);

function ridOf(raw: unknown): number | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  return validRid((raw as { rid?: unknown }).rid);
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
