/**
 * What a {@link Peer} needs of its WebSocket. A `ws` socket is one as it is (nodes and the
 * Node SDK pass theirs straight in, at no cost); the browser SDK passes an adapter over the
 * browser's own `WebSocket` (src/browser/browser-socket.ts). Only the members Peer uses are
 * here, so an adapter cannot miss one.
 */
import type WebSocket from "ws";

export interface PeerSocket {
  /** `ws` takes "nodebuffer"; an adapter may ignore it (it hands Peer byte arrays anyway). */
  binaryType: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed (the WebSocket standard's numbers). */
  readonly readyState: number;
  readonly bufferedAmount: number;
  /** Whether reading is paused (back-pressure; only peers with `flow`, which clients never have). */
  readonly isPaused: boolean;
  on(event: "message", listener: (data: unknown, isBinary: boolean) => void): unknown;
  on(event: "close", listener: (code: number, reason: Buffer) => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  /** Send bytes; `fin: false` sends a fragment (only peers with `flow` do that). */
  send(data: Uint8Array, options: { binary: boolean; fin?: boolean }, cb: (err?: Error | null) => void): void;
  pause(): void;
  resume(): void;
  close(code?: number, reason?: string): void;
  /** Close at once, without a closing handshake where the platform allows it. */
  terminate(): void;
}

/** A compile-time check that a `ws` socket is a {@link PeerSocket} without an adapter. */
export type WsIsPeerSocket = WebSocket extends PeerSocket ? true : never;
const wsIsPeerSocket: WsIsPeerSocket = true;
void wsIsPeerSocket;
