/**
 * A browser's WebSocket as a {@link PeerSocket}, so the SDK's Peer runs over it unchanged.
 * Messages arrive as ArrayBuffers and are handed on as (bundled, not Node's) Buffers over
 * the same memory: the codec reads them with Buffer's methods.
 */
import type { PeerSocket } from "../net/peer-socket.js";

type MessageListener = (data: unknown, isBinary: boolean) => void;
type CloseListener = (code: number, reason: Buffer) => void;
type ErrorListener = (err: Error) => void;

/** Close codes a page may send (the WebSocket standard refuses others with an exception). */
const sendable = (code: number): boolean => code === 1000 || (code >= 3000 && code <= 4999);

export class BrowserSocket implements PeerSocket {
  /** Ignored: messages are always handed on as Buffers. */
  binaryType = "nodebuffer";
  /** A browser cannot stop reading a socket; only peers with `flow` (a node's) ever pause. */
  readonly isPaused = false;
  private readonly messageListeners: MessageListener[] = [];
  private readonly closeListeners: CloseListener[] = [];
  private readonly errorListeners: ErrorListener[] = [];

  /** `ws` must be open, with binaryType "arraybuffer". */
  constructor(private readonly ws: WebSocket) {
    ws.onmessage = (ev: MessageEvent) => {
      const data: unknown = ev.data;
      const binary = data instanceof ArrayBuffer;
      const bytes = binary ? Buffer.from(data) : Buffer.from(String(data), "utf8");
      for (const l of this.messageListeners) l(bytes, binary);
    };
    ws.onclose = (ev: { code: number; reason: string }) => {
      const reason = Buffer.from(ev.reason, "utf8");
      for (const l of this.closeListeners) l(ev.code, reason);
    };
    // The event says nothing more (browsers keep the cause to themselves); a close follows.
    ws.onerror = () => {
      for (const l of this.errorListeners) l(new Error("WebSocket error"));
    };
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  on(event: "message", listener: MessageListener): this;
  on(event: "close", listener: CloseListener): this;
  on(event: "error", listener: ErrorListener): this;
  on(event: "message" | "close" | "error", listener: MessageListener | CloseListener | ErrorListener): this {
    if (event === "message") this.messageListeners.push(listener as MessageListener);
    else if (event === "close") this.closeListeners.push(listener as CloseListener);
    else this.errorListeners.push(listener as ErrorListener);
    return this;
  }

  /** Whole messages only: fragments (`fin: false`) are for peers with `flow`, never a client. */
  send(data: Uint8Array, _options: { binary: boolean; fin?: boolean }, cb: (err?: Error | null) => void): void {
    try {
      this.ws.send(data);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }

  pause(): void {}

  resume(): void {}

  close(code?: number, reason?: string): void {
    try {
      this.ws.close(code !== undefined && sendable(code) ? code : 1000, reason);
    } catch {
      this.ws.close();
    }
  }

  /** A page has no way to drop a connection without the closing handshake: close it. */
  terminate(): void {
    this.close(1000);
  }
}
