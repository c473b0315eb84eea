/**
 * A binary min-heap of items ordered by their scheduled time (ms), indexed so an item can be
 * removed in O(log n) when its entry is deleted. It also holds each item's deadline.
 *
 * Both numbers live in Float64Arrays beside the heap, moving with their item, rather than in
 * the items: a double in an object field is a separate 16-byte heap box in V8, and a shard
 * holds one item per entry, millions of them.
 *
 * Refreshing a deadline stays lazy: a read only moves the item's deadline, and when the
 * item surfaces the owner reschedules it at its real deadline. So reads cost an array write,
 * deletes cost one heap removal, and the heap never holds dead entries.
 */
export interface Queued {
  /** Position in the heap, -1 when not in it. Maintained by the queue. */
  heapIndex: number;
}

const MIN_CAPACITY = 16;

export class ExpiryQueue<T extends Queued> {
  private items: T[] = [];
  private sched = new Float64Array(MIN_CAPACITY);
  private dl = new Float64Array(MIN_CAPACITY);

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  /** The earliest scheduled time, or undefined when empty. */
  peekScheduled(): number | undefined {
    return this.items.length > 0 ? this.sched[0] : undefined;
  }

  /** An item's deadline; -Infinity for an item not queued (it counts as expired). */
  deadlineOf(item: T): number {
    const i = item.heapIndex;
    return i >= 0 && this.items[i] === item ? (this.dl[i] as number) : Number.NEGATIVE_INFINITY;
  }

  /** Move a queued item's deadline; its place in the heap stays until it surfaces. */
  setDeadline(item: T, deadline: number): void {
    const i = item.heapIndex;
    if (i >= 0 && this.items[i] === item) this.dl[i] = deadline;
  }

  scheduledOf(item: T): number | undefined {
    const i = item.heapIndex;
    return i >= 0 && this.items[i] === item ? this.sched[i] : undefined;
  }

  push(item: T, scheduled: number, deadline = scheduled): void {
    const i = this.items.length;
    if (i === this.sched.length) this.resize(this.sched.length * 2);
    this.items.push(item);
    this.siftUp(i, item, scheduled, deadline);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Remove `item` if it is queued. */
  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0 || this.items[i] !== item) return;
    this.removeAt(i);
  }

  /** Give the top item a later scheduled time (its deadline moved since it was queued). */
  rescheduleTop(scheduled: number): void {
    const top = this.items[0];
    if (top === undefined) return;
    this.siftDown(0, top, scheduled, this.dl[0] as number);
  }

  private resize(capacity: number): void {
    const sched = new Float64Array(capacity);
    const dl = new Float64Array(capacity);
    const n = this.items.length;
    sched.set(this.sched.subarray(0, n));
    dl.set(this.dl.subarray(0, n));
    this.sched = sched;
    this.dl = dl;
  }

  private removeAt(i: number): void {
    const h = this.items;
    (h[i] as T).heapIndex = -1;
    const lastIndex = h.length - 1;
    const last = h.pop() as T;
    if (i < lastIndex) {
      const s = this.sched[lastIndex] as number;
      const d = this.dl[lastIndex] as number;
      if (i > 0 && s < (this.sched[(i - 1) >> 1] as number)) this.siftUp(i, last, s, d);
      else this.siftDown(i, last, s, d);
    }
    // Give memory back after mass deletions (a clear, an expiry wave), with hysteresis.
    if (this.sched.length > MIN_CAPACITY && h.length < this.sched.length / 4) this.resize(Math.max(MIN_CAPACITY, this.sched.length / 2));
  }

  private place(i: number, item: T, s: number, d: number): void {
    this.items[i] = item;
    this.sched[i] = s;
    this.dl[i] = d;
    item.heapIndex = i;
  }

  private siftUp(i: number, item: T, s: number, d: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.sched[parent] as number) <= s) break;
      this.place(i, this.items[parent] as T, this.sched[parent] as number, this.dl[parent] as number);
      i = parent;
    }
    this.place(i, item, s, d);
  }

  private siftDown(i: number, item: T, s: number, d: number): void {
    const n = this.items.length;
    const sched = this.sched;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (sched[r] as number) < (sched[l] as number) ? r : l;
      if ((sched[c] as number) >= s) break;
      this.place(i, this.items[c] as T, sched[c] as number, this.dl[c] as number);
      i = c;
    }
    this.place(i, item, s, d);
  }
}
