/**
 * What `ws` holds of a connection's input that is not a message yet: the fragments of an
 * unfinished message plus bytes read but not parsed (a frame still arriving). `ws` has no
 * public API for it; its receiver keeps both counts (ws 8: `_messageLength`, `_bufferedBytes`).
 * test/unit/unfinished-input.test.ts checks them against real frames, so an upgrade of `ws`
 * that renames them fails a test instead of silently disabling the bound.
 */
import type WebSocket from "ws";

interface ReceiverCounts {
  _messageLength?: unknown;
  _bufferedBytes?: unknown;
}

export function unfinishedBytesOf(ws: WebSocket): number {
  const r = (ws as unknown as { _receiver?: ReceiverCounts | null })._receiver;
  if (!r) return 0;
  const fragments = typeof r._messageLength === "number" ? r._messageLength : 0;
  const unparsed = typeof r._bufferedBytes === "number" ? r._bufferedBytes : 0;
  return fragments + unparsed;
}
