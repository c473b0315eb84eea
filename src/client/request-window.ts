/**
 * The ids of this client's data requests that may still be sent (again), and the floor
 * under them that shards are told of (the `done` frame): a shard keeps the answer of each
 * write until the client's floor passes it instead of for the whole 30 s dedup window, and
 * refuses a stray copy of a request under it.
 *
 * Ids are opened in the order they are handed out, so the oldest open one, the floor, is the
 * first in the set: opening, closing and reading the floor are O(1).
 */
export class RequestWindow {
  private readonly open = new Set<number>();
  /** The highest id opened: with none open, the floor is just above it (ids other requests take do not move it). */
  private highest = 0;
  /** The floor last sent on each connection. */
  private readonly told = new WeakMap<object, number>();

  /** A request id was handed out for a data request. */
  opened(rid: number): void {
    this.open.add(rid);
    if (rid > this.highest) this.highest = rid;
  }

  /** Its answer arrived, or the client gave up on it: it is never sent again. */
  closed(rid: number): void {
    this.open.delete(rid);
  }

  /** Every data request below this id is closed. */
  get floor(): number {
    for (const rid of this.open) return rid;
    return this.highest + 1;
  }

  /** The floor, if it moved since `conn` was last told (and now counts as told), else undefined. */
  news(conn: object): number | undefined {
    const f = this.floor;
    if ((this.told.get(conn) ?? 0) >= f) return undefined;
    this.told.set(conn, f);
    return f;
  }
}
