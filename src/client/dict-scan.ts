/**
 * Iteration over a dict: every partition in turn, a page at a time in key order, with the
 * next pages fetched while the caller consumes the current one; and the requests that go to
 * every shard at once (`len`, `clear`).
 */
import { ConnectionError, DictError } from "../errors.js";
import { checkReply, type ReplyOf, type ScanPageReply } from "../protocol/replies.js";
import { routeOf } from "./routing.js";
import type { ClusterClient } from "./cluster-client.js";

/** Entries per scan page: large enough to amortise a round trip, small enough to stream. */
const SCAN_PAGE = 5000;
/** Partitions whose first page is fetched ahead of the one being consumed. */
const SCAN_LOOKAHEAD = 3;

/**
 * The pages of dict `id`. The position is a key, not a node: when a partition moves (or
 * fails over) mid-iteration, the next page comes from its new owner, after the same key, so
 * an entry present for the whole iteration is returned exactly once.
 */
export async function* scanPages(client: ClusterClient, id: string, values: boolean): AsyncGenerator<ScanPageReply & { part: number }> {
  const partitions = client.table.partitions;
  const fetch = (part: number, after: Uint8Array | null, session: string | undefined) =>
    client
      .dataRequest((t) => ({
        shard: routeOf(t, part),
        frame: { type: "scan", dict: id, part, epoch: t.epoch, after, limit: SCAN_PAGE, values, ...(session !== undefined && { session }) },
      }))
      .then((r) => ({ ...checkReply("scan", r), part }));
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

/** A page's keys with their values (a page read with values has one per key). */
export function* pairsOf(page: ScanPageReply): Generator<[Uint8Array, Uint8Array]> {
  if (page.values.length !== page.keys.length) throw new DictError("unexpected reply from the cluster to scan: keys and values differ in number");
  for (let i = 0; i < page.keys.length; i++) yield [page.keys[i] as Uint8Array, page.values[i] as Uint8Array];
}

/** Run `len` or `clear` on every shard for the partitions it leads, regrouping if owners move. */
export async function fanOut<T extends "len" | "clear">(client: ClusterClient, id: string, type: T): Promise<ReplyOf<T>[]> {
  const retry = client.dataRetry(type === "clear" ? "idempotent" : "read", type);
  // One id for the whole clear: each partition applies it once however it is retried, and
  // watchers see the same clear in every partition.
  const op = type === "clear" ? { op: client.newRid() } : {};
  for (;;) {
    retry.begin();
    const t = client.table;
    const groups = [...t.partitionsByPrimary()];
    const settled = await Promise.allSettled(groups.map(([shard, parts]) => client.sendToShard(shard, { type, dict: id, epoch: t.epoch, parts, ...op })));
    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed.length === 0) return settled.map((s) => checkReply(type, s.status === "fulfilled" ? s.value : undefined));
    // A clear some shards applied already happened in part.
    if (type === "clear" && failed.length < settled.length) retry.partlyApplied();
    for (const f of failed) retry.failed(f.reason, f.reason instanceof ConnectionError);
    await retry.again();
  }
}
