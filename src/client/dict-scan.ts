/**
 * Iteration over a dict: every partition in turn, a page at a time in key order, with the
 * next pages fetched while the caller consumes the current one.
 */
import { DictError } from "../errors.js";
import { routeOf } from "./routing.js";
import type { Client } from "./client.js";

/** Entries per scan page: large enough to amortise a round trip, small enough to stream. */
const SCAN_PAGE = 5000;
/** Partitions whose first page is fetched ahead of the one being consumed. */
const SCAN_LOOKAHEAD = 3;

export interface ScanPageReply {
  keys: Uint8Array[];
  values: Uint8Array[];
  /** The position (a key) the next page of this partition starts after; null when done. */
  next: Uint8Array | null;
  session: string;
}

/**
 * The pages of dict `id`. The position is a key, not a node: when a partition moves (or
 * fails over) mid-iteration, the next page comes from its new owner, after the same key, so
 * an entry present for the whole iteration is returned exactly once.
 */
export async function* scanPages(client: Client, id: string, values: boolean): AsyncGenerator<ScanPageReply & { part: number }> {
  const partitions = client.table.partitions;
  const fetch = (part: number, after: Uint8Array | null, session: string | undefined) =>
    client
      .dataRequest((t) => ({
        shard: routeOf(t, part),
        frame: { type: "scan", dict: id, part, epoch: t.epoch, after, limit: SCAN_PAGE, values, ...(session !== undefined && { session }) },
      }))
      .then((r) => {
        const page = r as ScanPageReply;
        if (typeof page !== "object" || page === null || !Array.isArray(page.keys) || !Array.isArray(page.values) || typeof page.session !== "string") {
          throw new DictError("unexpected reply from the cluster to scan");
        }
        if (page.next !== null && !(page.next instanceof Uint8Array)) throw new DictError("unexpected reply from the cluster to scan");
        return { ...page, part };
      });
  // The first pages of the next few partitions are in flight while the caller consumes
  // this one, and so is this partition's next page (each partition's pages go in order).
  let nextPart = 0;
  const firsts: Promise<ScanPageReply & { part: number }>[] = [];
  const refill = () => {
    while (firsts.length < SCAN_LOOKAHEAD && nextPart < partitions) {
      const p = fetch(nextPart++, null, undefined);
      p.catch(() => {}); // surfaced when awaited
      firsts.push(p);
    }
  };
  refill();
  for (let first = firsts.shift(); first; first = firsts.shift()) {
    let page: ScanPageReply & { part: number } = await first;
    refill();
    for (;;) {
      const more = page.next !== null ? fetch(page.part, page.next, page.session) : undefined;
      more?.catch(() => {});
      yield page;
      if (!more) break;
      page = await more;
    }
  }
}
