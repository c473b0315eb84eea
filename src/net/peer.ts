/**
 * One WebSocket to a peer, used the same way by every kind of node and by the SDK:
 * requests out with a `rid` and a promise for the reply, requests in to a handler whose
 * result or error goes back as a reply.
 *
 * Frames queued in one turn of the event loop leave as one WebSocket message (a batch), so
 * many concurrent requests cost one write and one decode on each side.
 */
import type WebSocket from "ws";
import { encodeFrames, isBinaryMessage, readMessage, type DecodedItem } from "../protocol/codec.js";
import { DecodeLimitError } from "../encoding/decode-budget.js";
import type { Frame, Outgoing, RequestFrame } from "../protocol/frames.js";
import { newSession, type Session } from "./session.js";
import { ConnectionError, WireCode } from "../errors.js";
import { FRAMES_PER_MESSAGE_SENT } from "./limits.js";
import { RequestGate } from "./request-gate.js";
import { AwaitedReplies, keepAliveWhile } from "./awaited-replies.js";
import type { PeerOptions } from "./peer-options.js";
import { CloseCode } from "./close-codes.js";
import { errFrame, estimateBytes, truncateUtf8, wireError } from "./reply-frames.js";
import type { PeerSocket } from "./peer-socket.js";
export { CloseCode } from "./close-codes.js";
export type { AnswerObserver, PeerOptions, RequestHandler } from "./peer-options.js";
export { truncateUtf8 } from "./reply-frames.js";

/**
 * Replies (with `flow`) larger than this go out as fragments of this size: the slow-reader
 * bound needs some sign of progress from a client that reads a large value slowly.
 */
const SEND_PIECE_BYTES = 1024 * 1024;

let ridCounter = 0;
const defaultRid = () => ++ridCounter;

/** WebSocket messages and the frames in them sent by this process's peers (read by its `/metrics`). */
export const wsSent = { messages: 0, frames: 0 };

/** Peers with frames queued for the next turn's flush ({@link flushAnswersSoon}). */
const flushDue = new Set<{ flushNow(): void }>();
let answersSoon = false;
const flushDueNow = (): void => {
  answersSoon = false;
  for (const p of flushDue) p.flushNow();
};

/**
 * Send what every connection has queued once the current microtasks have run, instead of at
 * the event loop's next turn. A shard calls it when a log round is durable: the round's
 * answers, settled in those microtasks, then leave before the requests that came during
 * the sync are read and handled, so the clients (and, at rf 2, the primaries waiting for a
 * replica's acknowledgement) get them one turn sooner. Everything else keeps the per-turn
 * batching (a connection's gets answered across several messages of one turn leave in one).
 */
export function flushAnswersSoon(): void {
  if (answersSoon) return;
  answersSoon = true;
  process.nextTick(flushDueNow);
}

/**
 * `S` is the socket's type: a `ws` socket on nodes and in the Node SDK (whose servers use
 * more of it than Peer does), any {@link PeerSocket} in the browser SDK.
 */
export class Peer<S extends PeerSocket = WebSocket> {
  readonly ws: S;
  readonly label: string;
  private readonly nextRid: () => number;
  private readonly awaited: AwaitedReplies;
  private queue: Frame[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private closed = false;
  private closeReason = "";
  private binary: boolean;
  private readonly opts: PeerOptions<S>;
  /** What the server that owns this peer knows about the connection. */
  readonly session: Session = newSession();
  /** Requests waiting for the peer to take its replies (with `flow`). */
  private readonly gate: RequestGate<DecodedItem> | undefined;
  private pumping = false;

  constructor(ws: S, opts: PeerOptions<S> = {}) {
    this.ws = ws;
    this.opts = opts;
    this.label = opts.label ?? "peer";
    this.nextRid = opts.nextRid ?? defaultRid;
    this.binary = opts.binary ?? false;
    this.gate = opts.flow ? new RequestGate(opts.flow) : undefined;
    this.awaited = new AwaitedReplies(this.label, () => this.updateRef());
    ws.binaryType = "nodebuffer";
    ws.on("message", (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on("close", (code, reason) => this.onClosed(`closed (${code}${reason.length ? ` ${reason.toString()}` : ""})`));
    ws.on("error", (err) => this.onClosed(`error: ${err.message}`));
    this.updateRef();
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === 1;
  }

  get inFlight(): number {
    return this.awaited.size;
  }

  /**
   * How long this peer's requests have waited on replies it does not read (with `flow`):
   * its socket is not read meanwhile. 0 when they do not wait on that.
   */
  get stalledMs(): number {
    return this.gate?.stalledFor(performance.now()) ?? 0;
  }

  /** Bytes of replies queued or sent but not yet taken by the socket. */
  private unsentBytes(): number {
    return this.queuedBytes + this.ws.bufferedAmount;
  }

  /**
   * Send a request and wait for its reply. Rejects with the typed error of an error reply,
   * or {@link ConnectionError} when the socket closes first or `timeoutMs` passes.
   *
   * On the SDK's hot path two options save work per request: `owned` says the frame is the
   * caller's own fresh object, so the rid is set on it instead of on a copy; `onError` turns
   * a failure into the value to resolve with (a retry, say), instead of a rejection the
   * caller would catch with one more promise. `now` sends it (with whatever is queued) at
   * once instead of at the end of the turn: for a sender about to block its thread.
   */
  request(
    frame: Outgoing,
    opts: { rid?: number; timeoutMs?: number; sizeHint?: number | undefined; owned?: boolean; onError?: (err: Error) => unknown; now?: boolean | undefined } = {},
  ): Promise<unknown> {
    const onError = opts.onError;
    if (this.closed) {
      const err = new ConnectionError(`${this.label}: connection ${this.closeReason || "closed"}`);
      return onError ? Promise.resolve().then(() => onError(err)) : Promise.reject(err);
    }
    const rid = opts.rid ?? this.nextRid();
    return new Promise((resolve, reject) => {
      // A throwing onError must not break whoever is failing every pending request (a close).
      const fail = onError
        ? (err: Error) => {
            try {
              resolve(onError(err));
            } catch (thrown) {
              reject(thrown as Error);
            }
          }
        : reject;
      this.awaited.add(rid, frame.type, opts.timeoutMs, resolve, fail);
      let out: Frame;
      if (opts.owned) {
        out = frame as Frame;
        out.rid = rid;
      } else {
        out = { ...frame, rid } as Frame;
      }
      this.send(out, opts.sizeHint ?? 64);
      if (opts.now === true) this.flush();
    });
  }

  /**
   * Stop waiting for the reply to `rid` (it fails with `err`; a reply that comes later is
   * dropped): a parked request the caller no longer wants must not keep the process alive.
   */
  abandon(rid: number, err: Error): void {
    this.awaited.fail(rid, err);
  }

  /** Queue a frame for the next flush. */
  send(frame: Frame, sizeHint = 64): void {
    if (this.closed) return;
    const batchBytes = this.opts.batchBytes ?? 256 * 1024;
    // A large frame goes alone, so a message never exceeds the largest frame plus framing.
    if (sizeHint >= batchBytes && this.queue.length > 0) this.flush();
    this.queue.push(frame);
    this.queuedBytes += sizeHint;
    if (this.queuedBytes >= batchBytes || this.queue.length >= FRAMES_PER_MESSAGE_SENT) {
      this.flush();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      flushDue.add(this);
      setImmediate(() => this.flush());
    }
  }

  /** Send the queued frames now (flushAnswersSoon). */
  flushNow(): void {
    this.flush();
  }

  private flush(): void {
    this.flushScheduled = false;
    flushDue.delete(this);
    const q = this.queue;
    if (q.length === 0 || this.closed) return;
    this.queue = [];
    this.queuedBytes = 0;
    let bytes: Buffer;
    try {
      bytes = encodeFrames(q.length === 1 ? (q[0] as Frame) : q, this.binary);
    } catch (err) {
      // A frame that cannot be encoded fails its own request, not the connection.
      for (const f of q) this.awaited.fail(f.rid, err as Error);
      return;
    }
    wsSent.messages++;
    wsSent.frames += q.length;
    const gate = this.gate;
    const sent = (err?: Error | null) => {
      if (err) this.onClosed(`send failed: ${err.message}`);
      else if (gate) this.onDrained(gate);
    };
    if (!gate || bytes.length <= SEND_PIECE_BYTES) {
      this.ws.send(bytes, { binary: true }, sent);
      return;
    }
    // A large reply leaves in fragments, so that a client reading it slowly shows progress
    // (each fragment's callback) and is not taken for one that does not read at all.
    for (let at = 0; at < bytes.length; at += SEND_PIECE_BYTES) {
      const end = Math.min(at + SEND_PIECE_BYTES, bytes.length);
      this.ws.send(bytes.subarray(at, end), { binary: true, fin: end === bytes.length }, sent);
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    // Messages the socket had already delivered keep coming after a close: nobody answers them.
    if (this.closed) return;
    if (!isBinary) {
      this.closeWith(CloseCode.InvalidData, "frames are binary msgpack");
      return;
    }
    // What a client sends is held to the message's object budget throughout (a node's
    // replication bodies are bounded by their length instead), and to the frames it may hold.
    let items: DecodedItem[];
    try {
      items = readMessage(data, { node: this.session.role !== "client", maxFrames: this.opts.maxFramesPerMessage });
    } catch (err) {
      if (err instanceof DecodeLimitError && err.kind === "batch") {
        const n = err.size ?? `more than ${err.limit}`;
        this.closeWith(CloseCode.TooBig, `${n} frames in one message: this node takes at most ${err.limit} (maxFramesPerMessage)`);
      } else {
        this.closeWith(CloseCode.InvalidData, "not a shardict frame");
      }
      return;
    }
    if (!this.binary && isBinaryMessage(data)) this.binary = true;
    const gate = this.gate;
    for (const item of items) {
      if (!item.ok) {
        if (item.problem.rid === undefined) {
          this.closeWith(CloseCode.Policy, item.problem.message);
          return;
        }
        // An error reply is a reply too: it waits its turn like the requests around it.
        if (gate) gate.push(item);
        else this.refuse(item.problem.rid, item.problem.code, item.problem.message);
        continue;
      }
      const frame = item.frame;
      if (frame.type === "ok" || frame.type === "err") {
        // Only a reply someone still waits for: a late one (its attempt timed out, a retry
        // is on its way) must not close the request id the retry still uses.
        if (this.awaited.settle(frame) && frame.type === "ok") this.opts.onReplied?.(frame.rid);
      } else if (gate) gate.push(item);
      else this.onRequest(frame);
    }
    if (gate) this.pump(gate);
  }

  /**
   * Start the waiting requests the limits allow, then read the socket only if none is left
   * waiting. (Messages already read keep arriving for a moment after a pause: at most what
   * the socket had delivered.)
   */
  private pump(gate: RequestGate<DecodedItem>): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    try {
      const now = performance.now();
      for (let item = gate.next(this.unsentBytes(), now); item !== undefined; item = gate.next(this.unsentBytes(), now)) {
        if (!item.ok) {
          this.refuse(item.problem.rid as number, item.problem.code, item.problem.message);
          continue;
        }
        // A reply's bytes count once it is queued: handlers answer what needs no I/O at
        // once (not from an async function), so those bytes count before the next request
        // starts; requests that wait for I/O are bounded by the gate's request count.
        this.onRequest(item.frame as RequestFrame);
        if (this.closed) return;
      }
    } finally {
      this.pumping = false;
    }
    const read = gate.waiting === 0;
    if (read === this.ws.isPaused) {
      if (read) this.ws.resume();
      else this.ws.pause();
    }
  }

  private onDrained(gate: RequestGate<DecodedItem>): void {
    if (gate.waiting === 0) return;
    gate.drained(performance.now());
    this.pump(gate);
  }

  /** A request answered later finished: its place may go to a waiting one. */
  private requestEnded(gate: RequestGate<DecodedItem>): void {
    gate.ended();
    if (gate.waiting > 0) this.pump(gate);
  }

  /** Run a request's handler, and reply with its result or error (now, or when its promise settles). */
  private onRequest(frame: RequestFrame): void {
    const handler = this.opts.onRequest;
    if (!handler) {
      this.send(errFrame(frame.rid, WireCode.Invalid, `${frame.type} is not served here`));
      return;
    }
    const observe = this.opts.onAnswer;
    const started = observe === undefined ? 0 : performance.now();
    let result: unknown;
    try {
      result = handler(frame, this);
    } catch (err) {
      const code = this.replyError(frame.rid, err);
      observe?.(frame.type, code, started);
      return;
    }
    if (result instanceof Promise) {
      const gate = this.gate;
      if (gate) {
        gate.began();
        result.then(
          (r: unknown) => {
            this.replyOk(frame.rid, r);
            observe?.(frame.type, undefined, started);
            this.requestEnded(gate);
          },
          (err: unknown) => {
            const code = this.replyError(frame.rid, err);
            observe?.(frame.type, code, started);
            this.requestEnded(gate);
          },
        );
        return;
      }
      result.then(
        (r: unknown) => {
          this.replyOk(frame.rid, r);
          observe?.(frame.type, undefined, started);
        },
        (err: unknown) => {
          const code = this.replyError(frame.rid, err);
          observe?.(frame.type, code, started);
        },
      );
      return;
    }
    this.replyOk(frame.rid, result);
    observe?.(frame.type, undefined, started);
  }

  /** Answer a frame refused before it could run (it failed validation). */
  private refuse(rid: number, code: string, message: string): void {
    this.send(errFrame(rid, code, message));
    this.opts.onAnswer?.(undefined, code, performance.now());
  }

  private replyOk(rid: number, result: unknown): void {
    this.send(result === undefined ? { type: "ok", rid } : { type: "ok", rid, result }, estimateBytes(result));
  }

  /** Send the error reply for `err`; returns its wire code. */
  private replyError(rid: number, err: unknown): string {
    const w = wireError(err);
    if (w.code === WireCode.Internal) console.error(`${this.label}: internal error:`, err);
    this.send({ type: "err", rid, ...w });
    return w.code;
  }

  private onClosed(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.queue = [];
    this.gate?.clear();
    this.awaited.failAll(new ConnectionError(`${this.label}: connection ${reason}`));
    this.opts.onClose?.(this, reason);
  }

  /** Keep the process alive only while replies are awaited (for SDK connections). */
  private updateRef(): void {
    if (this.opts.unrefWhenIdle) this.refed = keepAliveWhile(this.ws, this.awaited.size > 0, this.refed);
  }

  private refed: boolean | undefined;

  /**
   * Close because of what the peer sent. The reason is cut to the 123 bytes a close frame
   * allows (counted in UTF-8, since a peer's text may be anything).
   */
  private closeWith(code: number, reason: string): void {
    this.readAgain();
    try {
      this.ws.close(code, truncateUtf8(reason, 120));
    } catch {
      this.ws.terminate();
    }
    this.onClosed(reason);
  }

  /** Close the socket; pending requests reject with {@link ConnectionError}. */
  close(code: number = CloseCode.Normal, reason = ""): void {
    this.readAgain();
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(code, truncateUtf8(reason, 120));
    this.onClosed(reason || "closed by us");
  }

  /**
   * Close because of what the peer did, and free what it holds at once: the close frame goes
   * out if the socket takes it, but nothing waits for a peer that may never read it.
   */
  drop(code: number, reason: string): void {
    this.closeWith(code, reason);
    this.ws.terminate();
  }

  /** A closing handshake needs the peer's close frame: a socket paused for back-pressure is read again. */
  private readAgain(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  /** Close at once without a closing handshake (a peer that stopped answering). */
  terminate(reason: string): void {
    this.ws.terminate();
    this.onClosed(reason);
  }
}
