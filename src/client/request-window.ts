/** Ids the ring starts with room for; a ring past MAX_IDLE_SPAN is given back once nothing is open. */
const FIRST_SPAN = 256;
const MAX_IDLE_SPAN = 65_536;

/**
 * The ids of this client's data requests that may still be sent (again), and the floor
 * under them that shards are told of (the `done` frame): a shard keeps the answer of each
 * write until the client's floor passes it instead of for the whole 30 s dedup window, and
 * refuses a stray copy of a request under it.
 *
 * Ids are opened in the order they are handed out, so the oldest open one, the floor, is the
 * first open flag of the ring: opening and closing are O(1), and reading the floor is O(1)
 * amortised.
 */
export class RequestWindow {
  /**
   * Open flags of the ids from `base` to `highest`, in a ring (a power of two long) whose
   * slot `start` is `base`. Not a `Set`: one add and one delete per request is the churn
   * under which V8 chains a hash table's old copies (see net/rid-table.ts), and a flag per
   * id costs a byte.
   */
  private flags = new Uint8Array(FIRST_SPAN);
  private start = 0;
  /** No id below this is open. */
  private base = 1;
  /** The highest id opened: with none open, the floor is just above it (ids other requests take do not move it). */
  private highest = 0;
  private openCount = 0;
  /** The floor last sent on each connection. */
  private readonly told = new WeakMap<object, number>();

  /** A request id was handed out for a data request (ids rise). */
  opened(rid: number): void {
    if (this.openCount === 0) {
      // Nothing open: the ring starts over at this id (and gives back a burst's room).
      if (this.flags.length > MAX_IDLE_SPAN) this.flags = new Uint8Array(FIRST_SPAN);
      this.base = rid;
      this.start = 0;
    } else if (rid - this.base >= this.flags.length) {
      // Out of room: first past the closed ids at the front, else a longer ring.
      this.advance();
      if (rid - this.base >= this.flags.length) this.reframe(this.base, rid);
    } else if (rid < this.base) {
      this.reframe(rid, this.highest);
    }
    const i = (this.start + rid - this.base) & (this.flags.length - 1);
    if (this.flags[i] === 0) this.openCount++;
    this.flags[i] = 1;
    if (rid > this.highest) this.highest = rid;
  }

  /** Its answer arrived, or the client gave up on it: it is never sent again. */
  closed(rid: number): void {
    if (this.openCount === 0 || rid < this.base || rid > this.highest) return;
    const i = (this.start + rid - this.base) & (this.flags.length - 1);
    if (this.flags[i] === 0) return;
    this.flags[i] = 0;
    this.openCount--;
  }

  /** Every data request below this id is closed. */
  get floor(): number {
    if (this.openCount === 0) return this.highest + 1;
    this.advance();
    return this.base;
  }

  /** Move the base to the oldest open id (past each closed one once); some id is open. */
  private advance(): void {
    const mask = this.flags.length - 1;
    while (this.flags[this.start] === 0) {
      this.start = (this.start + 1) & mask;
      this.base++;
    }
  }

  /** Lay the open ids from `from` to `to` out afresh in a ring long enough for them. */
  private reframe(from: number, to: number): void {
    let len = this.flags.length;
    while (len <= to - from) len *= 2;
    const flags = new Uint8Array(len);
    const mask = this.flags.length - 1;
    for (let rid = Math.max(from, this.base); rid <= this.highest; rid++) {
      if (this.flags[(this.start + rid - this.base) & mask] === 1) flags[rid - from] = 1;
    }
    this.flags = flags;
    this.start = 0;
    this.base = from;
  }

  /** The floor, if it moved since `conn` was last told (and now counts as told), else undefined. */
  news(conn: object): number | undefined {
    const f = this.floor;
    if ((this.told.get(conn) ?? 0) >= f) return undefined;
    this.told.set(conn, f);
    return f;
  }
}
