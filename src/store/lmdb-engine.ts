/**
 * Shard storage on LMDB (the `lmdb` package): a memory-mapped B+tree with ACID
 * transactions. Writes queued in one event-loop turn share one transaction, committed and
 * fsynced by lmdb's writer thread (group commit), so durability costs one flush per batch,
 * not per request.
 *
 * Layout, in one environment per node:
 * - `entries`: `dict ␀ part(u16) gen(u32) keyBytes` → `flags(u8) deadline(f64) [keyLen(u32) key] value`.
 *   Keys too long for LMDB (1978 bytes) are stored under `0xff sha256(key)` with the full key
 *   in the record. Ordering by dict, then partition, then generation makes `clear` (drop
 *   older generations) and dict deletion (drop the dict prefix) plain range deletions.
 * - `meta` (msgpack values): `gen ␀ dict ␀ part` → current generation; `dict ␀ id` → 1 for
 *   dicts this node knows; `dropped ␀ id` → 1 until a deleted dict's entries are purged.
 */
import { createHash } from "node:crypto";
import { open, type Database, type RootDatabase } from "lmdb";
import { generationKey, type Mutation, type RecoveredState, type StorageEngine, type StoredEntry } from "./storage-engine.js";

const MAX_INLINE_KEY = 1900;
const HASHED = 0xff;
const FLAG_FULL_KEY = 1;
/** Entries removed per background transaction: small enough to keep the loop responsive. */
const PURGE_BATCH = 2000;

function dictPrefix(dict: string): Buffer {
  return Buffer.from(`${dict}\u0000`, "latin1");
}

function entryKey(dict: string, part: number, gen: number, key: Uint8Array): Buffer {
  const prefix = dictPrefix(dict);
  const inline = key.byteLength <= MAX_INLINE_KEY;
  const tail = inline ? key : Buffer.concat([Buffer.from([HASHED]), createHash("sha256").update(key).digest()]);
  const out = Buffer.allocUnsafe(prefix.length + 6 + tail.byteLength);
  prefix.copy(out, 0);
  out.writeUInt16BE(part, prefix.length);
  out.writeUInt32BE(gen, prefix.length + 2);
  out.set(tail, prefix.length + 6);
  return out;
}

function rangeOf(dict: string, part: number, gen: number): Buffer {
  const prefix = dictPrefix(dict);
  const out = Buffer.allocUnsafe(prefix.length + 6);
  prefix.copy(out, 0);
  out.writeUInt16BE(part, prefix.length);
  out.writeUInt32BE(gen, prefix.length + 2);
  return out;
}

function encodeRecord(deadline: number, value: Uint8Array, key: Uint8Array): Buffer {
  const full = key.byteLength > MAX_INLINE_KEY;
  const head = full ? 13 + key.byteLength : 9;
  const out = Buffer.allocUnsafe(head + value.byteLength);
  out[0] = full ? FLAG_FULL_KEY : 0;
  out.writeDoubleBE(deadline, 1);
  if (full) {
    out.writeUInt32BE(key.byteLength, 9);
    out.set(key, 13);
  }
  out.set(value, head);
  return out;
}

function decodeEntry(k: Buffer, rec: Buffer): StoredEntry {
  const sep = k.indexOf(0);
  const dict = k.toString("latin1", 0, sep);
  const part = k.readUInt16BE(sep + 1);
  const gen = k.readUInt32BE(sep + 3);
  const deadline = rec.readDoubleBE(1);
  if (rec[0] === FLAG_FULL_KEY) {
    const len = rec.readUInt32BE(9);
    return { dict, part, gen, deadline, key: rec.subarray(13, 13 + len), value: rec.subarray(13 + len) };
  }
  return { dict, part, gen, deadline, key: k.subarray(sep + 7), value: rec.subarray(9) };
}

type PurgeJob = { start: Buffer; end: Buffer; after?: () => Promise<unknown> };

export class LmdbEngine implements StorageEngine {
  readonly durable = true;
  private readonly root: RootDatabase;
  private readonly entries: Database<Buffer, Buffer>;
  private readonly meta: Database<unknown, string>;
  /** `at(15 digits):id` → answer: time-ordered, so old answers go with one range. */
  private readonly dedup: Database<unknown, string>;
  private readonly jobs: PurgeJob[] = [];
  private purging: Promise<void> | undefined;
  private closed = false;
  readonly tight = false;

  /** `onFatal`: a transaction failed (fail-stop, see the log engine). */
  constructor(
    path: string,
    private readonly onFatal?: (err: Error) => void,
  ) {
    // overlappingSync off: a commit's promise resolves only once it is fsynced.
    this.root = open({ path, overlappingSync: false, noSync: false });
    this.entries = this.root.openDB<Buffer, Buffer>("entries", { keyEncoding: "binary", encoding: "binary" });
    this.meta = this.root.openDB<unknown, string>("meta", { encoding: "msgpack" });
    this.dedup = this.root.openDB<unknown, string>("dedup", { encoding: "msgpack" });
  }

  /**
   * Queue mutations for the transaction of this turn. Every commit of one event-loop turn
   * (all the requests of one received batch, across partitions) lands in one LMDB
   * transaction with one fsync; left to itself lmdb's writer thread would start committing
   * the first writes while later ones of the same turn are still being decoded.
   */
  commit(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve();
    for (const m of mutations) this.queued.push(m);
    if (!this.turn) {
      this.turn = new Promise<void>((resolve, reject) => {
        queueMicrotask(() => {
          const batch = this.queued;
          this.queued = [];
          this.turn = undefined;
          this.write(batch).then(resolve, (err: unknown) => {
            this.onFatal?.(err as Error);
            reject(err as Error);
          });
        });
      });
    }
    return this.turn;
  }

  private queued: Mutation[] = [];
  private turn: Promise<void> | undefined;

  /** LMDB grows its file as it goes: a full disk shows up as a failed transaction (fail-stop). */
  reserve(): undefined {
    return undefined;
  }
  release(): void {}

  private async write(batch: readonly Mutation[]): Promise<void> {
    const after: PurgeJob[] = [];
    await this.root.transaction(() => {
      for (const m of batch) {
        switch (m.op) {
          case "set":
            this.entries.put(entryKey(m.dict, m.part, m.gen, m.key), encodeRecord(m.deadline, m.value, m.key));
            break;
          case "delete":
            this.entries.remove(entryKey(m.dict, m.part, m.gen, m.key));
            break;
          case "clear":
            this.meta.put(`gen\u0000${m.dict}\u0000${m.part}`, m.gen);
            after.push({ start: rangeOf(m.dict, m.part, 0), end: rangeOf(m.dict, m.part, m.gen) });
            break;
          case "addDict":
            this.meta.put(`dict\u0000${m.dict}`, 1);
            break;
          case "dropDict":
            this.meta.remove(`dict\u0000${m.dict}`);
            this.meta.put(`dropped\u0000${m.dict}`, 1);
            after.push(this.dropJob(m.dict));
            break;
          case "dedup":
            if (m.memoryOnly) break;
            // The partition rides along in the answer object (`p`), so the record can move with it.
            this.dedup.put(`${String(m.at).padStart(15, "0")}:${m.id}`, m.part === undefined ? m.answer : { ...(m.answer as object), p: m.part });
            break;
        }
      }
    });
    // Only once the new generation / drop marker is durable may old data be removed.
    for (const job of after) this.schedule(job);
  }

  private dropJob(dict: string): PurgeJob {
    const start = dictPrefix(dict);
    const end = Buffer.from(`${dict}\u0001`, "latin1");
    return {
      start,
      end,
      after: async () => {
        for (const key of this.meta.getKeys({ start: `gen\u0000${dict}\u0000`, end: `gen\u0000${dict}\u0001` })) this.meta.remove(key);
        await this.meta.remove(`dropped\u0000${dict}`);
      },
    };
  }

  private schedule(job: PurgeJob): void {
    this.jobs.push(job);
    if (!this.purging) this.purging = this.runPurges().finally(() => (this.purging = undefined));
  }

  private async runPurges(): Promise<void> {
    for (let job = this.jobs.shift(); job !== undefined && !this.closed; job = this.jobs.shift()) {
      for (;;) {
        const keys = [...this.entries.getKeys({ start: job.start, end: job.end, limit: PURGE_BATCH, snapshot: false })];
        if (keys.length === 0 || this.closed) break;
        let last: Promise<unknown> = Promise.resolve();
        for (const k of keys) last = this.entries.remove(k);
        await last;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (!this.closed) await job.after?.();
    }
  }

  expireDedup(before: number): void {
    const end = String(before).padStart(15, "0");
    let last: Promise<unknown> | undefined;
    for (const key of this.dedup.getKeys({ end, snapshot: false })) last = this.dedup.remove(key);
    last?.catch(() => {});
  }

  recover(): RecoveredState {
    const dedup: RecoveredState["dedup"] = [];
    for (const { key, value } of this.dedup.getRange({})) {
      const sep = key.indexOf(":");
      const { p, ...answer } = value as { p?: number };
      dedup.push({ at: Number(key.slice(0, sep)), id: key.slice(sep + 1), answer, ...(typeof p === "number" && { part: p }) });
    }
    const generations = new Map<string, number>();
    const dropped = new Set<string>();
    const dicts: string[] = [];
    for (const { key, value } of this.meta.getRange({})) {
      const [kind, a, b] = key.split("\u0000");
      if (kind === "gen" && a !== undefined && b !== undefined) generations.set(generationKey(Number(b), a), value as number);
      else if (kind === "dict" && a !== undefined) dicts.push(a);
      else if (kind === "dropped" && a !== undefined) dropped.add(a);
    }
    for (const d of dropped) this.schedule(this.dropJob(d));
    const stale = new Set<string>();
    const entries = this.entries;
    const engine = this;
    function* live(): Generator<StoredEntry> {
      for (const { key, value } of entries.getRange({ snapshot: false })) {
        const e = decodeEntry(key, value);
        if (dropped.has(e.dict)) continue;
        const current = generations.get(generationKey(e.part, e.dict)) ?? 0;
        if (e.gen === current) {
          yield e;
          continue;
        }
        const id = generationKey(e.part, e.dict);
        if (!stale.has(id) && e.gen < current) {
          stale.add(id);
          engine.schedule({ start: rangeOf(e.dict, e.part, 0), end: rangeOf(e.dict, e.part, current) });
        }
      }
    }
    return { entries: live(), generations, dicts, dedup };
  }

  async idle(): Promise<void> {
    while (this.purging) await this.purging;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.purging;
    await this.root.close();
  }
}
