/**
 * The coordinator's dict registry as a service: the registry requests clients make (look up,
 * create, list, delete, ephemeral dicts), each record durable before the reply and before
 * the shards hear of it, and a create every connected shard recorded, or none.
 */
import { AuthError, InvalidError, NotFoundError, StorageFullError } from "../errors.js";
import { nameRefusal, type DictFacts, type TokenScope } from "../net/token-scope.js";
import type { Outgoing, RequestFrame } from "../protocol/frames.js";
import { DictRegistry, factsOf, publicInfo, type DictRecord } from "./dict-registry.js";
import { scopeRefusal } from "./registry-scope.js";
import type { EphemeralLeases } from "./ephemeral-leases.js";
import type { RegistryStore } from "./registry-store.js";

export interface DictServiceContext {
  store: RegistryStore;
  leases: EphemeralLeases;
  /** A registry write: refused for space it is the request's answer; any other failure stops the coordinator. */
  persisted(write: Promise<void>): Promise<void>;
  /** Tell every connected shard; resolves with the refusals of those still connected. */
  broadcast(frame: Outgoing): Promise<Error[]>;
  log: (line: string) => void;
}

/** Who asks: the client's id (from its hello), its `user@host`, and its token's scope (none: everything). */
export interface Caller {
  clientId: string;
  agent: string | null;
  scope?: TokenScope | undefined;
}

export class DictService {
  readonly registry = new DictRegistry();
  /** Records being made durable: whoever finds one waits for it. */
  private readonly unsaved = new Map<string, Promise<void>>();

  constructor(private readonly ctx: DictServiceContext) {}

  /** A client's registry request. */
  async handle(frame: RequestFrame, caller: Caller): Promise<unknown> {
    const registry = this.registry;
    // Checked before anything is looked at or made: a refusal changes nothing.
    if (caller.scope !== undefined) this.checkScope(frame, caller, caller.scope);
    switch (frame.type) {
      case "dict.lookup": {
        const { rec, created } = registry.lookup(frame.name, frame.env, frame.createIfMissing, caller.agent);
        await (created ? this.created(rec) : this.found(rec));
        return publicInfo(rec);
      }
      case "dict.get":
        return this.get(frame.id);
      case "dict.create": {
        const { rec, created } = registry.create(frame.name, frame.env, frame.allowExisting, caller.agent);
        await (created ? this.created(rec) : this.found(rec));
        return publicInfo(rec);
      }
      case "dict.list": {
        const scope = caller.scope;
        if (scope === undefined) return registry.list(frame.env, frame.max, frame.createdBefore).map(publicInfo);
        // A scoped token lists only the dicts it reaches (it is not told the others exist).
        const reached = registry.list(frame.env, undefined, frame.createdBefore).filter((r) => r.name !== null && nameRefusal(scope, r.name, r.env) === undefined);
        return (frame.max === undefined ? reached : reached.slice(0, frame.max)).map(publicInfo);
      }
      case "dict.delete": {
        const rec = registry.deleteByName(frame.name, frame.env);
        if (!rec) {
          if (frame.allowMissing) return false;
          throw new NotFoundError(`Dict "${frame.name}" not found in environment "${frame.env}"`);
        }
        await this.removedOrKept(rec);
        return true;
      }
      case "dict.deleteId": {
        const rec = registry.getById(frame.id);
        if (!rec) return false;
        registry.remove(rec);
        await this.removedOrKept(rec);
        return true;
      }
      case "ephemeral.create": {
        const rec = registry.createEphemeral(frame.env, caller.clientId, caller.agent, caller.scope?.principal ?? null);
        await this.created(rec);
        return publicInfo(rec);
      }
      default:
        throw new InvalidError(`${frame.type} is not served by the coordinator`);
    }
  }

  /** Throws {@link AuthError} when a scoped token may not make this request. */
  private checkScope(frame: RequestFrame, caller: Caller, scope: TokenScope): void {
    const refused = scopeRefusal(this.registry, frame, caller.clientId, scope);
    if (refused !== undefined) throw new AuthError(refused);
  }

  /** What a shard needs to check a scoped token's requests: the public record, and an ephemeral dict's owner. */
  async facts(id: string): Promise<DictFacts & ReturnType<typeof publicInfo>> {
    const rec = this.registry.getById(id);
    if (!rec) throw new NotFoundError(`Dict with id ${id} not found`);
    await this.found(rec);
    return { ...publicInfo(rec), ...factsOf(rec) };
  }

  /** A dict's public record, once durable (clients, and shards asking about an id they do not know). */
  async get(id: string): Promise<ReturnType<typeof publicInfo>> {
    const rec = this.registry.getById(id);
    if (!rec) throw new NotFoundError(`Dict with id ${id} not found`);
    await this.found(rec);
    return publicInfo(rec);
  }

  /** Make a new record durable, then tell the shards; concurrent finders wait for it. */
  private async created(rec: DictRecord): Promise<void> {
    const saving = this.ctx.persisted(this.ctx.store.saveDict(rec)).then(
      () => this.announceAdded(rec),
      (err: unknown) => {
        // Never durable, so it never existed: whoever was waiting for it fails too.
        this.registry.remove(rec);
        throw err;
      },
    );
    this.unsaved.set(rec.id, saving);
    try {
      await saving;
    } finally {
      this.unsaved.delete(rec.id);
    }
  }

  /** A found record may still be on its way to disk. */
  private async found(rec: DictRecord): Promise<void> {
    await this.unsaved.get(rec.id);
  }

  /**
   * A create every connected shard recorded durably, or none: a shard that could not (its
   * disk is full) fails the create with its error, and the record is removed again. A shard
   * that is down learns of the dict when it registers.
   */
  private async announceAdded(rec: DictRecord): Promise<void> {
    const refused = await this.ctx.broadcast({ type: "shard.dictAdded", id: rec.id });
    const first = refused[0];
    if (first === undefined) return;
    if (this.registry.getById(rec.id) === rec) this.registry.remove(rec);
    // Undoing the create must not be refused for space: a refused create must not come back.
    await this.removed(rec, { useMargin: true }).catch((err: unknown) => this.ctx.log(`coordinator: removing ${rec.id} after a failed create failed: ${(err as Error).message}`));
    throw first;
  }

  /** A record already taken out of the registry: make that durable, then tell the shards. */
  private async removed(rec: DictRecord, opts: { useMargin?: boolean } = {}): Promise<void> {
    await this.ctx.persisted(this.ctx.store.deleteDict(rec.id, opts));
    if (rec.owner !== null && this.registry.ownedBy(rec.owner).length === 0) this.ctx.leases.forget(rec.owner);
    await this.ctx.broadcast({ type: "shard.dictRemoved", id: rec.id });
  }

  /**
   * A delete a client asked for. Refused for space, nothing changed: the record is put back.
   * Unless a create took its name meanwhile (only a delete that met the full disk inside
   * LMDB leaves time for one): the name is the new dict's now, so the delete goes through,
   * using the room kept free.
   */
  private async removedOrKept(rec: DictRecord): Promise<void> {
    try {
      await this.removed(rec);
    } catch (err) {
      if (!(err instanceof StorageFullError)) throw err;
      if (rec.name === null || this.registry.getByName(rec.name, rec.env) === undefined) {
        this.registry.restore([rec]);
        throw err;
      }
      await this.removed(rec, { useMargin: true });
    }
  }

  /** A client stopped heartbeating: its ephemeral dicts go. */
  async expireOwner(owner: string): Promise<void> {
    for (const rec of this.registry.ownedBy(owner)) {
      this.registry.remove(rec);
      this.ctx.log(`coordinator: ephemeral dict ${rec.id} expired (its client stopped heartbeating)`);
      await this.removed(rec, { useMargin: true }).catch((err: unknown) => this.ctx.log(`coordinator: removing ${rec.id} failed: ${(err as Error).message}`));
    }
  }
}
