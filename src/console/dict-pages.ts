/**
 * The console's dict browser on the SDK's requests: pages of a dict's entries, one key's
 * entry, and values shown readably (the CLI's tagged JSON, so Dates, bigints, Maps, bytes and
 * Dict handles all show, and nothing a dict holds can fail the page).
 *
 * A page walks the partitions in order, as `d.items()` does, and its continuation is where
 * it stopped: a partition, the last key it returned there and the shard's scan session, in
 * an opaque token. What one page costs is bounded: at most {@link MAX_PAGE} entries, at most
 * {@link MAX_SCANS} scan requests (empty partitions are asked {@link PARALLEL_SCANS} at a
 * time), and only values up to {@link PAGE_DECODE_BYTES} are decoded (a larger one shows its
 * size; looking its key up shows it).
 */
import { Dict } from "../client/dict.js";
import type { ClusterClient } from "../client/client.js";
import { decodeValue, HANDLE_ID } from "../client/value-codec.js";
import { routeOf } from "../client/routing.js";
import { fromTagged, toTagged, type Json } from "../cli/tagged-json.js";
import { InvalidError } from "../errors.js";
import { partitionOf } from "../hashing/hash.js";
import { decodeKey, encodeKey, type DictKey } from "../protocol/keys.js";
import { checkReply, type ScanPageReply } from "../protocol/replies.js";

/** Entries per page, at most (and by default {@link DEFAULT_PAGE}). */
export const MAX_PAGE = 100;
export const DEFAULT_PAGE = 50;
/** Scan requests one page may make (empty partitions cost one each). */
export const MAX_SCANS = 256;
/** Partitions whose first page is asked for at once while a page is still short. */
export const PARALLEL_SCANS = 8;
/** Values decoded in a page at most this large; larger ones show their size only. */
export const PAGE_DECODE_BYTES = 64 * 1024;
/** A looked-up value is decoded up to this size. */
export const LOOKUP_DECODE_BYTES = 4 * 1024 * 1024;
/** Characters of a value's JSON shown in a page / for a lookup; the rest is cut. */
export const PAGE_VALUE_CHARS = 2_000;
export const LOOKUP_VALUE_CHARS = 256 * 1024;
/** A key's JSON longer than this is cut in a page (and cannot be looked up from there). */
export const KEY_CHARS = 2_000;
/** The longest continuation token taken (a URL must carry it). */
const MAX_TOKEN_CHARS = 8_192;

/** How a key or value reads in the console. */
export interface Shown {
  /** Tagged JSON (a string value is its JSON string), cut to the limit; null when not decoded. */
  json: string | null;
  /** What it is: `string`, `number`, `Map(3)`, `Date`, `Uint8Array(16)`, `Dict`, … */
  type: string;
  truncated?: true;
  /** Why it could not be shown (it could not be decoded, or is too large for a page). */
  note?: string;
}

export interface EntryRow {
  key: Shown;
  value: Shown;
  /** The stored value's size in bytes. */
  bytes: number;
}

export interface EntriesPage {
  entries: EntryRow[];
  /** The token of the next page; null after the last. */
  next: string | null;
  /** Partitions walked so far (of `partitions`): how far through the dict this page ends. */
  progress: { part: number; partitions: number };
}

interface Position {
  part: number;
  after: Uint8Array | null;
  session: string | null;
}

export function encodePageToken(pos: Position): string {
  const after = pos.after === null ? null : Buffer.from(pos.after).toString("base64url");
  return Buffer.from(JSON.stringify([pos.part, after, pos.session])).toString("base64url");
}

/** The position a token names; {@link InvalidError} for anything that is not one of ours. */
export function decodePageToken(token: string, partitions: number): Position {
  const bad = (why: string) => new InvalidError(`bad page token: ${why}`);
  if (token.length > MAX_TOKEN_CHARS) throw bad("too long");
  if (!/^[A-Za-z0-9_-]*$/.test(token)) throw bad("not base64url");
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad("not a token of this console");
  }
  if (!Array.isArray(raw) || raw.length !== 3) throw bad("not a token of this console");
  const [part, after, session] = raw as unknown[];
  if (typeof part !== "number" || !Number.isInteger(part) || part < 0 || part >= partitions) throw bad("no such partition");
  if (after !== null && (typeof after !== "string" || !/^[A-Za-z0-9_-]*$/.test(after))) throw bad("bad position");
  if (session !== null && (typeof session !== "string" || session.length > 64)) throw bad("bad session");
  return { part, after: after === null ? null : new Uint8Array(Buffer.from(after, "base64url")), session };
}

/** One scan page of partition `part` (at most `limit` entries), through the SDK's retries. */
async function scanPage(client: ClusterClient, dict: string, pos: Position, limit: number): Promise<ScanPageReply & { part: number }> {
  const reply = await client.dataRequest((t) => ({
    shard: routeOf(t, pos.part),
    frame: { type: "scan", dict, part: pos.part, epoch: t.epoch, after: pos.after, limit, values: true, ...(pos.session !== null && { session: pos.session }) },
  }));
  return { ...checkReply("scan", reply), part: pos.part };
}

/** A page of dict `dict`'s entries from `token` (the first page when null). */
export async function entriesPage(client: ClusterClient, dict: string, token: string | null, limit: number): Promise<EntriesPage> {
  await client.ready();
  const partitions = client.table.partitions;
  let pos: Position = token === null ? { part: 0, after: null, session: null } : decodePageToken(token, partitions);
  const rows: EntryRow[] = [];
  let scans = 0;
  while (rows.length < limit && pos.part < partitions && scans < MAX_SCANS) {
    const need = limit - rows.length;
    // Within a partition, one page after another; from a partition's start, several
    // partitions at once (most are empty in a small dict), taken in order.
    const batch: Position[] = [pos];
    if (pos.after === null) {
      for (let p = pos.part + 1; p < partitions && batch.length < Math.min(PARALLEL_SCANS, MAX_SCANS - scans); p++) batch.push({ part: p, after: null, session: null });
    }
    scans += batch.length;
    const pages = await Promise.all(batch.map((b) => scanPage(client, dict, b, need)));
    for (const page of pages) {
      // Each page of the batch was asked for what the whole page still needed.
      const n = Math.min(limit - rows.length, page.keys.length);
      for (let i = 0; i < n; i++) rows.push(entryRow(client, dict, page.keys[i] as Uint8Array, page.values[i]));
      if (n < page.keys.length) {
        pos = { part: page.part, after: page.keys[n - 1] as Uint8Array, session: page.session };
        break;
      }
      if (page.next !== null) {
        // More in this partition: the next page starts there (the later partitions asked
        // for in this batch are asked again then).
        pos = { part: page.part, after: page.next, session: page.session };
        break;
      }
      pos = { part: page.part + 1, after: null, session: null };
      if (rows.length >= limit) break;
    }
  }
  return { entries: rows, next: pos.part < partitions ? encodePageToken(pos) : null, progress: { part: pos.part, partitions } };
}

/** A row of a page: the key and, if small enough, the value decoded and shown. */
function entryRow(client: ClusterClient, dict: string, keyBytes: Uint8Array, valueBytes: Uint8Array | undefined): EntryRow {
  let key: DictKey | undefined;
  let keyShown: Shown;
  try {
    key = decodeKey(keyBytes);
    keyShown = show(key, KEY_CHARS);
  } catch (err) {
    keyShown = { json: null, type: "?", note: `the key could not be decoded: ${(err as Error).message}` };
  }
  const bytes = valueBytes?.byteLength ?? 0;
  if (valueBytes === undefined) return { key: keyShown, value: { json: null, type: "?", note: "no value in the scan" }, bytes };
  return { key: keyShown, value: showValue(client, dict, key, valueBytes, PAGE_DECODE_BYTES, PAGE_VALUE_CHARS), bytes };
}

export interface LookedUp {
  found: boolean;
  key: Shown;
  value?: Shown;
  bytes?: number;
  /** The entry's version (opaque) and when it expires unless used. */
  version?: string;
  expiresAt?: string;
}

/** Parse a key given as tagged JSON text (`"name"`, `42`, `["a",1]`, `{"$bigint":"7"}`). */
export function parseKey(text: string): DictKey {
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch {
    throw new InvalidError(`the key is not JSON (a string key is written with its quotes: "name")`);
  }
  const key = fromTagged(json, () => {
    throw new InvalidError("a Dict handle cannot be a key");
  });
  encodeKey(key); // throws InvalidError for what cannot be a key
  return key as DictKey;
}

/**
 * The entry at `key`: a read like `d.getEntry(key)`, so it moves the entry's expiry as any
 * read does. Values up to {@link LOOKUP_DECODE_BYTES} are decoded.
 */
export async function lookUp(client: ClusterClient, dict: string, key: DictKey): Promise<LookedUp> {
  const kb = encodeKey(key);
  const reply = checkReply(
    "getEntry",
    await client.dataRequest((t) => {
      const part = partitionOf(dict, kb, t.partitions);
      return { shard: routeOf(t, part), frame: { type: "getEntry", dict, part, epoch: t.epoch, key: kb } };
    }),
  );
  const keyShown = show(key, LOOKUP_VALUE_CHARS);
  if (reply === null) return { found: false, key: keyShown };
  return {
    found: true,
    key: keyShown,
    value: showValue(client, dict, key, reply.v, LOOKUP_DECODE_BYTES, LOOKUP_VALUE_CHARS),
    bytes: reply.v.byteLength,
    version: String(reply.ver),
    expiresAt: new Date(reply.exp).toISOString(),
  };
}

function showValue(client: ClusterClient, dict: string, key: unknown, bytes: Uint8Array, maxBytes: number, maxChars: number): Shown {
  if (bytes.byteLength > maxBytes) return { json: null, type: "?", note: `${bytes.byteLength} bytes: too large to show here${maxBytes === PAGE_DECODE_BYTES ? " (look its key up)" : ""}` };
  let value: unknown;
  try {
    value = decodeValue(bytes, client, dict, key);
  } catch (err) {
    return { json: null, type: "?", note: (err as Error).message };
  }
  return show(value, maxChars);
}

/** A decoded key or value as tagged JSON, cut at `maxChars`. */
export function show(v: unknown, maxChars: number): Shown {
  const type = typeOf(v);
  let json: string;
  try {
    json = JSON.stringify(toTagged(v));
  } catch (err) {
    return { json: null, type, note: (err as Error).message };
  }
  return json.length > maxChars ? { json: json.slice(0, maxChars), type, truncated: true } : { json, type };
}

/** A short name of what a value is. */
export function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  if (HANDLE_ID in v || v instanceof Dict) return "Dict";
  if (Array.isArray(v)) return `Array(${v.length})`;
  if (v instanceof Map || v instanceof Set) return `${v.constructor.name}(${v.size})`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.byteLength})`;
  if (v instanceof ArrayBuffer) return `ArrayBuffer(${v.byteLength})`;
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" && name !== "Object" ? name : "object";
}
