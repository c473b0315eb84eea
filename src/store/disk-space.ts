/**
 * Room on disk for stores that grow their file as they write (LMDB: the shard engine and the
 * coordinator's registry). The log takes its space ahead of use; LMDB cannot, so a write is
 * admitted against the free space of the folder's file system instead, and refused with
 * {@link StorageFullError} before it changes anything when that space is short. Admission
 * needs no manual step to resume: once space is freed, the next write sees it.
 *
 * Free space comes from `statfs` (`bavail`: what an unprivileged process may use, so a node
 * never counts on blocks reserved for root). One call costs ~1.6 µs, too much for every write
 * at tens of thousands a second, so a result is reused, minus what was admitted since, for at
 * most {@link FRESH_MS} and a quarter of the margin admitted; a write that would go below the
 * margin asks again, so a refusal is never based on a stale figure. Something else filling
 * the disk is therefore noticed within that much of this store's writes: the margin must
 * hold them, or a commit meets a full disk (a failed write: fail-stop).
 */
import { statfsSync } from "node:fs";
import { StorageFullError } from "../errors.js";

/** How long a statfs result is reused while the room left stays above the margin. */
const FRESH_MS = 1_000;

export interface DiskSpaceOptions {
  /** The store's folder (named in messages and errors). */
  dir: string;
  /** The node, for messages and errors. */
  node: string;
  log: (line: string) => void;
  /** Bytes the store may add to its file per byte admitted (its page overhead). */
  factor: number;
  /** Kept free beyond every admitted write, for the writes nobody reserves. */
  margin: number;
}

export class DiskSpace {
  /** Kept free; a store may raise it (the coordinator does, for big tables). */
  margin: number;
  private free = 0;
  private checkedAt = Number.NEGATIVE_INFINITY;
  /** Admitted since the last statfs, or in flight at it: what it may not count yet. */
  private spent = 0;
  /** Admitted since the last statfs. */
  private admitted = 0;
  /** Admitted and not yet released: not known to be on disk. */
  private inFlight = 0;
  private full = false;

  constructor(private readonly opts: DiskSpaceOptions) {
    this.margin = opts.margin;
  }

  private refresh(): void {
    const s = statfsSync(this.opts.dir);
    this.free = s.bavail * s.bsize;
    this.checkedAt = Date.now();
    // Released writes are in the new figure; those still in flight may not be.
    this.spent = this.inFlight;
    this.admitted = 0;
  }

  private left(): number {
    if (Date.now() - this.checkedAt > FRESH_MS || this.admitted > this.margin / 4) this.refresh();
    return this.free - this.spent;
  }

  /** The error a refused write fails with. */
  fullError(): StorageFullError {
    const { node, dir } = this.opts;
    return new StorageFullError(`${node}: the disk holding ${dir} is full; the write was not applied (reads still work; writes resume once space is freed)`, node, dir);
  }

  /**
   * Admit a write of at most `bytes` (before any overhead), or throw {@link StorageFullError}
   * having changed nothing. Every admitted write is {@link release}d once it settled.
   */
  reserve(bytes: number): void {
    const need = bytes * this.opts.factor;
    if (this.left() - need < this.margin) {
      this.refresh();
      if (this.free - this.spent - need < this.margin) {
        if (!this.full) this.opts.log(`${this.opts.node}: disk full in ${this.opts.dir}: refusing writes until space is freed`);
        this.full = true;
        throw this.fullError();
      }
    }
    if (this.full) this.opts.log(`${this.opts.node}: space freed in ${this.opts.dir}: accepting writes again`);
    this.full = false;
    this.spent += need;
    this.admitted += need;
    this.inFlight += need;
  }

  release(bytes: number): void {
    this.inFlight = Math.max(0, this.inFlight - bytes * this.opts.factor);
  }

  /** Little room left (under twice the margin): writes nobody reserves should wait. */
  get tight(): boolean {
    return this.left() < 2 * this.margin;
  }

  /** Bytes left on the file system, less what was admitted since it was last asked. */
  get room(): number {
    return this.left();
  }
}
