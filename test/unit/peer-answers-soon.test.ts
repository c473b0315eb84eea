/**
 * flushAnswersSoon: what connections have queued leaves once the current microtasks have
 * run (a log round's answers, settled in them), not at the event loop's next turn; without
 * it, frames wait for the turn's end as before, so one turn's frames share a message.
 */
import { describe, expect, it } from "vitest";
import { flushAnswersSoon, Peer } from "../../src/net/peer.js";
import type { PeerSocket } from "../../src/net/peer-socket.js";
import { readMessage } from "../../src/protocol/codec.js";

/** The request ids of a sent message's frames. */
const rids = (msg: Uint8Array | undefined) => readMessage(msg as Uint8Array).map((it) => (it.ok ? it.frame.rid : it.problem.rid));

/** A socket that keeps what is sent on it. */
function recordingSocket(): PeerSocket & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  return {
    sent,
    binaryType: "nodebuffer",
    readyState: 1,
    bufferedAmount: 0,
    isPaused: false,
    on: () => undefined,
    send: (data, _opts, cb) => {
      sent.push(data);
      cb();
    },
    pause: () => undefined,
    resume: () => undefined,
    close: () => undefined,
    terminate: () => undefined,
  };
}

const ok = (rid: number) => ({ type: "ok", rid, value: null }) as const;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("flushAnswersSoon", () => {
  it("sends every connection's queued frames after the microtasks, before the next turn", async () => {
    const a = recordingSocket();
    const b = recordingSocket();
    const pa = new Peer(a);
    const pb = new Peer(b);
    let turnEnded = false;
    setImmediate(() => (turnEnded = true));
    pa.send(ok(1));
    flushAnswersSoon();
    // Answers settled in the microtasks after the call go in the same message.
    await Promise.resolve().then(() => {
      pa.send(ok(2));
      pb.send(ok(3));
    });
    expect(a.sent).toHaveLength(0);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(turnEnded).toBe(false);
    expect(a.sent).toHaveLength(1);
    expect(b.sent).toHaveLength(1);
    expect(rids(a.sent[0])).toEqual([1, 2]);
    // The turn's own flush then finds nothing left to send.
    await nextTurn();
    expect(a.sent).toHaveLength(1);
    pa.close();
    pb.close();
  });

  it("without it, a turn's frames wait for the turn's end and leave in one message", async () => {
    const s = recordingSocket();
    const p = new Peer(s);
    p.send(ok(1));
    await new Promise<void>((resolve) => process.nextTick(resolve));
    await Promise.resolve().then(() => p.send(ok(2)));
    expect(s.sent).toHaveLength(0);
    await nextTurn();
    expect(s.sent).toHaveLength(1);
    expect(rids(s.sent[0])).toEqual([1, 2]);
    p.close();
  });

  it("frames queued after the early flush wait for their own turn", async () => {
    const s = recordingSocket();
    const p = new Peer(s);
    p.send(ok(1));
    flushAnswersSoon();
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(s.sent).toHaveLength(1);
    p.send(ok(2));
    // The early flush was for what was queued then: a later frame is not sent early too.
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(s.sent).toHaveLength(1);
    await nextTurn();
    expect(s.sent).toHaveLength(2);
    expect(rids(s.sent[1])).toEqual([2]);
    p.close();
  });
});
