/**
 * The requests a peer sent and still waits on: each settles once, by its reply, its
 * timeout, or the connection closing. One sweep timer per busy connection instead of a
 * timer per request (which costs more than the request on a hot path).
 */
import { ConnectionError, errorFromWire } from "../errors.js";
import type { FrameOf } from "../protocol/frames.js";
import { unrefTimer } from "../util/unref-timer.js";
import { RidTable } from "./rid-table.js";

interface Awaited {
  resolve(result: unknown): void;
  reject(err: Error): void;
  /** performance.now() after which it fails (Infinity: never), and what to say then. */
  deadline: number;
  type: string;
  timeoutMs: number;
}

/** How often a connection looks for requests past their timeout. */
const TIMEOUT_SWEEP_MS = 50;

export class AwaitedReplies {
  /** Not a Map: see rid-table.ts (a Map here made the SDK's client fall into slow phases). */
  private readonly byRid = new RidTable<Awaited>();
  private sweeper: NodeJS.Timeout | undefined;

  /** `onCountChange`: called after every change of how many are awaited (ref/unref the socket). */
  constructor(
    private readonly label: string,
    private readonly onCountChange: () => void,
  ) {}

  get size(): number {
    return this.byRid.size;
  }

  /** Wait for the reply to `rid` (of a `type` request), failing after `timeoutMs` if given. */
  add(rid: number, type: string, timeoutMs: number | undefined, resolve: (r: unknown) => void, reject: (err: Error) => void): void {
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
    this.byRid.set(rid, { resolve, reject, deadline, type, timeoutMs: timeoutMs ?? Number.POSITIVE_INFINITY });
    if (timeoutMs !== undefined && !this.sweeper) {
      this.sweeper = unrefTimer(setInterval(() => this.sweep(), TIMEOUT_SWEEP_MS));
    }
    this.onCountChange();
  }

  /** A reply arrived; one after its request's timeout finds nobody waiting (false). */
  settle(frame: FrameOf<"ok"> | FrameOf<"err">): boolean {
    const p = this.byRid.delete(frame.rid);
    if (!p) return false;
    this.onCountChange();
    if (frame.type === "ok") p.resolve(frame.result);
    else p.reject(errorFromWire(frame.code, frame.message, frame));
    return true;
  }

  /** Fail the request `rid` (it could not be sent). */
  fail(rid: number, err: Error): void {
    const p = this.byRid.delete(rid);
    if (!p) return;
    this.onCountChange();
    p.reject(err);
  }

  /** The connection closed: every request fails with `err`. */
  failAll(err: Error): void {
    const all = this.byRid.drain();
    this.stop();
    for (const p of all) p.reject(err);
  }

  private sweep(): void {
    const now = performance.now();
    let waiting = false;
    const late: Awaited[] = [];
    this.byRid.forEach((p, rid) => {
      if (p.deadline > now) {
        if (p.deadline !== Number.POSITIVE_INFINITY) waiting = true;
        return;
      }
      this.byRid.delete(rid);
      late.push(p);
    });
    for (const p of late) p.reject(new ConnectionError(`${this.label}: no reply to ${p.type} within ${p.timeoutMs} ms`));
    this.onCountChange();
    if (!waiting) this.stop();
  }

  private stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/**
 * Let the process exit while `busy` is false (an SDK connection with nothing awaited).
 * `was` is what it was last set to: only a change reaches the socket (this runs for every
 * request and reply). Returns the new state.
 */
export function keepAliveWhile(ws: object, busy: boolean, was: boolean | undefined): boolean | undefined {
  if (busy === was) return was;
  const sock = (ws as { _socket?: { ref(): void; unref(): void } })._socket;
  if (!sock) return was;
  if (busy) sock.ref();
  else sock.unref();
  return busy;
}
