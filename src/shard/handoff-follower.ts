/**
 * The old primary's side of a hand-off. When the table asks this node to hand a partition
 * to another shard, it stops serving it at once, waits until every write it accepted on it
 * has settled (so is on the new owner, an in-sync replica), and reports; the coordinator then
 * flips the primary. The fence lasts until a table no longer asks for that hand-off: flipped
 * (this node no longer leads), or abandoned (it serves the partition again).
 */
import type { PartitionTable, Handoff } from "../hashing/partition-table.js";
import type { PartitionTableData } from "../protocol/frames.js";
import { backoff } from "../util/backoff.js";

export interface HandoffFollowerContext {
  selfId: string;
  /** Resolves once no write accepted on the partition is still in flight. */
  drain(part: number): Promise<void>;
  /** Report the hand-off done; resolves with the coordinator's table after it. */
  report(part: number, pepoch: number, h: Handoff): Promise<PartitionTableData>;
  adoptTable(table: PartitionTableData): void;
}

interface Handing extends Handoff {
  pepoch: number;
  /** Resolves when the hand-off is over (flipped or abandoned). */
  over: Promise<void>;
  end(): void;
}

export class HandoffFollower {
  private readonly handing = new Map<number, Handing>();

  constructor(private readonly ctx: HandoffFollowerContext) {}

  /** The shard a partition is being handed to, while this node no longer serves it. */
  target(part: number): string | undefined {
    // Asked for every request; hand-offs are rare.
    return this.handing.size === 0 ? undefined : this.handing.get(part)?.to;
  }

  /** Resolves when the hand-off of `part` is over, or after `ms`. */
  over(part: number, ms: number): Promise<void> {
    const h = this.handing.get(part);
    if (!h) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      void h.over.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** A new table: end the hand-offs it no longer asks for, start those it asks for. */
  onTable(t: PartitionTable): void {
    for (const [part, f] of this.handing) {
      const h = t.handoffOf(part);
      if (t.primaryOf(part) !== this.ctx.selfId || !h || h.id !== f.id || t.pepochOf(part) !== f.pepoch) {
        this.handing.delete(part);
        f.end();
      }
    }
    for (let part = 0; part < t.partitions; part++) {
      const h = t.handoffOf(part);
      if (!h || t.primaryOf(part) !== this.ctx.selfId || h.to === this.ctx.selfId || this.handing.has(part) || !t.owners[part]?.includes(h.to)) continue;
      let end = () => {};
      const over = new Promise<void>((resolve) => (end = resolve));
      const f: Handing = { to: h.to, id: h.id, pepoch: t.pepochOf(part), over, end };
      this.handing.set(part, f);
      void this.handOff(part, f);
    }
  }

  private async handOff(part: number, f: Handing): Promise<void> {
    await this.ctx.drain(part);
    for (let attempt = 1; this.handing.get(part) === f; attempt++) {
      try {
        this.ctx.adoptTable(await this.ctx.report(part, f.pepoch, { to: f.to, id: f.id }));
      } catch {
        // reported again below, while the hand-off stands
      }
      if (this.handing.get(part) === f) await backoff(attempt, 500);
    }
  }
}
