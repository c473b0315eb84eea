/**
 * A binary min-heap of items ordered by `scheduled` (a deadline in ms), indexed so an item
 * can be removed in O(log n) when its entry is deleted.
 *
 * Refreshing a deadline stays lazy: a read only moves the entry's own deadline, and when
 * the item surfaces the owner re-inserts it at its real deadline. So reads cost a field
 * write, deletes cost one heap removal, and the heap never holds dead entries.
 */
export interface Scheduled {
  scheduled: number;
  /** Position in the heap, -1 when not in it. Maintained by the queue. */
  heapIndex?: number;
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
    this.heap.push(item);
    this.siftUp(this.heap.length - 1, item);
  }

  pop(): T | undefined {
    const top = this.heap[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Remove `item` if it is queued. */
  remove(item: T): void {
    const i = item.heapIndex;
    if (i === undefined || i < 0 || this.heap[i] !== item) return;
    this.removeAt(i);
  }

  private removeAt(i: number): void {
    const h = this.heap;
    const removed = h[i] as T;
    removed.heapIndex = -1;
    const last = h.pop() as T;
    if (i === h.length) return;
    const parent = (i - 1) >> 1;
    if (i > 0 && last.scheduled < (h[parent] as T).scheduled) this.siftUp(i, last);
    else this.siftDown(i, last);
  }

  private siftUp(i: number, item: T): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as T;
      if (p.scheduled <= item.scheduled) break;
      h[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    h[i] = item;
    item.heapIndex = i;
  }

  private siftDown(i: number, item: T): void {
    const h = this.heap;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (h[r] as T).scheduled < (h[l] as T).scheduled ? r : l;
      const child = h[c] as T;
      if (child.scheduled >= item.scheduled) break;
      h[i] = child;
      child.heapIndex = i;
      i = c;
    }
    h[i] = item;
    item.heapIndex = i;
  }
}
