/**
 * What a client may do with a request whose attempt failed: the at-most-once rule, stated
 * once per request type, next to the frame schemas (frames.ts) it covers.
 *
 * - `read`: changes nothing a client can observe (a read moves an entry's expiry, which a
 *   second read moves again): repeat it freely.
 * - `once`: a write the node answers at most once per (client, request id): every answer is
 *   kept with the mutation, on disk and on the replicas, so a repeat with the same id gets the
 *   first answer. Repeat it with the same id; if an attempt that was sent failed without an
 *   answer, it may have taken effect.
 * - `idempotent`: a write that is the same done twice (`clear`): repeat it; a sent attempt
 *   without an answer may have taken effect.
 * - `unsafe`: a registry write whose repeat is not recognised (creating or deleting a dict):
 *   repeated only when it was never sent; a sent attempt without an answer is surfaced.
 */
import type { Outgoing, RequestFrame } from "./frames.js";

export type RequestPolicy = "read" | "once" | "idempotent" | "unsafe";

const POLICIES: Partial<Record<RequestFrame["type"], RequestPolicy>> = {
  hello: "read",
  heartbeat: "read",
  done: "read",
  status: "read",
  "table.get": "read",
  "dict.get": "read",
  "dict.list": "read",
  "dict.create": "unsafe",
  "dict.delete": "unsafe",
  "dict.deleteId": "unsafe",
  "ephemeral.create": "unsafe",
  get: "read",
  contains: "read",
  len: "read",
  scan: "read",
  put: "once",
  del: "once",
  pop: "once",
  update: "once",
  updateParts: "once",
  clear: "idempotent",
  getEntry: "read",
  putEntry: "once",
  delEntry: "once",
  incr: "once",
  touch: "read",
  awaitChange: "read",
  watch: "read",
  exportPage: "read",
  hotKeys: "read",
};

/** The policy of a request a client sends. */
export function policyOf(frame: Outgoing): RequestPolicy {
  // A lookup that may create the dict is a registry write.
  if (frame.type === "dict.lookup") return frame.createIfMissing ? "unsafe" : "read";
  const p = POLICIES[frame.type];
  if (p === undefined) throw new Error(`no retry policy for ${frame.type}`);
  return p;
}

/** Whether an attempt that was sent and got no answer may have taken effect. */
export function mayApply(policy: RequestPolicy): boolean {
  return policy === "once" || policy === "idempotent";
}
