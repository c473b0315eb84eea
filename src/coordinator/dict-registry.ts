/**
 * The registry of dicts: ids, names per environment, creation info, ephemeral owners.
 * In memory for now; every mutation goes through the methods here, which is where a
 * durable registry will hook in.
 */
import { nanoid } from "nanoid";
import { AlreadyExistsError, NotFoundError } from "../errors.js";
import type { DictInfoData } from "../protocol/frames.js";
import type { DictFacts } from "../net/token-scope.js";

export interface DictRecord extends DictInfoData {
  /** Creation order, to break ties of equal `createdAt` in listings. */
  seq: number;
  /** For ephemeral dicts: the client whose heartbeats keep it alive. */
  owner: string | null;
  /** For ephemeral dicts made with a scoped token: that token's principal (token-scope.ts). Absent in older records. */
  ownerKey?: string | null;
}

/** What scope checks need of a record. */
export function factsOf(rec: DictRecord): DictFacts {
  return { id: rec.id, name: rec.name, env: rec.env, owner: rec.owner, ownerKey: rec.ownerKey ?? null };
}

export function newDictId(): string {
  return `di-${nanoid(21)}`;
}

export class DictRegistry {
  private readonly byId = new Map<string, DictRecord>();
  private readonly byName = new Map<string, string>();
  private seq = 0;
  private lastCreatedAt = 0;

  private nameKey(env: string, name: string): string {
    return `${env}\u0000${name}`;
  }

  private add(name: string | null, env: string, createdBy: string | null, owner: string | null, ownerKey: string | null = null): DictRecord {
    // Strictly increasing creation times keep "newest first" and `createdBefore` exact.
    const createdAt = Math.max(Date.now(), this.lastCreatedAt + 1);
    this.lastCreatedAt = createdAt;
    const rec: DictRecord = { id: newDictId(), name, env, createdAt, createdBy, ephemeral: name === null, seq: ++this.seq, owner, ...(ownerKey !== null && { ownerKey }) };
    this.byId.set(rec.id, rec);
    if (name !== null) this.byName.set(this.nameKey(env, name), rec.id);
    return rec;
  }

  /** Put back records loaded from storage. */
  restore(records: readonly DictRecord[]): void {
    for (const rec of records) {
      this.byId.set(rec.id, rec);
      if (rec.name !== null) this.byName.set(this.nameKey(rec.env, rec.name), rec.id);
      this.seq = Math.max(this.seq, rec.seq);
      this.lastCreatedAt = Math.max(this.lastCreatedAt, rec.createdAt);
    }
  }

  /** Every record (for listing owners at start-up). */
  all(): IterableIterator<DictRecord> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }

  getById(id: string): DictRecord | undefined {
    return this.byId.get(id);
  }

  getByName(name: string, env: string): DictRecord | undefined {
    const id = this.byName.get(this.nameKey(env, name));
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** Look a name up, creating it when allowed; `created` says which happened. */
  lookup(name: string, env: string, createIfMissing: boolean, createdBy: string | null): { rec: DictRecord; created: boolean } {
    const found = this.getByName(name, env);
    if (found) return { rec: found, created: false };
    if (!createIfMissing) throw new NotFoundError(`Dict "${name}" not found in environment "${env}"`);
    return { rec: this.add(name, env, createdBy, null), created: true };
  }

  create(name: string, env: string, allowExisting: boolean, createdBy: string | null): { rec: DictRecord; created: boolean } {
    const found = this.getByName(name, env);
    if (found) {
      if (!allowExisting) throw new AlreadyExistsError(`Dict "${name}" already exists in environment "${env}"`);
      return { rec: found, created: false };
    }
    return { rec: this.add(name, env, createdBy, null), created: true };
  }

  createEphemeral(env: string, owner: string, createdBy: string | null, ownerKey: string | null = null): DictRecord {
    return this.add(null, env, createdBy, owner, ownerKey);
  }

  /** Named dicts of an environment, newest first. */
  list(env: string, max: number | undefined, createdBefore: number | undefined): DictRecord[] {
    const out: DictRecord[] = [];
    for (const rec of this.byId.values()) {
      if (rec.ephemeral || rec.env !== env) continue;
      if (createdBefore !== undefined && rec.createdAt >= createdBefore) continue;
      out.push(rec);
    }
    out.sort((a, b) => b.createdAt - a.createdAt || b.seq - a.seq);
    return max === undefined ? out : out.slice(0, max);
  }

  deleteByName(name: string, env: string): DictRecord | undefined {
    const rec = this.getByName(name, env);
    if (rec) this.remove(rec);
    return rec;
  }

  remove(rec: DictRecord): void {
    this.byId.delete(rec.id);
    if (rec.name !== null) this.byName.delete(this.nameKey(rec.env, rec.name));
  }

  /** Ephemeral dicts kept alive by `owner`. */
  ownedBy(owner: string): DictRecord[] {
    return [...this.byId.values()].filter((r) => r.owner === owner);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }
}

export function publicInfo(rec: DictRecord): DictInfoData {
  return { id: rec.id, name: rec.name, env: rec.env, createdAt: rec.createdAt, createdBy: rec.createdBy, ephemeral: rec.ephemeral };
}
