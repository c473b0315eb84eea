/**
 * One server process of `npm run bench:floor` (forked by scripts/bench-floor.ts with the path
 * of its file): the least a durable put costs Node, without shardict's work on it.
 *
 * It takes WebSocket messages of puts (floor-wire.ts), appends everything an event-loop turn
 * brought to a preallocated file with one `writeSync` and one inline `fdatasync`, and answers
 * each connection with one message of the ids. At rf 2 it is also the replica of other
 * servers' puts, as a shard is: each turn's puts leave for their replicas as one message per
 * peer before the turn's sync (so the two syncs overlap), a replica appends what it received
 * to the same round as its own puts and acknowledges each message after that round's sync,
 * and a put is answered once its own sync and its replica's acknowledgement are both in.
 * Bookkeeping is per message and round, never per put: the floor under what a shard does.
 */
import { fdatasyncSync, ftruncateSync, openSync, writeSync } from "node:fs";
import WebSocket, { WebSocketServer, type RawData } from "ws";
import { PUT_HEAD, replicaOf, type FloorSetup, type FromServer } from "./floor-wire.js";

const FILE_BYTES = 64 * 1024 * 1024;

/** Puts answered together: those of one turn with the same replica (rf 2), or of one round (rf 1). */
interface Group {
  ids: Map<WebSocket, number[]>;
  /** Events still awaited: this server's sync, and at rf 2 the replica's acknowledgement. */
  left: number;
}

function preallocated(path: string): number {
  const fd = openSync(path, "w+");
  ftruncateSync(fd, FILE_BYTES);
  // Written full of zeros first, as shardict's segments are: a sync then writes no metadata.
  const zeros = Buffer.alloc(1 << 20);
  for (let at = 0; at < FILE_BYTES; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
  fdatasyncSync(fd);
  return fd;
}

function addId(g: Group, ws: WebSocket, id: number): void {
  const list = g.ids.get(ws);
  if (list) list.push(id);
  else g.ids.set(ws, [id]);
}

function u32s(xs: readonly number[]): Buffer {
  const b = Buffer.allocUnsafe(xs.length * 4);
  for (let i = 0; i < xs.length; i++) b.writeUInt32LE(xs[i] as number, i * 4);
  return b;
}

export function serve(path: string): void {
  const fd = preallocated(path);
  let setup: FloorSetup = { rf: 1, ports: [], self: 0, replicas: "spread" };
  let at = 0;
  let rounds = 0;
  let messages = 0;
  let appended = 0;
  let nextSeq = 1;
  /** This round's appends: this server's puts and, at rf 2, the copies it holds for others. */
  let bodies: Buffer[] = [];
  /** This round's own puts, by group; and the groups whose copies leave this turn, by peer. */
  let own: Group[] = [];
  let toPeer = new Map<number, { group: Group; puts: Buffer[] }>();
  /** Copies held in this round, to acknowledge after its sync: their sequence numbers, by sender. */
  let acksDue = new Map<WebSocket, number[]>();
  /** Groups whose copies are out, by sequence number. */
  const awaiting = new Map<number, Group>();
  const peers: WebSocket[] = [];
  let answers = new Map<WebSocket, number[]>();
  let scheduled = false;
  let answersScheduled = false;

  const send = (ws: WebSocket, b: Buffer): void => {
    messages++;
    ws.send(b, { binary: true });
  };
  const flushAnswers = (): void => {
    answersScheduled = false;
    const to = answers;
    answers = new Map();
    for (const [ws, ids] of to) send(ws, u32s(ids));
  };
  const settle = (g: Group): void => {
    if (--g.left > 0) return;
    for (const [ws, ids] of g.ids) {
      const list = answers.get(ws);
      if (list) for (const id of ids) list.push(id);
      else answers.set(ws, ids);
    }
  };
  const round = (): void => {
    scheduled = false;
    rounds++;
    // The copies leave first: the replicas sync them while this server syncs its own.
    for (const [peer, out] of toPeer) {
      const seq = nextSeq++;
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32LE(seq, 0);
      awaiting.set(seq, out.group);
      send(peers[peer] as WebSocket, Buffer.concat([head, ...out.puts]));
    }
    toPeer = new Map();
    const all = Buffer.concat(bodies);
    bodies = [];
    if (at + all.length > FILE_BYTES) at = 0;
    writeSync(fd, all, 0, all.length, at);
    at += all.length;
    appended += all.length;
    fdatasyncSync(fd);
    const done = own;
    own = [];
    for (const g of done) settle(g);
    const acks = acksDue;
    acksDue = new Map();
    for (const [ws, seqs] of acks) send(ws, u32s(seqs));
    flushAnswers();
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(round);
  };

  const fromClient = (ws: WebSocket, data: Buffer): void => {
    bodies.push(data);
    if (setup.rf === 1) {
      let g = own[0];
      if (!g) own.push((g = { ids: new Map(), left: 1 }));
      for (let at = 0; at + PUT_HEAD <= data.length; at += PUT_HEAD + data.readUInt32LE(at + 4)) addId(g, ws, data.readUInt32LE(at));
    } else {
      for (let at = 0; at + PUT_HEAD <= data.length; ) {
        const id = data.readUInt32LE(at);
        const end = at + PUT_HEAD + data.readUInt32LE(at + 4);
        const peer = replicaOf(setup.self, setup.ports.length, id, setup.replicas);
        let out = toPeer.get(peer);
        if (!out) {
          out = { group: { ids: new Map(), left: 2 }, puts: [] };
          toPeer.set(peer, out);
          own.push(out.group);
        }
        addId(out.group, ws, id);
        out.puts.push(data.subarray(at, end));
        at = end;
      }
    }
    schedule();
  };
  const fromPrimary = (ws: WebSocket, data: Buffer): void => {
    bodies.push(data.subarray(4));
    const seqs = acksDue.get(ws);
    if (seqs) seqs.push(data.readUInt32LE(0));
    else acksDue.set(ws, [data.readUInt32LE(0)]);
    schedule();
  };
  const fromReplica = (data: Buffer): void => {
    for (let i = 0; i + 4 <= data.length; i += 4) {
      const seq = data.readUInt32LE(i);
      const g = awaiting.get(seq);
      awaiting.delete(seq);
      if (g) settle(g);
    }
    if (!answersScheduled && !scheduled && answers.size > 0) {
      answersScheduled = true;
      setImmediate(flushAnswers);
    }
  };

  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false }, () => {
    const address = wss.address();
    process.send?.({ port: address === null || typeof address === "string" ? 0 : address.port } satisfies FromServer);
  });
  wss.on("connection", (ws, req) => {
    const handle = req.url === "/peer" ? fromPrimary : fromClient;
    ws.on("message", (raw: RawData) => handle(ws, raw as Buffer));
  });
  process.on("message", (m: unknown) => {
    if (m === "counts") {
      process.send?.({ rounds, messages, appended } satisfies FromServer);
      return;
    }
    setup = m as FloorSetup;
    if (setup.rf === 1) {
      process.send?.({ ready: true } satisfies FromServer);
      return;
    }
    void Promise.all(
      setup.ports.map((port, i) => {
        if (i === setup.self) return undefined;
        const ws = new WebSocket(`ws://127.0.0.1:${port}/peer`, { perMessageDeflate: false });
        peers[i] = ws;
        ws.on("message", (raw: RawData) => fromReplica(raw as Buffer));
        return new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
      }),
    ).then(() => process.send?.({ ready: true } satisfies FromServer));
  });
}

serve(process.argv[2] as string);
