/**
 * The coordinator's partition table: membership or ownership changed, so take the next
 * rebalancing steps, settle roles, and publish the result as a new table, durable before
 * anyone sees it; and the two ways a shard's copies are taken away at once (it died, or it
 * lost its data), each only after its lease has run out.
 */
import { InvalidError } from "../errors.js";
import { PartitionTable } from "../hashing/partition-table.js";
import { isActiveRole } from "../machines/member-role.machine.js";
import type { Outgoing } from "../protocol/frames.js";
import type { Membership } from "./membership.js";
import type { Ownership } from "./ownership.js";
import type { StoredTable } from "./registry-store.js";

/** Extra wait past a dead primary's lease before promoting another. */
const LEASE_MARGIN_MS = 100;

export interface TableKeeperContext {
  partitions: number;
  /** How long after its last heartbeat a shard may still believe it leads. */
  suspectAfterMs: number;
  membership: Membership;
  own: Ownership;
  /** Make a table durable (a failure stops the coordinator). */
  saveTable(table: StoredTable): Promise<void>;
  /** Tell every connected shard. */
  broadcast(frame: Outgoing): Promise<unknown>;
  /** Set once storage failed: nothing is published after it. */
  failedWith(): Error | undefined;
  log: (line: string) => void;
}

export class TableKeeper {
  /** The newest durable table: what clients and shards are served. */
  table: PartitionTable;
  private lastEpoch: number;

  constructor(
    private readonly ctx: TableKeeperContext,
    epoch: number,
  ) {
    this.table = this.makeTable(epoch);
    this.lastEpoch = epoch;
  }

  /** The table the current ownership and membership make, under `epoch`. */
  private makeTable(epoch: number): PartitionTable {
    return new PartitionTable({
      epoch,
      partitions: this.ctx.partitions,
      owners: this.ctx.own.owners.map((o) => [...o]),
      pepochs: [...this.ctx.own.pepochs],
      learners: this.ctx.own.learners.map((l) => [...l]),
      handoffs: this.ctx.own.handoffs.map((h) => (h ? { ...h } : null)),
      // A shard that has left is not in the table: that is how it learns it may exit.
      shards: this.ctx.membership.toStored().filter((m) => m.role !== "leaving").map((m) => ({ id: m.id, url: m.url })),
    });
  }


  /**
   * Membership or ownership changed: take the next rebalancing steps, settle roles, and
   * publish the result as a new table (durable first, so a restarted coordinator never
   * reuses an epoch or forgets a failover or a hand-off, then pushed to the shards).
   */
  changed(): Promise<void> {
    // Changes made in the same turn (several hand-offs reported together) share one table.
    if (!this.pendingChange) {
      this.pendingChange = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.pendingChange = undefined;
        return this.applyChanges();
      });
    }
    return this.pendingChange;
  }

  private pendingChange: Promise<void> | undefined;

  private async applyChanges(): Promise<void> {
    this.step();
    await this.publish();
  }

  /**
   * The next rebalancing step and the role changes it allows (joined, drained); returns
   * whether anything changed.
   */
  private step(): boolean {
    this.ctx.own.setActive(this.ctx.membership.activeIds());
    const alive = (id: string) => this.ctx.membership.stateOf(id) === "alive";
    let changed = this.ctx.own.rebalance(alive, (id) => isActiveRole(this.ctx.membership.roleOf(id) ?? "leaving"), this.lastEpoch + 1);
    for (const m of this.ctx.membership.all()) {
      const role = this.ctx.membership.roleOf(m.id);
      if (role === "joining" && this.ctx.own.hasItsShare(m.id)) {
        this.ctx.membership.sendRole(m.id, { type: "PLACED" });
        changed = true;
      }
      if (role === "handingOff" && !this.ctx.own.holdsAny(m.id)) {
        this.ctx.membership.sendRole(m.id, { type: "DRAINED" });
        if (!m.peer) this.ctx.membership.remove(m.id); // gone already (a dead shard removed by an operator)
        changed = true;
      }
    }
    return changed;
  }

  /** Take the next step if there is one, and publish it. */
  rebalanceSoon(): void {
    if (this.step()) this.changed().catch((err: unknown) => this.ctx.log(`coordinator: rebalancing failed: ${(err as Error).message}`));
  }

  /**
   * The next table from the current ownership. It is served (to clients, and to shards that
   * ask) and pushed only once it is durable, and tables become durable in epoch order: a
   * table anyone has seen is never forgotten by a restart, so an epoch never names two tables.
   */
  private publish(): Promise<PartitionTable> {
    const table = this.makeTable(++this.lastEpoch);
    const done = this.publishing.then(async () => {
      // After a failed save nothing is published: the restarted coordinator starts from the
      // newest table on disk, and no table anyone saw was lost.
      const failed = this.ctx.failedWith();
      if (failed) throw failed;
      const data = table.toData();
      const stored = { epoch: data.epoch, shards: data.shards, owners: data.owners, pepochs: data.pepochs, handoffs: data.handoffs ?? [], members: this.ctx.membership.toStored() };
      await this.ctx.saveTable(stored);
      this.table = table;
      void this.ctx.broadcast({ type: "shard.table", table: data });
      return table;
    });
    this.publishing = done.then(
      () => undefined,
      () => undefined,
    );
    return done;
  }

  private publishing: Promise<void> = Promise.resolve();

  /**
   * A shard is dead. Its lease (granted by its last answered heartbeat) must have run out
   * first, so it has stopped serving reads on its own before anyone else may lead its
   * partitions.
   */
  async failover(dead: string): Promise<void> {
    await this.leaseOver(dead);
    if (this.ctx.membership.stateOf(dead) !== "dead") return;
    const { promoted, dropped } = this.ctx.own.failover(dead);
    await this.changed();
    if (promoted + dropped > 0) {
      this.ctx.log(`coordinator: failover of ${dead}: ${promoted} partitions have a new primary, ${dropped} lost a replica (epoch ${this.table.epoch})`);
    }
  }

  /** Resolves once the lease a shard's last answered heartbeat granted has run out (with a margin). */
  private async leaseOver(id: string): Promise<void> {
    const wait = (this.ctx.membership.get(id)?.lastHeard ?? 0) + this.ctx.suspectAfterMs + LEASE_MARGIN_MS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  /**
   * A shard found its data corrupt and holds nothing now: forget its copies as if it had
   * died (its partitions fail over to their replicas), so that it is rebuilt as a learner.
   * Refused, changing nothing, if it held the only copy of a partition: that data exists
   * nowhere else, and the operator must decide (repair, or give it up).
   */
  async forgetCopies(id: string): Promise<void> {
    // Whatever the old process still believed, its lease must have run out first.
    await this.leaseOver(id);
    // Checked after the wait, and acted on in the same turn: no failover comes in between.
    const only: number[] = [];
    this.ctx.own.owners.forEach((o, p) => {
      if (o.length === 1 && o[0] === id) only.push(p);
    });
    if (only.length > 0) {
      throw new InvalidError(
        `shard ${id} lost its data and held the only copy of partitions ${only.join(", ")}: they cannot be rebuilt from a replica (repair its folder with shardict repair, or restore it)`,
      );
    }
    const { promoted, dropped } = this.ctx.own.failover(id);
    await this.changed();
    this.ctx.log(`coordinator: shard ${id} lost its data: ${promoted} partitions have a new primary, ${dropped} lost a replica; it is rebuilt from the others (epoch ${this.table.epoch})`);
  }
}
