/**
 * A watch's `initial` snapshot: every partition's entries as of one moment each (the export
 * capture, see export-sessions.ts), with the partition's watch position of that moment, so
 * the live stream continues exactly after what the snapshot showed.
 *
 * Every partition is captured first (its first page, small), so every position is known
 * before the first event is shown (each event's cursor needs them all); the rest of each
 * capture is read page by page as the consumer takes the entries.
 */
import { checkReply, type ReplyOf } from "../../protocol/replies.js";
import type { ClusterClient } from "../cluster-client.js";
import { routeOf } from "../routing.js";

type ExportReply = Extract<ReplyOf<"exportPage">, { session: string }>;

/** Entries of a first page: enough to learn the position without holding much. */
const FIRST_PAGE = 256;
const PAGE = 2_000;
/** Partitions captured at once. */
const CONCURRENCY = 16;

/** A capture that is gone before it was read to the end (the partition moved): start over. */
export class CaptureLost extends Error {}

export interface SnapshotPage {
  keys: Uint8Array[];
  values: Uint8Array[];
  ver: number[];
}

export interface Captured {
  /** Per partition: the position the capture stands for. */
  pos: Map<number, number>;
  /** The entries, page by page (read lazily after the first). */
  pages(): AsyncGenerator<SnapshotPage>;
}

function exportPage(client: ClusterClient, id: string, part: number, from: number, limit: number, session?: string): Promise<ReplyOf<"exportPage">> {
  return client
    .dataRequest((t) => ({
      shard: routeOf(t, part),
      frame: { type: "exportPage", dict: id, part, epoch: t.epoch, from, limit, ...(session !== undefined && { session }) },
    }))
    .then((r) => checkReply("exportPage", r));
}

export async function capture(client: ClusterClient, id: string, parts: readonly number[]): Promise<Captured> {
  const firsts = new Map<number, ExportReply>();
  let next = 0;
  const worker = async () => {
    while (next < parts.length) {
      const part = parts[next++] as number;
      const r = await exportPage(client, id, part, 0, FIRST_PAGE);
      // A first page always starts a capture; a node too old to give the position cannot be watched from a snapshot.
      if ("restart" in r || r.pos === undefined) throw new CaptureLost(`partition ${part} gave no capture position`);
      firsts.set(part, r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, parts.length) }, worker));
  const pos = new Map<number, number>();
  for (const [part, r] of firsts) pos.set(part, r.pos as number);
  async function* pages(): AsyncGenerator<SnapshotPage> {
    for (const part of parts) {
      let page = firsts.get(part) as ExportReply;
      firsts.delete(part);
      for (;;) {
        yield { keys: page.keys, values: page.values, ver: page.ver };
        if (page.next === null) break;
        const r = await exportPage(client, id, part, page.next, PAGE, page.session);
        if ("restart" in r) throw new CaptureLost(`the capture of partition ${part} is gone`);
        page = r;
      }
    }
  }
  return { pos, pages };
}
