/**
 * A micro-benchmark of a shard's watch path (src/shard/watch-polls.ts), without sockets: one
 * shard leading `--parts` partitions (85: a third of 256), `--dict-watchers` watchers of the
 * whole dict and `--key-watchers` of one key each parked on it, and a writer making one
 * change at a time, each acknowledged at once. Every answer is encoded as the shard sends it
 * and decoded as the SDK reads it, and the watcher asks again from its new positions (that
 * request encoded and decoded too), so a round is: one change, every whole-dict watcher
 * answered once and parked again. Not part of `npm test`:
 * `npm run build && node dist/scripts/bench-watch-polls.js [--writes N]`.
 *
 * Prints the CPU of this process per answer (the shard's work and the frames' encoding and
 * decoding on both sides; the SDK's own bookkeeping is not in it), median of 5 rounds of
 * `--writes` changes.
 */
import { parseArgs } from "node:util";
import { encodeFrames, readMessage } from "../src/protocol/codec.js";
import type { FrameOf } from "../src/protocol/frames.js";
import type { WatchReply } from "../src/protocol/replies.js";
import { encodeKey } from "../src/protocol/keys.js";
import { ChangeHistory, PUT } from "../src/store/change-history.js";
import type { PartitionStore } from "../src/store/partition-store.js";
import { WatchPolls } from "../src/shard/watch-polls.js";
import { systemClock } from "../src/util/clock.js";
import { latin1String } from "../src/encoding/latin1-bytes.js";

const { values: args } = parseArgs({
  options: {
    writes: { type: "string", default: "1000" },
    parts: { type: "string", default: "85" },
    "dict-watchers": { type: "string", default: "100" },
    "key-watchers": { type: "string", default: "33" },
  },
});
const WRITES = Number(args.writes);
const PARTS = Number(args.parts);
const DICT = "bench-dict-id";
const KEYS = 1000;
const VALUE = "x".repeat(100);

/** What the poll path touches of a store: its history and sequence. */
const stores = Array.from({ length: PARTS }, () => ({ history: new ChangeHistory(), version: 0 }));
const storeOf = (p: number) => stores[p] as unknown as PartitionStore;
const keyBytes = Array.from({ length: KEYS }, (_, i) => encodeKey(`wch-${String(i).padStart(12, "0")}`));
const keyStrings = keyBytes.map(latin1String);
const partOfKey = (k: number) => (k * 7) % PARTS;

interface W {
  parts: number[];
  keys: Uint8Array[] | undefined;
  at: Map<number, number>;
}
const watchers: W[] = [];
for (let i = 0; i < Number(args["dict-watchers"]); i++) watchers.push({ parts: Array.from({ length: PARTS }, (_, p) => p), keys: undefined, at: new Map() });
for (let i = 0; i < Number(args["key-watchers"]); i++) {
  const k = Math.floor((i * KEYS) / Number(args["key-watchers"]));
  watchers.push({ parts: [partOfKey(k)], keys: [keyBytes[k] as Uint8Array], at: new Map() });
}

const polls = new WatchPolls(systemClock);
let rid = 0;
let answers = 0;
let events = 0;

function ask(w: W): void {
  const frame: FrameOf<"watch"> = {
    type: "watch",
    rid: ++rid,
    dict: DICT,
    epoch: 1,
    parts: w.parts.map((part) => ({ part, after: w.at.get(part) ?? null })),
    waitMs: w.at.size > 0 ? 30_000 : 0,
    maxEvents: 2_000,
    ...(w.keys && { keys: w.keys }),
  };
  const [item] = readMessage(encodeFrames(frame, true));
  if (!item?.ok) throw new Error(`bad frame: ${JSON.stringify(item)}`);
  const got = (reply: WatchReply) => {
    const [back] = readMessage(encodeFrames({ type: "ok", rid: frame.rid, result: reply }, true));
    if (!back?.ok || back.frame.type !== "ok") throw new Error("bad reply");
    answers++;
    for (const pr of (back.frame.result as WatchReply).parts) {
      w.at.set(pr.part, pr.pos);
      events += pr.ev.length;
    }
    ask(w);
  };
  const r = polls.poll(item.frame as FrameOf<"watch">, storeOf);
  if (r instanceof Promise) void r.then(got);
  else got(r);
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
for (const w of watchers) ask(w);
await tick();

let written = 0;
const perAnswer: number[] = [];
for (let round = 0; round < 6; round++) {
  answers = 0;
  events = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < WRITES; i++, written++) {
    const k = written % KEYS;
    const s = stores[partOfKey(k)] as (typeof stores)[number];
    const seq = ++s.version;
    s.history.append(seq, DICT, PUT, keyStrings[k], VALUE);
    s.history.track(seq, undefined);
    await tick();
  }
  const cpu = process.cpuUsage(cpu0);
  // The first round warms up.
  if (round > 0) perAnswer.push((cpu.user + cpu.system) / answers);
  if (round === 5) console.log(`last round: ${WRITES} changes, ${answers} answers, ${events} events`);
}
perAnswer.sort((a, b) => a - b);
console.log(
  `${watchers.length} watchers (${args["dict-watchers"]} of the dict over ${PARTS} partitions, ${args["key-watchers"]} of a key): ` +
    `${(perAnswer[2] as number).toFixed(1)} µs CPU per answer (median of 5 rounds; ${perAnswer.map((x) => x.toFixed(1)).join(", ")})`,
);
process.exit(0);
