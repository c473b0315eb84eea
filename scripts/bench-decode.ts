/**
 * A micro-benchmark of the decoders a peer reaches: frames (binary and msgpack), replication
 * bodies, and values (decode, and the SDK's encode with its bounds check). Not part of
 * `npm test`: `npm run build && node dist/scripts/bench-decode.js [--ms N]`.
 *
 * Prints per case the operations per second and the MB/s of input decoded: the best of
 * eight timed rounds after a warm-up round (the best, as other processes only slow a round).
 */
import { decodeMessage, encodeFrames } from "../src/protocol/codec.js";
import type { Frame } from "../src/protocol/frames.js";
import { decodeValue, encodeValueNow } from "../src/client/value-codec.js";
import { encodeKey } from "../src/protocol/keys.js";

const argMs = process.argv.indexOf("--ms");
const ROUND_MS = argMs > 0 ? Number(process.argv[argMs + 1]) : 300;

function measure(name: string, bytes: number, run: () => unknown): void {
  const rates: number[] = [];
  for (let round = 0; round < 9; round++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ROUND_MS) {
      for (let i = 0; i < 16; i++) run();
      n += 16;
      now = performance.now();
    }
    if (round > 0) rates.push((n * 1000) / (now - start));
  }
  const ops = Math.max(...rates);
  console.log(`${name.padEnd(46)} ${ops.toFixed(0).padStart(10)} ops/s ${((ops * bytes) / 2 ** 20).toFixed(1).padStart(8)} MB/s`);
}

const dict = "d-0123456789abcdef";
const key = (i: number) => Buffer.from(encodeKey(`key-${i}`));
const value100 = Buffer.from(encodeValueNow("v".repeat(100)) as Uint8Array);

const gets: Frame[] = Array.from({ length: 1000 }, (_, i) => ({ type: "get", rid: i + 1, dict, part: i % 256, epoch: 3, key: key(i) }));
const puts: Frame[] = Array.from({ length: 1000 }, (_, i) => ({ type: "put", rid: i + 1, dict, part: i % 256, epoch: 3, key: key(i), value: value100, ifAbsent: false }));
const update: Frame = {
  type: "updateParts",
  rid: 1,
  op: 1,
  dict,
  epoch: 3,
  parts: Array.from({ length: 100 }, (_, p) => ({ part: p, keys: Array.from({ length: 100 }, (_, i) => key(p * 100 + i)), values: Array.from({ length: 100 }, () => value100) })),
};
const repl: Frame = {
  type: "replb",
  rid: 1,
  items: [
    {
      part: 5,
      pepoch: 2,
      muts: Array.from({ length: 1000 }, (_, i) => ({ op: "set" as const, part: 5, dict, gen: 0, key: key(i), value: value100, deadline: 1e13, ver: i + 1, ttl: 0 })),
    },
  ],
};
const table: Frame = {
  type: "shard.table",
  rid: 1,
  table: {
    epoch: 9,
    partitions: 65536,
    owners: Array.from({ length: 65536 }, (_, i) => [String(i % 3), String((i + 1) % 3), String((i + 2) % 3)]),
    pepochs: Array.from({ length: 65536 }, () => 1),
    learners: Array.from({ length: 65536 }, () => []),
    shards: ["0", "1", "2"].map((id) => ({ id, url: `ws://127.0.0.1:770${id}` })),
  },
};

const cases: [string, Buffer][] = [
  ["binary: 1000 gets", encodeFrames(gets, true)],
  ["binary: 1000 puts (100 B values)", encodeFrames(puts, true)],
  ["binary: updateParts 10,000 entries", encodeFrames([update], true)],
  ["binary: repl 1000 sets", encodeFrames([repl], true)],
  ["msgpack: 1000 gets", encodeFrames(gets)],
  ["msgpack: 1000 puts (100 B values)", encodeFrames(puts)],
  ["msgpack: table of 65,536 partitions", encodeFrames(table)],
];
for (const [name, bytes] of cases) {
  if (decodeMessage(bytes)?.every((it) => it.ok) !== true) throw new Error(`${name} does not decode`);
  measure(`decode ${name}`, bytes.length, () => decodeMessage(bytes));
}

const record = { id: 12345, name: "Ada Lovelace", tags: ["math", "engines"], active: true, score: 98.5, address: { city: "London", zip: "W1" } };
const records = Array.from({ length: 10_000 }, (_, i) => ({ id: i, name: `n${i}`, ok: i % 2 === 0 }));
const values: [string, unknown][] = [
  ["string of 100 chars", "v".repeat(100)],
  ["object (~120 B)", record],
  ["Map of 100 entries", new Map(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]))],
  ["array of 10,000 records", records],
  ["Uint8Array of 64 KiB", new Uint8Array(65536)],
];
for (const [name, v] of values) {
  const bytes = encodeValueNow(v) as Uint8Array;
  measure(`value decode: ${name}`, bytes.length, () => decodeValue(bytes, undefined, "d", "k"));
  measure(`value encode (SDK put): ${name}`, bytes.length, () => encodeValueNow(v));
}
