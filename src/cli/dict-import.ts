/**
 * `shardict dict import`: load an export (dict-export.ts) into a dict in `update` batches.
 * Every entry is written as a write would be: it gets its own TTL back if it had one, and a
 * fresh idle period either way. Resumable: after each batch is acknowledged (and every batch
 * before it: a few are in flight at once), the number of entries done is kept in
 * `FILE.import-progress.json`; a run that finds it (for the same
 * dict) skips that many entries and goes on, and removes it at the end. Writing a batch twice
 * is harmless (puts), so an interruption at any point loses nothing and duplicates nothing.
 */
import { createReadStream, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { UnpackrStream } from "msgpackr";
import { decodeValue } from "../client/value-codec.js";
import { clientOf, type Client } from "../client/client.js";
import { decodeKey, type DictKey } from "../protocol/keys.js";
import { Dict } from "../client/dict.js";
import { fromTagged, type Json } from "./tagged-json.js";
import { UsageError } from "./cli-exit.js";
import { EXPORT_MSGPACK, type ExportFormat } from "./dict-export.js";
import type { Progress } from "./progress.js";

const BATCH = 1000;
/** Batches sent before the oldest must have landed. */
const IN_FLIGHT = 4;

interface Entry {
  key: DictKey;
  value: unknown;
  ttl: number;
}

interface Checkpoint {
  dict: string;
  done: number;
}

function progressFile(file: string): string {
  return `${file}.import-progress.json`;
}

/** Import `file` into `d` (hydrated); resolves to entries written and entries skipped as already done. */
export async function importDict(client: Client, d: Dict, file: string, format: ExportFormat, bar: Progress): Promise<{ written: number; resumed: number }> {
  const cp = progressFile(file);
  const resumed = readCheckpoint(cp, d.objectId);
  let seen = 0;
  let done = resumed;
  let batch: Entry[] = [];
  // A few batches in flight; the checkpoint only ever counts batches acknowledged in order.
  const inFlight: { size: number; landed: Promise<void> }[] = [];
  const settleOldest = async () => {
    const oldest = inFlight.shift();
    if (!oldest) return;
    await oldest.landed;
    done += oldest.size;
    bar.add(oldest.size);
    writeCheckpoint(cp, { dict: d.objectId, done });
  };
  const flush = async () => {
    // One update per TTL: entries with their own TTL get it back.
    const byTtl = new Map<number, Entry[]>();
    for (const e of batch) (byTtl.get(e.ttl) ?? byTtl.set(e.ttl, []).get(e.ttl))?.push(e);
    const landed = Promise.all([...byTtl].map(([ttl, es]) => d.update(es.map((e) => [e.key, e.value] as const), undefined, ttl === 0 ? {} : { ttlMs: ttl }))).then(() => {});
    landed.catch(() => {}); // awaited in order by settleOldest
    inFlight.push({ size: batch.length, landed });
    batch = [];
    if (inFlight.length >= IN_FLIGHT) await settleOldest();
  };
  for await (const e of entries(client, file, format)) {
    if (seen++ < resumed) continue;
    batch.push(e);
    if (batch.length >= BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  while (inFlight.length > 0) await settleOldest();
  rmSync(cp, { force: true });
  return { written: done - resumed, resumed };
}

async function* entries(client: Client, file: string, format: ExportFormat): AsyncGenerator<Entry> {
  const handles = (id: string) => Dict.fromId(id, { client });
  if (format === "ndjson") {
    let line = 0;
    for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      line++;
      if (text.trim() === "") continue;
      let j: unknown;
      try {
        j = JSON.parse(text);
      } catch (err) {
        throw new UsageError(`${file}:${line}: not JSON (${(err as Error).message})`);
      }
      if (typeof j !== "object" || j === null || Array.isArray(j)) throw new UsageError(`${file}:${line}: not an entry`);
      const o = j as Record<string, Json>;
      if ("$export" in o) continue;
      if (!("key" in o) || !("value" in o)) throw new UsageError(`${file}:${line}: an entry needs "key" and "value"`);
      yield { key: fromTagged(o.key as Json) as DictKey, value: fromTagged(o.value as Json, handles), ttl: ttlOf(o.ttlMs, `${file}:${line}`) };
    }
    return;
  }
  let n = 0;
  const c = clientOf(client);
  for await (const item of createReadStream(file).pipe(new UnpackrStream(EXPORT_MSGPACK))) {
    n++;
    const o = item as Record<string, unknown>;
    if (typeof o !== "object" || o === null) throw new UsageError(`${file}: item ${n} is not an entry`);
    if ("$export" in o) continue;
    if (!(o.k instanceof Uint8Array) || !(o.v instanceof Uint8Array)) throw new UsageError(`${file}: item ${n} needs key and value bytes`);
    const key = decodeKey(o.k);
    yield { key, value: decodeValue(o.v, c, file, key), ttl: ttlOf(o.t, `${file}: item ${n}`) };
  }
}

function ttlOf(t: unknown, where: string): number {
  if (t === undefined) return 0;
  if (typeof t === "number" && Number.isInteger(t) && t > 0) return t;
  throw new UsageError(`${where}: ttlMs must be a positive integer`);
}

function readCheckpoint(path: string, dict: string): number {
  if (!existsSync(path)) return 0;
  const cp = JSON.parse(readFileSync(path, "utf8")) as Partial<Checkpoint>;
  if (cp.dict !== dict || typeof cp.done !== "number") throw new UsageError(`${path} is the progress of an import into another dict: remove it to start over`);
  return cp.done;
}

function writeCheckpoint(path: string, cp: Checkpoint): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(cp));
  renameSync(`${path}.tmp`, path);
}
