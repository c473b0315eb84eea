/**
 * `shardict dict export`: every entry of a dict, partition by partition, each partition from
 * one point in time (the shard captures it at the first page: see
 * src/store/export-sessions.ts; if the capture is lost, because the partition moved or its
 * shard failed, the partition starts over and what was read of it is dropped). So each
 * partition's entries are exactly those live at one moment, with the values they had then;
 * different partitions are read at different moments (no write is half in and half out of a
 * partition, but two writes to different partitions may be seen one without the other).
 *
 * NDJSON: a header line `{"$export": {…}}`, then one `{"key", "value", "ttlMs"?, "expiresInMs"}`
 * per entry in the tagged form. msgpack: the same header, then `{k, v, t?, l}` per entry with
 * key and value as the SDK's own bytes (nothing decoded, nothing lost).
 */
import type { Writable } from "node:stream";
import { Packr } from "msgpackr";
import { clientOf, type Client } from "../client/client.js";
import type { Dict } from "../client/dict.js";
import { routeOf } from "../client/routing.js";
import { decodeValue } from "../client/value-codec.js";
import { decodeKey } from "../protocol/keys.js";
import { checkReply } from "../protocol/replies.js";
import { toTagged } from "./tagged-json.js";
import type { Progress } from "./progress.js";

export type ExportFormat = "ndjson" | "msgpack";
/** Plain msgpack maps (no msgpackr records, which a reader would need the writer's state for). */
export const EXPORT_MSGPACK = { useRecords: false } as const;
const packr = new Packr(EXPORT_MSGPACK);
const pack = (v: unknown): Buffer => packr.pack(v);
export const EXPORT_VERSION = 1;
const PAGE = 1000;

export interface ExportHeader {
  format: number;
  dict: string | null;
  id: string;
  exportedAt: string;
  partitions: number;
}

interface Row {
  key: Uint8Array;
  value: Uint8Array;
  left: number;
  ttl: number;
}

/** Write every entry of `d` (hydrated) to `out`; resolves to the number of entries. */
export async function exportDict(client: Client, d: Dict, out: Writable, format: ExportFormat, bar: Progress, pageSize = PAGE): Promise<number> {
  const c = clientOf(client);
  const id = d.objectId;
  const parts = c.table.partitions;
  const header: ExportHeader = { format: EXPORT_VERSION, dict: d.name, id, exportedAt: new Date().toISOString(), partitions: parts };
  await write(out, format === "ndjson" ? `${JSON.stringify({ $export: header })}\n` : pack({ $export: header }));
  let n = 0;
  for (let part = 0; part < parts; part++) {
    const rows = await partitionRows(client, id, part, pageSize);
    if (rows.length > 0) {
      if (format === "ndjson") await write(out, rows.map((r) => ndjsonLine(client, d, r)).join(""));
      else await write(out, Buffer.concat(rows.map((r) => pack({ k: r.key, v: r.value, l: r.left, ...(r.ttl !== 0 && { t: r.ttl }) }))));
    }
    n += rows.length;
    bar.add(rows.length);
  }
  return n;
}

/** One partition's entries from one capture, started over if the capture is lost. */
async function partitionRows(client: Client, id: string, part: number, pageSize: number): Promise<Row[]> {
  const c = clientOf(client);
  for (;;) {
    const rows: Row[] = [];
    let session: string | undefined;
    let from = 0;
    for (;;) {
      const reply = checkReply(
        "exportPage",
        await c.dataRequest((t) => ({ shard: routeOf(t, part), frame: { type: "exportPage", dict: id, part, epoch: t.epoch, from, limit: pageSize, ...(session !== undefined && { session }) } })),
      );
      if ("restart" in reply) break;
      reply.keys.forEach((key, i) => rows.push({ key, value: reply.values[i] as Uint8Array, left: reply.left[i] as number, ttl: reply.ttl[i] as number }));
      if (reply.next === null) return rows;
      from = reply.next;
      session = reply.session;
    }
  }
}

function ndjsonLine(client: Client, d: Dict, r: Row): string {
  const key = decodeKey(r.key);
  const value = decodeValue(r.value, clientOf(client), d.name ?? d.objectId, key);
  return `${JSON.stringify({ key: toTagged(key), value: toTagged(value), ...(r.ttl !== 0 && { ttlMs: r.ttl }), expiresInMs: Math.round(r.left) })}\n`;
}

function write(out: Writable, chunk: string | Uint8Array): Promise<void> | void {
  if (out.write(chunk)) return;
  return new Promise((resolve) => out.once("drain", resolve));
}
