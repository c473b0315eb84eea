/**
 * Durable state of the coordinator: the dict records (ids, names, environments, creation
 * info, ephemeral owners) and the partition table's epoch and shard addresses. Every change
 * is flushed to disk before the coordinator answers or tells anyone about it.
 */
import { open, type Database, type RootDatabase } from "lmdb";
import type { Handoff } from "../hashing/partition-table.js";
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
  deleteDict(id: string): Promise<void>;
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

/** The registry in LMDB: `dict:<id>` → record, `table` → epoch and shard addresses. */
export class LmdbRegistryStore implements RegistryStore {
  private readonly root: RootDatabase;
  private readonly db: Database<unknown, string>;

  constructor(path: string) {
    this.root = open({ path, overlappingSync: false, noSync: false });
    this.db = this.root.openDB<unknown, string>("registry", { encoding: "msgpack" });
  }

  load(): RegistryState {
    const dicts: DictRecord[] = [];
    for (const { value } of this.db.getRange({ start: "dict:", end: "dict;" })) dicts.push(value as DictRecord);
    return { dicts, table: this.db.get("table") as StoredTable | undefined };
  }

  async saveDict(rec: DictRecord): Promise<void> {
    await this.db.put(`dict:${rec.id}`, { ...rec });
  }

  async deleteDict(id: string): Promise<void> {
    await this.db.remove(`dict:${id}`);
  }

  async saveTable(table: StoredTable): Promise<void> {
    await this.db.put("table", table);
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
