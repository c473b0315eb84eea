/** Building replies: error frames within the schema's bounds, and a reply's size before it is encoded. */
import { Latin1Bytes } from "../encoding/latin1-bytes.js";
import { ScanPage } from "../encoding/scan-page.js";
import type { FrameOf } from "../protocol/frames.js";
import { RequestSizeError, RetryableError, StorageFullError, wireCodeOf } from "../errors.js";

/** What an error reply says of `err`, besides its request id (also an item of a batch's answer). */
export type WireError = Omit<FrameOf<"err">, "type" | "rid">;

/** The wire form of `err`: its code, its message cut to the schema's bound, and the fields its kind carries. */
export function wireError(err: unknown): WireError {
  const message = err instanceof Error ? err.message : String(err);
  const out: WireError = { code: wireCodeOf(err), message: message.length > 4000 ? `${message.slice(0, 3997)}...` : message };
  if (err instanceof RequestSizeError) {
    out.limit = err.limit;
    out.size = err.size;
  } else if (err instanceof StorageFullError) {
    out.node = err.node;
    out.folder = err.folder;
  } else if (err instanceof RetryableError && err.maybeApplied) {
    out.maybeApplied = true;
  }
  return out;
}

/** An error reply, its message cut to what the frame schema allows. */
export function errFrame(rid: number, code: string, message: string): FrameOf<"err"> {
  return { type: "err", rid, code, message: message.length > 4000 ? `${message.slice(0, 3997)}...` : message };
}

/** Cut `s` to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes - 3) break;
    out += ch;
    bytes += n;
  }
  return `${out}...`;
}

/** A cheap size estimate of a reply, so large replies are not batched past the frame limit. */
export function estimateBytes(v: unknown): number {
  if (v instanceof Uint8Array) return v.byteLength + 16;
  if (v instanceof ScanPage) return v.wireBytes;
  if (v instanceof Latin1Bytes) return v.text.length + 16;
  if (typeof v !== "object" || v === null) return 32;
  let n = 32;
  for (const field of Object.values(v)) {
    if (field instanceof Uint8Array) n += field.byteLength + 8;
    else if (Array.isArray(field)) for (const x of field) n += x instanceof Uint8Array ? x.byteLength + 8 : 16;
    else n += 16;
  }
  return n;
}
