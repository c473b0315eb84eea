/**
 * Durable state of the coordinator: the dict records (ids, names, environments, creation
 * info, ephemeral owners) and the partition table's epoch and shard addresses. Every change
 * is flushed to disk before the coordinator answers or tells anyone about it.
 *
 * A write either is refused with `StorageFullError` having changed nothing (the disk is
 * full), or fails with `StorageFailedError`: then what is on disk is unknown and the
 * coordinator must stop (fail-stop).
 */
import type { Database, RootDatabase } from "lmdb";
import type { Handoff } from "../hashing/partition-table.js";
import { DiskSpace } from "../store/disk-space.js";
import { commitCause, LMDB_GROWTH_FACTOR, LMDB_MARGIN_BYTES, openLmdb, syncDataFile } from "../store/lmdb-env.js";
import { isNoSpace, StorageFailedError } from "../store/storage-errors.js";
import type { DictRecord } from "./dict-registry.js";
import type { StoredMember } from "./membership.js";

export interface StoredTable {
  epoch: number;
  shards: { id: string; url: string }[];
  owners?: string[][];
  pepochs?: number[];
  /** Hand-offs in progress: a primary that stopped serving waits for the flip. */
  handoffs?: (Handoff | null)[];
  /** Members and their roles (absent in tables written before shards could join). */
  members?: StoredMember[];
}

export interface RegistryState {
  dicts: DictRecord[];
  table: StoredTable | undefined;
}

export interface RegistryStore {
  load(): RegistryState;
  saveDict(rec: DictRecord): Promise<void>;
  /**
   * `useMargin`: a removal that must not be refused for space (undoing a create a shard
   * refused, expiring an ephemeral dict) may use the room kept free.
   */
  deleteDict(id: string, opts?: { useMargin?: boolean }): Promise<void>;
  /** Never refused for space (it uses the room kept free); any failure is StorageFailedError. */
  saveTable(table: StoredTable): Promise<void>;
  close(): Promise<void>;
}

/** Keeps nothing (the `memory` storage engine). */
export class MemoryRegistryStore implements RegistryStore {
  load(): RegistryState {
    return { dicts: [], table: undefined };
  }
  async saveDict(): Promise<void> {}
  async deleteDict(): Promise<void> {}
  async saveTable(): Promise<void> {}
  async close(): Promise<void> {}
}

const WHO = "coordinator";

/** The registry in LMDB: `dict:<id>` → record, `table` → epoch and shard addresses. */
export class LmdbRegistryStore implements RegistryStore {
  private readonly root: RootDatabase;
  private readonly db: Database<unknown, string>;
  /**
   * Dict writes are admitted against the free space; tables are not, and use the margin,
   * which is kept at twice a table's size with LMDB's overhead (if more than the default),
   * so publishing does not meet a full disk that dict writes filled (failovers and moves
   * must go on while dict creates are refused).
   */
  private readonly space: DiskSpace;

  constructor(
    private readonly path: string,
    log: (line: string) => void = (l) => console.error(l),
  ) {
    this.root = openLmdb(path);
    this.db = this.root.openDB<unknown, string>("registry", { encoding: "msgpack" });
    this.space = new DiskSpace({ dir: path, node: WHO, log, factor: LMDB_GROWTH_FACTOR, margin: LMDB_MARGIN_BYTES });
  }

  load(): RegistryState {
    syncDataFile(this.path, WHO);
    const dicts: DictRecord[] = [];
    for (const { value } of this.db.getRange({ start: "dict:", end: "dict;" })) dicts.push(value as DictRecord);
    const table = this.db.get("table") as StoredTable | undefined;
    if (table) this.fitMargin(table);
    return { dicts, table };
  }

  async saveDict(rec: DictRecord): Promise<void> {
    await this.admitted(JSON.stringify(rec).length + 64, () => this.db.put(`dict:${rec.id}`, { ...rec }), `saving dict ${rec.id}`);
  }

  async deleteDict(id: string, opts: { useMargin?: boolean } = {}): Promise<void> {
    const remove = () => this.db.remove(`dict:${id}`);
    if (opts.useMargin) await this.written(remove(), `removing dict ${id}`, false);
    else await this.admitted(id.length + 64, remove, `removing dict ${id}`);
  }

  async saveTable(table: StoredTable): Promise<void> {
    this.fitMargin(table);
    await this.written(this.db.put("table", table), `saving the partition table (epoch ${table.epoch})`, false);
  }

  /** Room for a write, or StorageFullError before anything is written. */
  private async admitted(bytes: number, write: () => Promise<unknown>, what: string): Promise<void> {
    this.space.reserve(bytes);
    try {
      await this.written(write(), what, true);
    } finally {
      this.space.release(bytes);
    }
  }

  /**
   * A failed LMDB commit changed nothing on disk only if it failed writing its pages for lack
   * of space (ENOSPC): that is a refusal, when `refusable`. Anything else may have reached
   * the disk or not.
   */
  private async written(write: Promise<unknown>, what: string, refusable: boolean): Promise<void> {
    try {
      await write;
    } catch (err) {
      const cause = await commitCause(err);
      if (refusable && isNoSpace(cause)) throw this.space.fullError();
      throw new StorageFailedError(`${WHO}: ${what} failed in ${this.path}: ${cause.message}`, { cause });
    }
  }

  private fitMargin(table: StoredTable): void {
    this.space.margin = Math.max(LMDB_MARGIN_BYTES, 2 * LMDB_GROWTH_FACTOR * JSON.stringify(table).length);
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
