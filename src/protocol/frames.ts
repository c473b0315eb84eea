/**
 * The wire protocol: every frame is a msgpack-encoded object discriminated by `type`.
 *
 * Schemas are TypeBox definitions, so each frame's TypeScript type and its runtime check come
 * from one source and cannot drift. Requests carry `rid`, a request id unique per client
 * that the reply echoes (and that later serves for deduplication of retries).
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";

export const PROTOCOL_VERSION = 1;

const Rid = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Bytes = Type.Uint8Array();
const DictId = Type.String({ minLength: 4, maxLength: 64 });
const Partition = Type.Integer({ minimum: 0, maximum: 65535 });
/** Epochs count up by one per change: one past the exact integers of a double is no epoch of ours. */
const Epoch = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** An entry's version: the partition's write sequence (0: written before versions). */
const Version = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** An entry's own idle TTL in ms (0: the dict's), at most ten years. */
export const MAX_TTL_MS = 10 * 365 * 24 * 3_600_000;
const TtlField = Type.Integer({ minimum: 0, maximum: MAX_TTL_MS });
/** A TTL a client asks for: at least 1 ms. */
const Ttl = Type.Integer({ minimum: 1, maximum: MAX_TTL_MS });
/** The longest a shard parks an `awaitChange` before answering "no change yet". */
export const MAX_AWAIT_MS = 30_000;
const Name = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9._-]+$" });
const EnvName = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9._-]+$" });

function request<T extends string, P extends Record<string, TSchema>>(type: T, props: P) {
  return Type.Object({ type: Type.Literal(type), rid: Rid, ...props }, { additionalProperties: false });
}

// ---- shared shapes -------------------------------------------------------------------------

export const ShardAddress = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }), url: Type.String({ maxLength: 512 }) });
export type ShardAddress = Static<typeof ShardAddress>;

/** The partition table: for each partition the owning shard ids, primary first. */
export const PartitionTableSchema = Type.Object({
  epoch: Epoch,
  partitions: Type.Integer({ minimum: 1, maximum: 65536 }),
  /** Per partition: the primary, then the in-sync replicas. */
  owners: Type.Array(Type.Array(Type.String())),
  /** Per partition: bumped whenever its primary changes; replicas refuse older ones. */
  pepochs: Type.Array(Epoch),
  /** Per partition: shards being caught up to become replicas (not waited for yet). */
  learners: Type.Array(Type.Array(Type.String())),
  shards: Type.Array(ShardAddress),
  /**
   * Per partition: a hand-off of the primary role in progress, or null. `id` is the table
   * epoch that started it, so a report about an older hand-off is never taken for this one.
   */
  handoffs: Type.Optional(Type.Array(Type.Union([Type.Null(), Type.Object({ to: Type.String({ minLength: 1, maxLength: 128 }), id: Epoch })]))),
});
export type PartitionTableData = Static<typeof PartitionTableSchema>;

export const DictInfoSchema = Type.Object({
  id: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  env: Type.String(),
  createdAt: Type.Number(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  ephemeral: Type.Boolean(),
});
export type DictInfoData = Static<typeof DictInfoSchema>;

// ---- client → coordinator ----------------------------------------------------------------

export const Hello = request("hello", {
  v: Type.Integer(),
  clientId: Type.String({ minLength: 1, maxLength: 64 }),
  agent: Type.Optional(Type.String({ maxLength: 256 })),
});
export const TableGet = request("table.get", {});
/**
 * Client → shard: this client holds the answer of every request of its own below `below`,
 * so the shard may drop them and must not run one again (see dedup-table.ts).
 */
export const Done = request("done", { below: Rid });
export const DictLookup = request("dict.lookup", { name: Name, env: EnvName, createIfMissing: Type.Boolean() });
export const DictGet = request("dict.get", { id: DictId });
export const DictCreate = request("dict.create", { name: Name, env: EnvName, allowExisting: Type.Boolean() });
export const DictList = request("dict.list", {
  env: EnvName,
  max: Type.Optional(Type.Integer({ minimum: 0 })),
  createdBefore: Type.Optional(Type.Number()),
});
export const DictDelete = request("dict.delete", { name: Name, env: EnvName, allowMissing: Type.Boolean() });
export const DictDeleteId = request("dict.deleteId", { id: DictId });
export const EphemeralCreate = request("ephemeral.create", { env: EnvName });
/** A move this shard is running as a partition's primary: entries copied so far. */
export const MoveProgress = Type.Object({ part: Partition, to: Type.String({ maxLength: 128 }), done: Type.Integer({ minimum: 0 }), total: Type.Integer({ minimum: 0 }) });
export type MoveProgressData = Static<typeof MoveProgress>;
/**
 * Upper bounds (seconds) of the latency buckets a shard counts its answers in: the buckets of
 * `shardict_request_duration_seconds`, and of a heartbeat's `load`.
 */
export const LATENCY_BOUNDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/**
 * A shard's answers to client data requests since it started (counts only grow; a restart
 * starts them over): what the web console charts as throughput and latency.
 */
export const ShardLoad = Type.Object({
  /** Answers to data requests. */
  ops: Type.Integer({ minimum: 0 }),
  /** Those that were errors (any code, "moved" included). */
  errors: Type.Integer({ minimum: 0 }),
  /** Seconds from starting them to queueing their answers, in all. */
  seconds: Type.Number({ minimum: 0 }),
  /** Answers per latency bucket (LATENCY_BOUNDS, then one for longer), not cumulative. */
  buckets: Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 64 }),
});
export type ShardLoadData = Static<typeof ShardLoad>;
/** Shards add what the coordinator shows in `cluster status` and the web console. */
export const Heartbeat = request("heartbeat", {
  entries: Type.Optional(Type.Integer({ minimum: 0 })),
  held: Type.Optional(Type.Integer({ minimum: 0 })),
  moves: Type.Optional(Type.Array(MoveProgress, { maxItems: 65536 })),
  load: Type.Optional(ShardLoad),
});
export const StatusGet = request("status", {});
/** An operator (with the cluster secret) asks to move every partition off a shard, then forget it. */
export const RemoveShard = request("cluster.removeShard", { shardId: Type.String({ minLength: 1, maxLength: 128 }) });

// ---- shard → coordinator -----------------------------------------------------------------

export const ShardRegister = request("shard.register", {
  v: Type.Integer(),
  shardId: Type.String({ minLength: 1, maxLength: 128 }),
  url: Type.String({ maxLength: 512 }),
  /** The shard found its data corrupt: it holds nothing, and must be rebuilt from replicas. */
  lostData: Type.Optional(Type.Boolean()),
});

// ---- coordinator → shard -----------------------------------------------------------------

export const ShardTable = request("shard.table", { table: PartitionTableSchema });
export const ShardDictAdded = request("shard.dictAdded", { id: DictId });
export const ShardDictRemoved = request("shard.dictRemoved", { id: DictId });

// ---- primary → replica, replica → coordinator ------------------------------------------

const DictIdField = Type.String({ minLength: 4, maxLength: 64 });
/** A clear's id (the client's id and the call's op number), the same in every partition it reaches. */
const ClearId = Type.String({ maxLength: 128 });
/** One replicated change of a partition (what a primary's storage also gets). */
export const MutationSchema = Type.Union([
  Type.Object({ op: Type.Literal("set"), part: Partition, dict: DictIdField, gen: Type.Integer({ minimum: 0 }), key: Bytes, value: Bytes, deadline: Type.Number(), ver: Version, ttl: TtlField }),
  Type.Object({ op: Type.Literal("delete"), part: Partition, dict: DictIdField, gen: Type.Integer({ minimum: 0 }), key: Bytes, ver: Version, expired: Type.Optional(Type.Boolean()) }),
  Type.Object({ op: Type.Literal("clear"), part: Partition, dict: DictIdField, gen: Type.Integer({ minimum: 0 }), ver: Type.Optional(Version), cid: Type.Optional(ClearId) }),
  Type.Object({
    op: Type.Literal("dedup"),
    id: Type.String({ maxLength: 200 }),
    at: Type.Number(),
    answer: Type.Unknown(),
    memoryOnly: Type.Optional(Type.Boolean()),
    /** The partition of the write it answers (so it moves with the partition). */
    part: Type.Optional(Partition),
    /** The id's parts, when it is a client's request id (a put's answer written inside its set). */
    client: Type.Optional(Type.String({ maxLength: 200 })),
    rid: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  }),
  /** First of a snapshot: the replica empties the partition before what follows. */
  Type.Object({ op: Type.Literal("reset"), part: Partition, ver: Type.Optional(Version) }),
  /** After a snapshot's reset: the floors of clients whose answers of it the sender dropped (dedup-table.ts). */
  Type.Object({
    op: Type.Literal("floors"),
    part: Partition,
    floors: Type.Array(Type.Object({ client: Type.String({ minLength: 1, maxLength: 128 }), below: Type.Integer({ minimum: 0 }), at: Type.Number() }), { maxItems: 200_000 }),
  }),
  /** After a snapshot's reset: the primary's change history, for watchers (change-history.ts). */
  Type.Object({
    op: Type.Literal("history"),
    part: Partition,
    floor: Version,
    changes: Type.Array(
      Type.Object({
        seq: Version,
        dict: DictIdField,
        kind: Type.Integer({ minimum: 0, maximum: 3 }),
        key: Type.Optional(Bytes),
        value: Type.Optional(Bytes),
        cid: Type.Optional(ClearId),
      }),
    ),
  }),
]);
/** One partition's replicated mutations, from its primary at partition epoch `pepoch`. */
export const ReplItemSchema = Type.Object({ part: Partition, pepoch: Epoch, muts: Type.Array(MutationSchema) });
export type ReplItem = Static<typeof ReplItemSchema>;
/**
 * Replication from a primary to one replica: its partitions' mutations, at most one item per
 * partition (replication-batches.ts). The reply's result is null when every item was
 * applied, else per item null or the error that refused it.
 */
export const ReplBatch = request("replb", { items: Type.Array(ReplItemSchema, { minItems: 1, maxItems: 65536 }) });
export const ReplicaFailed = request("shard.replicaFailed", { part: Partition, pepoch: Epoch, replica: Type.String({ minLength: 1, maxLength: 128 }) });
/** A primary without a current lease asks its replicas whether it still leads these partitions. */
export const Confirm = request("confirm", { parts: Type.Array(Type.Object({ part: Partition, pepoch: Epoch }), { maxItems: 65536 }) });
/** A primary has stopped serving a partition it hands off, and every write it accepted is on `to`. */
export const HandedOff = request("shard.handedOff", { part: Partition, pepoch: Epoch, to: Type.String({ minLength: 1, maxLength: 128 }), id: Epoch });
/** A shard asks to leave (SIGTERM): resolves once it holds no partition any more. */
export const ShardLeave = request("shard.leave", {});
export const CaughtUp = request("shard.caughtUp", { part: Partition, pepoch: Epoch, replica: Type.String({ minLength: 1, maxLength: 128 }) });

// ---- client → shard (the data path) ------------------------------------------------------

const KeyOp = { dict: DictId, part: Partition, epoch: Epoch, key: Bytes };
export const Get = request("get", KeyOp);
export const Contains = request("contains", KeyOp);
export const Pop = request("pop", KeyOp);
export const Del = request("del", KeyOp);
export const Put = request("put", { ...KeyOp, value: Bytes, ifAbsent: Type.Boolean() });
export const Update = request("update", {
  dict: DictId,
  part: Partition,
  epoch: Epoch,
  keys: Type.Array(Bytes),
  values: Type.Array(Bytes),
  /** The entries' own idle TTL; absent keeps each entry's. */
  ttl: Type.Optional(Ttl),
});
/**
 * A page of an export: a dict's entries in one partition as of the first page (see
 * export-sessions.ts), from index `from` of that capture. No `session`: start a capture.
 */
export const ExportPageReq = request("exportPage", {
  dict: DictId,
  part: Partition,
  epoch: Epoch,
  session: Type.Optional(Type.String({ maxLength: 64 })),
  from: Type.Integer({ minimum: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 10000 }),
});
/** A shard's approximate hot keys of a dict: the most accessed and the largest (a client asks every shard). */
export const HotKeysReq = request("hotKeys", { dict: DictId, limit: Type.Integer({ minimum: 1, maximum: 64 }) });
/** An entry with its version and expiry (a read). */
export const GetEntry = request("getEntry", KeyOp);
/**
 * A write that answers the new version, or null when its condition failed: `ifVersion` a
 * version (write only if the key is at it), null (only if absent), absent (no condition).
 */
export const PutEntry = request("putEntry", {
  ...KeyOp,
  value: Bytes,
  ifAbsent: Type.Boolean(),
  ifVersion: Type.Optional(Type.Union([Version, Type.Null()])),
  ttl: Type.Optional(Ttl),
});
/** Delete only if the key is at `ifVersion` (null: never, there is nothing to delete when absent). */
export const DelEntry = request("delEntry", { ...KeyOp, ifVersion: Type.Union([Version, Type.Null()]) });
/** Add `delta` (an encoded number or bigint) to the counter at the key; answers the new value, encoded. */
export const Incr = request("incr", { ...KeyOp, delta: Bytes });
/** Move an entry's deadline as a read does, without reading it (only at `ifVersion`, if given). */
export const Touch = request("touch", { ...KeyOp, ifVersion: Type.Optional(Version) });
/**
 * Answer once the key is no longer at version `ver` (null: no longer absent), true, or after
 * `timeoutMs`, false. Moves no deadline: a waiter must not keep a lock alive.
 */
export const AwaitChange = request("awaitChange", { ...KeyOp, ver: Type.Union([Version, Type.Null()]), timeoutMs: Type.Integer({ minimum: 0, maximum: MAX_AWAIT_MS }) });
/**
 * A bulk update of several partitions of one shard in one request (what `Dict.update`
 * sends). Each partition's entries land together or not at all, and at most once per
 * (client, `op`, partition): `op` names the whole update call, so its partitions can be
 * regrouped over shards and retried in any combination without applying one twice.
 */
export const UpdateParts = request("updateParts", {
  op: Rid,
  dict: DictId,
  epoch: Epoch,
  parts: Type.Array(
    Type.Object({ part: Partition, keys: Type.Array(Bytes), values: Type.Array(Bytes) }, { additionalProperties: false }),
    { minItems: 1, maxItems: 65536 },
  ),
  /** The entries' own idle TTL; absent keeps each entry's. */
  ttl: Type.Optional(Ttl),
});
/**
 * Empty a dict in these partitions. `op` names the whole clear call (as for `updateParts`):
 * each partition is cleared at most once per (client, op), however the call is regrouped and
 * retried, and watchers see one clear per partition with the same id everywhere.
 */
export const Clear = request("clear", { dict: DictId, epoch: Epoch, parts: Type.Array(Partition, { maxItems: 65536 }), op: Type.Optional(Rid) });
/** The most changes one `watch` answer carries. */
export const MAX_WATCH_EVENTS = 10_000;
/**
 * Read a dict's changes in these partitions after the positions given (null: from now),
 * only those of `keys` or of string keys starting with `prefix` if given. With nothing to
 * show yet, the shard holds the request up to `waitMs` (see watch-polls.ts).
 */
export const Watch = request("watch", {
  dict: DictId,
  epoch: Epoch,
  parts: Type.Array(Type.Object({ part: Partition, after: Type.Union([Version, Type.Null()]) }, { additionalProperties: false }), { minItems: 1, maxItems: 65536 }),
  keys: Type.Optional(Type.Array(Bytes, { minItems: 1, maxItems: 10_000 })),
  prefix: Type.Optional(Type.String({ maxLength: 4096 })),
  waitMs: Type.Integer({ minimum: 0, maximum: MAX_AWAIT_MS }),
  maxEvents: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_WATCH_EVENTS })),
});
export const Len = request("len", { dict: DictId, epoch: Epoch, parts: Type.Array(Partition, { maxItems: 65536 }) });
/**
 * A page of a partition's entries in key-byte order, after the position `after` (the last
 * key the previous page examined; null for the first page). The position names no node, so
 * an iteration survives its partition moving; `session` only lets the same node skip work.
 */
export const Scan = request("scan", {
  dict: DictId,
  part: Partition,
  epoch: Epoch,
  after: Type.Union([Bytes, Type.Null()]),
  session: Type.Optional(Type.String({ maxLength: 64 })),
  limit: Type.Integer({ minimum: 1, maximum: 10000 }),
  values: Type.Boolean(),
});

// ---- replies -----------------------------------------------------------------------------

export const Ok = Type.Object({ type: Type.Literal("ok"), rid: Rid, result: Type.Optional(Type.Unknown()) });
export const Err = Type.Object({
  type: Type.Literal("err"),
  rid: Rid,
  code: Type.String({ maxLength: 64 }),
  message: Type.String({ maxLength: 4096 }),
  limit: Type.Optional(Type.Number()),
  size: Type.Optional(Type.Number()),
  /** A full disk: which node, which folder. */
  node: Type.Optional(Type.String({ maxLength: 256 })),
  /** A retryable failure of a request the node had already applied (see RetryableError). */
  maybeApplied: Type.Optional(Type.Boolean()),
  folder: Type.Optional(Type.String({ maxLength: 4096 })),
});

/** Every frame type, keyed by its `type` tag. */
export const FrameSchemas = {
  hello: Hello,
  "table.get": TableGet,
  done: Done,
  "dict.lookup": DictLookup,
  "dict.get": DictGet,
  "dict.create": DictCreate,
  "dict.list": DictList,
  "dict.delete": DictDelete,
  "dict.deleteId": DictDeleteId,
  "ephemeral.create": EphemeralCreate,
  heartbeat: Heartbeat,
  status: StatusGet,
  "shard.register": ShardRegister,
  "shard.table": ShardTable,
  "shard.dictAdded": ShardDictAdded,
  "shard.dictRemoved": ShardDictRemoved,
  "shard.replicaFailed": ReplicaFailed,
  "shard.caughtUp": CaughtUp,
  "shard.handedOff": HandedOff,
  "shard.leave": ShardLeave,
  "cluster.removeShard": RemoveShard,
  confirm: Confirm,
  replb: ReplBatch,
  get: Get,
  contains: Contains,
  pop: Pop,
  del: Del,
  put: Put,
  update: Update,
  updateParts: UpdateParts,
  clear: Clear,
  watch: Watch,
  len: Len,
  scan: Scan,
  getEntry: GetEntry,
  putEntry: PutEntry,
  delEntry: DelEntry,
  incr: Incr,
  touch: Touch,
  awaitChange: AwaitChange,
  exportPage: ExportPageReq,
  hotKeys: HotKeysReq,
  ok: Ok,
  err: Err,
} as const;

type Schemas = typeof FrameSchemas;
export type FrameType = keyof Schemas;
/** The frame of one type. */
export type FrameOf<T extends FrameType> = Static<Schemas[T]>;
/** Any frame. */
export type Frame = { [T in FrameType]: FrameOf<T> }[FrameType];
export type Reply = FrameOf<"ok"> | FrameOf<"err">;
export type RequestFrame = Exclude<Frame, Reply>;
export type RequestType = RequestFrame["type"];
/** A request as the sender builds it; the connection assigns `rid`. */
export type Outgoing<T extends RequestType = RequestType> = T extends RequestType
  ? Omit<FrameOf<T>, "rid">
  : never;

/** The requests a shard serves from clients. */
export const DataOps = new Set<RequestType>([
  "get",
  "contains",
  "pop",
  "del",
  "put",
  "update",
  "updateParts",
  "clear",
  "watch",
  "len",
  "scan",
  "getEntry",
  "putEntry",
  "delEntry",
  "incr",
  "touch",
  "awaitChange",
  "exportPage",
]);
