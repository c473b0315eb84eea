/**
 * What each request a client sends is answered with, as schemas (TypeBox, like the frames):
 * the SDK checks every reply against the schema of the request it made, so nothing past
 * {@link checkReply} holds a reply of the wrong shape, and no reply is cast.
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { DictError } from "../errors.js";
import { DictInfoSchema, PartitionTableSchema } from "./frames.js";

/** The coordinator's answer to a client's `hello`. */
export const WelcomeSchema = Type.Object({
  v: Type.Integer(),
  clientId: Type.String(),
  table: PartitionTableSchema,
  maxEntryBytes: Type.Integer({ minimum: 1 }),
  /** How often the client must heartbeat to keep its ephemeral dicts. */
  heartbeatMs: Type.Integer({ minimum: 1 }),
});
export type Welcome = Static<typeof WelcomeSchema>;

const welcomeCheck = TypeCompiler.Compile(WelcomeSchema);

/** The coordinator's `hello` reply, checked ({@link DictError} if it is not one). */
export function checkWelcome(value: unknown): Welcome {
  if (!welcomeCheck.Check(value)) throw new DictError("unexpected reply from the coordinator to hello");
  return value;
}

/** A shard's answer to `hello`. */
export const ShardWelcomeSchema = Type.Object({ v: Type.Integer(), shardId: Type.String() });

/** What `status` answers (and `shardict cluster status --json` prints). */
export const ClusterStatusSchema = Type.Object({
  epoch: Type.Integer(),
  partitions: Type.Integer(),
  replicationFactor: Type.Integer(),
  dicts: Type.Integer(),
  shards: Type.Array(
    Type.Object({
      id: Type.String(),
      url: Type.String(),
      /** joining, serving, handing off, leaving */
      state: Type.String(),
      /** alive, suspect, dead, or unregistered (not heard from since the coordinator started) */
      health: Type.String(),
      /** Partitions it leads. */
      partitions: Type.Integer(),
      /** Partitions it holds a replica of. */
      replicas: Type.Integer(),
      /** Entries in the partitions it leads, as of its last heartbeat (null before one). */
      entries: Type.Union([Type.Integer(), Type.Null()]),
      /** Entries it holds in all (replicas too). */
      held: Type.Union([Type.Integer(), Type.Null()]),
    }),
  ),
  /** Partitions at their desired place, not yet there, and moving now. */
  rebalance: Type.Object({ done: Type.Integer(), pending: Type.Integer(), moving: Type.Integer() }),
  moves: Type.Array(
    Type.Object({
      part: Type.Integer(),
      from: Type.String(),
      to: Type.String(),
      phase: Type.Union([Type.Literal("copying"), Type.Literal("handing off")]),
      done: Type.Integer(),
      total: Type.Integer(),
    }),
  ),
});
export type ClusterStatus = Static<typeof ClusterStatusSchema>;

/** A page of a scan: keys (and values) in key order, and where the next page starts. */
export const ScanPageSchema = Type.Object({
  keys: Type.Array(Type.Uint8Array()),
  values: Type.Array(Type.Uint8Array()),
  /** The position (a key) the next page of this partition starts after; null when done. */
  next: Type.Union([Type.Uint8Array(), Type.Null()]),
  session: Type.String(),
});
export type ScanPageReply = Static<typeof ScanPageSchema>;

/**
 * A `watch` answer, per partition asked that has something to say: the changes found (`s`
 * its number, `t` its kind: 0 put, 1 delete, 2 expire, 3 clear; `k` key, `v` a put's value,
 * `c` a clear's id) and the position read up to; `reset` when the position asked for could
 * not be resumed (the history no longer reaches back to it): `pos` is then where the
 * partition is now. A partition asked from a position that is still current is left out
 * (its position stays); one asked "from now" (null) is always there.
 */
export const WatchReplySchema = Type.Object({
  parts: Type.Array(
    Type.Object({
      part: Type.Integer({ minimum: 0 }),
      pos: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
      reset: Type.Optional(Type.Literal(true)),
      ev: Type.Array(
        Type.Object({
          s: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
          t: Type.Integer({ minimum: 0, maximum: 3 }),
          k: Type.Optional(Type.Uint8Array()),
          v: Type.Optional(Type.Uint8Array()),
          c: Type.Optional(Type.String()),
        }),
      ),
    }),
  ),
});
export type WatchReply = Static<typeof WatchReplySchema>;

const Bytes = Type.Union([Type.Uint8Array(), Type.Null(), Type.Undefined()]);
const Nothing = Type.Union([Type.Undefined(), Type.Null()]);
const Version = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** The reply schema of each request a client sends. */
export const ReplySchemas = {
  hello: Type.Union([WelcomeSchema, ShardWelcomeSchema]),
  heartbeat: Type.Unknown(),
  done: Nothing,
  status: ClusterStatusSchema,
  "table.get": PartitionTableSchema,
  "dict.lookup": DictInfoSchema,
  "dict.get": DictInfoSchema,
  "dict.create": DictInfoSchema,
  "ephemeral.create": DictInfoSchema,
  "dict.list": Type.Array(DictInfoSchema),
  "dict.delete": Type.Boolean(),
  "dict.deleteId": Type.Boolean(),
  get: Bytes,
  pop: Bytes,
  contains: Type.Boolean(),
  put: Type.Boolean(),
  del: Type.Boolean(),
  update: Type.Integer({ minimum: 0 }),
  updateParts: Type.Integer({ minimum: 0 }),
  clear: Nothing,
  len: Type.Integer({ minimum: 0 }),
  scan: ScanPageSchema,
  getEntry: Type.Union([Type.Null(), Type.Object({ v: Type.Uint8Array(), ver: Version, exp: Type.Number() })]),
  putEntry: Type.Object({ ok: Type.Boolean(), ver: Type.Union([Version, Type.Null()]) }),
  delEntry: Type.Boolean(),
  incr: Type.Uint8Array(),
  touch: Type.Boolean(),
  awaitChange: Type.Boolean(),
  watch: WatchReplySchema,
  hotKeys: Type.Object({
    accessed: Type.Array(Type.Object({ key: Type.Uint8Array(), count: Type.Number(), error: Type.Number() }), { maxItems: 64 }),
    largest: Type.Array(Type.Object({ key: Type.Uint8Array(), bytes: Type.Number() }), { maxItems: 64 }),
  }),
  /** `restart`: the capture is gone; start the partition over. */
  exportPage: Type.Union([
    Type.Object({ restart: Type.Literal(true) }),
    Type.Object({
      keys: Type.Array(Type.Uint8Array()),
      values: Type.Array(Type.Uint8Array()),
      /** Per entry: ms left at the capture, its own TTL (0: the dict's), its version. */
      left: Type.Array(Type.Number()),
      ttl: Type.Array(Type.Number()),
      ver: Type.Array(Version),
      next: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
      session: Type.String(),
      /** The partition's watch position of the capture (a watch after it misses nothing). */
      pos: Type.Optional(Version),
    }),
  ]),
} satisfies Record<string, TSchema>;

export type ReplyType = keyof typeof ReplySchemas;
export type ReplyOf<T extends ReplyType> = Static<(typeof ReplySchemas)[T]>;

const checks = new Map<string, TypeCheck<TSchema>>();
for (const [type, schema] of Object.entries(ReplySchemas)) checks.set(type, TypeCompiler.Compile(schema));

/** The reply to a `type` request, checked against its schema ({@link DictError} if it does not match). */
export function checkReply<T extends ReplyType>(type: T, value: unknown): ReplyOf<T> {
  const check = checks.get(type) as TypeCheck<TSchema>;
  if (!check.Check(value)) {
    const first = check.Errors(value).First();
    throw new DictError(`unexpected reply from the cluster to ${type}${first ? ` at ${first.path || "/"}: ${first.message}` : ""}`);
  }
  return value as ReplyOf<T>;
}
