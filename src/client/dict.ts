/**
 * `Dict`: a handle on one distributed dictionary, used like a `Map` whose methods return
 * promises.
 *
 * @example
 * ```ts
 * import { Dict } from "shardict";
 * const d = Dict.fromName("my-dict", { createIfMissing: true });
 * await d.put("k", { any: ["structured", "value"] });
 * console.log(await d.get("k"), await d.len());
 * for await (const [k, v] of d.items()) console.log(k, v);
 * ```
 */
import { DeserializationError, DictError, InvalidError, KeyError, RequestSizeError } from "../errors.js";
import { partitionOf } from "../hashing/hash.js";
import type { DictInfoData } from "../protocol/frames.js";
import { decodeKey, encodeKey, type DictKey } from "../protocol/keys.js";
import { clientOf, getDefaultClient, type Client, type ClusterClient } from "./cluster-client.js";
import { checkEnvironment, checkId, checkName } from "./names.js";
import { decodeValue, describeKey, encodeValue, encodeValueNow, HANDLE_ID, registerHandleCodec } from "./value-codec.js";
import { dictObjects } from "./dict-objects.js";
import type { ClientOption, DeleteOptions, DictInfo, EphemeralOptions, FromNameOptions, PutOptions, UpdateOptions } from "./dict-options.js";
import { DictCoordination } from "./dict-coordination.js";
import { deleteAtVersion, writeEntry, type EntryHandle } from "./entry-requests.js";
import { fanOut, pairsOf, scanPages } from "./dict-scan.js";
import { encodeUpdate, sendUpdate, updateArguments } from "./dict-update.js";
import { routeOf } from "./routing.js";
import { checkReply, type ScanPageReply } from "../protocol/replies.js";

export type { ClientOption, DeleteOptions, DictInfo, EphemeralOptions, FromNameOptions, PutOptions, UpdateOptions } from "./dict-options.js";

type Source =
  | { kind: "name"; name: string; env: string; createIfMissing: boolean }
  | { kind: "id"; id: string }
  | { kind: "resolved" };

export class Dict<V = unknown> extends DictCoordination<V> implements AsyncDisposable {
  readonly #client: ClusterClient | undefined;
  #source: Source;
  #info: DictInfoData | undefined;
  #hydrating: Promise<this> | undefined;

  private constructor(source: Source, client: Client | undefined, info?: DictInfoData) {
    super();
    this.#source = source;
    // Unset means the default client, looked up at each use (it is made again once closed).
    this.#client = client === undefined ? undefined : clientOf(client);
    this.#info = info;
  }

  // ---- constructors ----------------------------------------------------------------------

  /**
   * A handle on a named dict, returned at once; the lookup (or creation, with
   * `createIfMissing`) happens on first use or on {@link Dict.hydrate}.
   * Throws {@link InvalidError} at once for a bad name.
   *
   * @example
   * ```ts
   * const d = Dict.fromName("cache", { createIfMissing: true });
   * ```
   */
  static fromName<V = unknown>(name: string, opts: FromNameOptions = {}): Dict<V> {
    return new Dict<V>(
      { kind: "name", name: checkName(name), env: checkEnvironment(opts.environmentName), createIfMissing: opts.createIfMissing ?? false },
      opts.client,
    );
  }

  /**
   * A handle on a dict by id (`di-…`), for passing dicts between processes. An unknown id
   * fails with {@link NotFoundError} on first use.
   *
   * @example
   * ```ts
   * const same = Dict.fromId(d.objectId);
   * ```
   */
  static fromId<V = unknown>(id: string, opts: ClientOption = {}): Dict<V> {
    return new Dict<V>({ kind: "id", id: checkId(id) }, opts.client);
  }

  /**
   * A new ephemeral dict: unnamed, never listed, kept alive by this client's heartbeats and
   * deleted when disposed (or by the cluster once the client has stopped).
   *
   * @example
   * ```ts
   * await using d = await Dict.ephemeral();
   * await d.put("x", 1);
   * ```
   */
  static async ephemeral<V = unknown>(opts: EphemeralOptions = {}): Promise<Dict<V>> {
    const env = checkEnvironment(opts.environmentName);
    const client = clientOf(opts.client);
    const info = await client.coordinatorRequest({ type: "ephemeral.create", env });
    return new Dict<V>({ kind: "resolved" }, opts.client, info);
  }

  /**
   * Run `fn` with a fresh ephemeral dict, deleting it afterwards whatever happens.
   *
   * @example
   * ```ts
   * const n = await Dict.withEphemeral(async (d) => { await d.put("a", 1); return d.len(); });
   * ```
   */
  static async withEphemeral<T, V = unknown>(fn: (d: Dict<V>) => Promise<T> | T, opts: EphemeralOptions = {}): Promise<T> {
    const d = await Dict.ephemeral<V>(opts);
    try {
      return await fn(d);
    } finally {
      await d[Symbol.asyncDispose]();
    }
  }

  /** Manage named dicts: create, list, delete. */
  static readonly objects = dictObjects((info, client) => new Dict({ kind: "resolved" }, client, info));

  // ---- identity ---------------------------------------------------------------------------

  private get client(): ClusterClient {
    return this.#client ?? getDefaultClient();
  }

  /** The dict's id (`di-…`). Known once the handle is hydrated. */
  get objectId(): string {
    const id = this[HANDLE_ID];
    if (id === undefined) throw new InvalidError("this Dict handle is not hydrated yet: await d.hydrate() first");
    return id;
  }

  /** The id if known, without throwing (used when a handle is stored inside a value). */
  get [HANDLE_ID](): string | undefined {
    if (this.#info) return this.#info.id;
    return this.#source.kind === "id" ? this.#source.id : undefined;
  }

  /** The dict's name; `null` for an ephemeral dict (or an id handle not yet hydrated). */
  get name(): string | null {
    if (this.#info) return this.#info.name;
    return this.#source.kind === "name" ? this.#source.name : null;
  }

  /** Resolve the handle now (look up or create by name, or check the id). */
  hydrate(): Promise<this> {
    if (this.#info) return Promise.resolve(this);
    if (!this.#hydrating) {
      this.#hydrating = this.lookup().finally(() => (this.#hydrating = undefined));
    }
    return this.#hydrating;
  }

  private async lookup(): Promise<this> {
    const src = this.#source;
    let info: DictInfoData;
    if (src.kind === "name") {
      info = await this.client.coordinatorRequest({ type: "dict.lookup", name: src.name, env: src.env, createIfMissing: src.createIfMissing });
    } else if (src.kind === "id") {
      info = await this.client.coordinatorRequest({ type: "dict.get", id: src.id });
    } else {
      throw new DictError("resolved handle without info");
    }
    this.#info = info;
    this.#source = { kind: "resolved" };
    return this;
  }

  private async id(): Promise<string> {
    if (this.#info) return this.#info.id;
    await this.hydrate();
    return this.objectId;
  }

  private get label(): string {
    return this.name ?? this[HANDLE_ID] ?? "(unresolved dict)";
  }

  protected entryHandle(): EntryHandle {
    return {
      client: this.client,
      id: () => this.id(),
      knownId: () => this.#info?.id,
      decode: (bytes, key) => this.decode(bytes, key),
      checkSize: (kb, vb) => this.checkSize(kb, vb),
      label: this.label,
    };
  }

  /** Metadata of the dict, fetched from the cluster ({@link NotFoundError} once deleted). */
  async info(): Promise<DictInfo> {
    const id = await this.id();
    const info = await this.client.coordinatorRequest({ type: "dict.get", id });
    return { name: info.name, createdAt: new Date(info.createdAt), createdBy: info.createdBy };
  }

  // ---- entries ----------------------------------------------------------------------------

  /** A request on one key; its reply is checked by the caller, in the `then` it has anyway. */
  private keyOp(type: "get" | "contains" | "pop" | "del", key: unknown): Promise<unknown> {
    let kb: Uint8Array;
    try {
      kb = encodeKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    const send = (id: string) =>
      this.client.dataRequest((t) => {
        const part = partitionOf(id, kb, t.partitions);
        return { shard: routeOf(t, part), frame: { type, dict: id, part, epoch: t.epoch, key: kb } };
      });
    // No await in between once the dict is known: reads are the hottest path.
    const known = this.#info?.id;
    return known !== undefined ? send(known) : this.id().then(send);
  }

  private decode(bytes: Uint8Array, key: unknown): V {
    return decodeValue(bytes, this.#client ?? getDefaultClient(), this.label, key) as V;
  }

  private checkSize(keyBytes: Uint8Array, valueBytes: Uint8Array): void {
    const limit = this.client.maxEntryBytes;
    const size = keyBytes.byteLength + valueBytes.byteLength;
    if (size > limit) {
      throw new RequestSizeError(`entry of ${size} bytes (key + encoded value) exceeds the limit of ${limit} bytes`, limit, size);
    }
  }

  /** The value of `key`, or `defaultValue` (else `undefined`) when absent. */
  get(key: DictKey): Promise<V | undefined>;
  get<D>(key: DictKey, defaultValue: D): Promise<V | D>;
  get(key: DictKey, defaultValue?: unknown): Promise<unknown> {
    // Not an async function: one promise and one turn less on the hottest call. Every
    // failure is still a rejection (keyOp never throws).
    return this.keyOp("get", key).then((r) => {
      const bytes = checkReply("get", r);
      return bytes === undefined || bytes === null ? defaultValue : this.decode(bytes, key);
    });
  }

  /** Whether `key` is present (refreshes its expiry). */
  async contains(key: DictKey): Promise<boolean> {
    return checkReply("contains", await this.keyOp("contains", key));
  }

  /**
   * Store `value` under `key`. Returns true if written; false only when a condition did
   * not hold: `skipIfExists` and the key existed (of many concurrent such calls, exactly one
   * returns true), or `ifVersion` and the key was not at that version. `ttlMs` gives the
   * entry its own idle TTL; without it an overwrite keeps the entry's.
   */
  put(key: DictKey, value: V, opts: PutOptions = {}): Promise<boolean> {
    if (opts.ifVersion !== undefined || opts.ttlMs !== undefined) return writeEntry(this.entryHandle(), key, value, opts).then((r) => r.ok);
    // Not an async function when the value encodes at once and the dict is known: the
    // common put pays for no extra promise. Every failure is still a rejection.
    let kb: Uint8Array;
    let vb: Uint8Array | undefined;
    let ifAbsent: boolean;
    try {
      kb = encodeKey(key);
      vb = encodeValueNow(value);
      ifAbsent = opts.skipIfExists ?? false;
    } catch (err) {
      return Promise.reject(err);
    }
    const id = this.#info?.id;
    if (vb === undefined || id === undefined) return this.putSlowly(kb, value, ifAbsent);
    return this.sendPut(id, kb, vb, ifAbsent);
  }

  /** {@link put} of a value holding handles to resolve, or before the dict is known. */
  private async putSlowly(kb: Uint8Array, value: V, ifAbsent: boolean): Promise<boolean> {
    const vb = await encodeValue(value);
    return this.sendPut(await this.id(), kb, vb, ifAbsent);
  }

  private sendPut(id: string, kb: Uint8Array, vb: Uint8Array, ifAbsent: boolean): Promise<boolean> {
    try {
      this.checkSize(kb, vb);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.client
      .dataRequest((t) => {
        const part = partitionOf(id, kb, t.partitions);
        return {
          shard: routeOf(t, part),
          frame: { type: "put", dict: id, part, epoch: t.epoch, key: kb, value: vb, ifAbsent },
          sizeHint: kb.byteLength + vb.byteLength + 64,
        };
      })
      .then((r) => {
        return checkReply("put", r);
      });
  }

  /**
   * Write many entries: `other` (a plain object, a Map or an iterable of pairs), then
   * `extra` on top. Every key and value is checked before anything is sent. Options
   * (`{ ttlMs }`) come last: `update(other, { ttlMs })` or `update(other, extra, { ttlMs })`
   * (so a second argument that holds only `ttlMs` is options, not an entry named "ttlMs").
   */
  async update(other: Record<string, V> | Map<DictKey, V> | Iterable<readonly [DictKey, V]>, extra?: Record<string, V> | UpdateOptions, opts?: UpdateOptions): Promise<void> {
    const { entries, ttl } = updateArguments(extra, opts);
    const id = await this.id();
    await sendUpdate(this.client, id, await encodeUpdate(other, entries, (kb, vb) => this.checkSize(kb, vb)), ttl);
  }

  /**
   * Remove `key` and return its value. When absent: `defaultValue` if one was passed
   * (an explicit `undefined` counts), else {@link KeyError}.
   */
  async pop(key: DictKey): Promise<V>;
  async pop<D>(key: DictKey, defaultValue: D): Promise<V | D>;
  async pop(key: DictKey, ...rest: unknown[]): Promise<unknown> {
    const r = checkReply("pop", await this.keyOp("pop", key));
    if (r === undefined || r === null) {
      if (rest.length > 0) return rest[0];
      throw new KeyError(`key ${describeKey(key)} not found in dict ${this.label}`);
    }
    return this.decode(r, key);
  }

  /**
   * Remove `key`; {@link KeyError} when it is absent. With `{ ifVersion }`: remove it only
   * at that version, and return whether it did (false, not KeyError, when absent).
   */
  async delete(key: DictKey): Promise<void>;
  async delete(key: DictKey, opts: DeleteOptions): Promise<boolean>;
  async delete(key: DictKey, opts?: DeleteOptions): Promise<void | boolean> {
    if (opts !== undefined) return deleteAtVersion(this.entryHandle(), key, opts.ifVersion);
    try {
      checkReply("del", await this.keyOp("del", key));
    } catch (err) {
      if (err instanceof KeyError) throw new KeyError(`key ${describeKey(key)} not found in dict ${this.label}`);
      throw err;
    }
  }

  /** Remove every entry; the dict itself stays. */
  async clear(): Promise<void> {
    await fanOut(this.client, await this.id(), "clear");
  }

  /** The exact number of live entries (per-partition counters, no scan, no cap). */
  async len(): Promise<number> {
    let n = 0;
    for (const c of await fanOut(this.client, await this.id(), "len")) n += c;
    return n;
  }

  private async *scan(values: boolean): AsyncGenerator<ScanPageReply & { part: number }> {
    yield* scanPages(this.client, await this.id(), values);
  }

  private decodeKeyBytes(bytes: Uint8Array): DictKey {
    try {
      return decodeKey(bytes);
    } catch (err) {
      throw new DeserializationError(`bad key bytes from the cluster in dict ${this.label}: ${(err as Error).message}`, this.label, bytes);
    }
  }

  /** Every key, unordered, streamed a page at a time. */
  async *keys(): AsyncGenerator<DictKey, void, undefined> {
    for await (const page of this.scan(false)) for (const k of page.keys) yield this.decodeKeyBytes(k);
  }

  /** Every value, unordered, streamed a page at a time. */
  async *values(): AsyncGenerator<V, void, undefined> {
    for await (const page of this.scan(true)) for (const [k, v] of pairsOf(page)) yield this.decode(v, this.decodeKeyBytes(k));
  }

  /** Every `[key, value]` pair, unordered, streamed a page at a time. */
  async *items(): AsyncGenerator<[DictKey, V], void, undefined> {
    for await (const page of this.scan(true)) {
      for (const [k, v] of pairsOf(page)) {
        const key = this.decodeKeyBytes(k);
        yield [key, this.decode(v, key)];
      }
    }
  }

  /** Delete an ephemeral dict (no-op for named dicts, which live until deleted by name). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#info?.ephemeral) return;
    await this.client.coordinatorRequest({ type: "dict.deleteId", id: this.#info.id });
  }

  // util.inspect.custom is this registered symbol: Node finds it, and a browser needs no node:util.
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Dict(${this.name !== null ? JSON.stringify(this.name) : (this[HANDLE_ID] ?? "unresolved")})`;
  }
}

registerHandleCodec<ClusterClient>({
  Class: Dict as unknown as new (...args: never[]) => Dict,
  revive: (id, client) => Dict.fromId(id, { client }),
});

