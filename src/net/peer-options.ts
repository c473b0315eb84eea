/** How a {@link Peer} is set up. */
import type { RequestFrame } from "../protocol/frames.js";
import type { Peer } from "./peer.js";
import type { GateLimits } from "./request-gate.js";
import type { PeerSocket } from "./peer-socket.js";
import type WebSocket from "ws";

/**
 * Told of each answer sent to a request: the request's type (undefined for a frame refused
 * as invalid before it could run), the error code sent (undefined for "ok"), and
 * `performance.now()` when the request started.
 */
export type AnswerObserver = (type: string | undefined, code: string | undefined, startedAt: number) => void;

/** Handles one incoming request; its return value is the reply's `result`. */
export type RequestHandler<S extends PeerSocket = WebSocket> = (frame: RequestFrame, peer: Peer<S>) => unknown;

export interface PeerOptions<S extends PeerSocket = WebSocket> {
  /** Where request ids come from (client-wide, so a retry can reuse one). */
  nextRid?: () => number;
  onRequest?: RequestHandler<S>;
  /** Called once per answer to an incoming request (metrics); costs nothing when unset. */
  onAnswer?: AnswerObserver;
  /** Told the id of each `ok` reply to this peer's own requests (the SDK's request window); costs nothing when unset. */
  onReplied?: (rid: number) => void;
  /** Let the process exit while nothing is in flight (SDK connections). */
  unrefWhenIdle?: boolean;
  /** Called once when the socket closes, with the reason. */
  onClose?: (peer: Peer<S>, reason: string) => void;
  /** A frame above this many bytes is flushed on its own. */
  batchBytes?: number;
  /**
   * Send the data path in binary (binary-frames.ts) from the start: for connections we open
   * to our own nodes. Otherwise a peer is answered in binary once it has sent binary itself.
   */
  binary?: boolean;
  label?: string;
  /** A message with more frames than this closes the connection (1009). */
  maxFramesPerMessage?: number;
  /**
   * Back-pressure on the peer's requests (a node's client connections): past either limit
   * its requests wait and its socket is not read until replies drain (request-gate.ts).
   */
  flow?: GateLimits;
}
