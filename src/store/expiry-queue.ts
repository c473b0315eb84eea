/**
 * A binary min-heap of items ordered by `scheduled` (a deadline in ms).
 *
 * Used with lazy deletion: an entry stays in the heap once, and when it surfaces the owner
 * checks whether it is still current and whether its real deadline moved (a read pushed it
 * later), re-inserting it if so. Refreshing a deadline is then a field write, not a heap op.
 */
export interface Scheduled {
  scheduled: number;
}

export class ExpiryQueue<T extends Scheduled> {
  private heap: T[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): T | undefined {
    return this.heap[0];
  }

  push(item: T): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as T;
      if (p.scheduled <= item.scheduled) break;
      h[i] = p;
      i = parent;
    }
    h[i] = item;
  }

  pop(): T | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Drop every item matching `pred` (used when a dict is cleared), in O(n). */
  removeWhere(pred: (item: T) => boolean): void {
    this.heap = this.heap.filter((x) => !pred(x));
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftDown(i: number): void {
    const h = this.heap;
    const n = h.length;
    const item = h[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (h[r] as T).scheduled < (h[l] as T).scheduled ? r : l;
      const child = h[c] as T;
      if (child.scheduled >= item.scheduled) break;
      h[i] = child;
      i = c;
    }
    h[i] = item;
  }
}
