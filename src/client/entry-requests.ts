/**
 * The versioned requests on one key (getEntry, putEntry, delEntry, incr, touch,
 * awaitChange) as the SDK sends them: through the one request layer (client.dataRequest,
 * whose retry policy each type has in request-policy.ts), replies checked.
 */
import { partitionOf } from "../hashing/hash.js";
import type { Outgoing } from "../protocol/frames.js";
import { checkReply, type ReplyOf } from "../protocol/replies.js";
import { encodeKey, type DictKey } from "../protocol/keys.js";
import { InvalidError } from "../errors.js";
import type { PutOptions } from "./dict-options.js";
import { encodeValue } from "./value-codec.js";
import { checkTtl, parseVersion } from "./versions.js";
import type { ClusterClient } from "./cluster-client.js";
import { routeOf } from "./routing.js";

/** What the entry operations need of a `Dict` handle. */
export interface EntryHandle {
  readonly client: ClusterClient;
  /** The dict id, resolving the handle first if needed. */
  id(): Promise<string>;
  /** The dict id if the handle is resolved already (no wait). */
  knownId(): string | undefined;
  decode(bytes: Uint8Array, key: unknown): unknown;
  checkSize(keyBytes: Uint8Array, valueBytes: Uint8Array): void;
  readonly label: string;
}

type KeyFields = { dict: string; part: number; epoch: number; key: Uint8Array };
type KeyRequest = "getEntry" | "putEntry" | "delEntry" | "incr" | "touch" | "awaitChange";

/** Send a request on the key `kb` to its partition's primary; the reply checked. */
export async function keyRequest<T extends KeyRequest>(
  h: EntryHandle,
  kb: Uint8Array,
  type: T,
  fields: Omit<Extract<Outgoing, { type: T }>, "type" | keyof KeyFields>,
  sizeHint?: number,
): Promise<ReplyOf<T>> {
  const id = await h.id();
  const reply = await h.client.dataRequest((t) => {
    const part = partitionOf(id, kb, t.partitions);
    const frame = { type, dict: id, part, epoch: t.epoch, key: kb, ...fields } as unknown as Outgoing;
    return { shard: routeOf(t, part), frame, ...(sizeHint !== undefined && { sizeHint }) };
  });
  return checkReply(type, reply);
}


/** What a conditional write answered: the new version, or the current one (null: absent) when the condition failed. */
export interface WriteOutcome {
  ok: boolean;
  ver: number | null;
}

/** Send a `putEntry`: the write with its conditions and TTL, as {@link PutOptions} say. */
export async function writeEntry(h: EntryHandle, key: DictKey, value: unknown, opts: PutOptions): Promise<WriteOutcome> {
  const kb = encodeKey(key);
  const ifVersion = opts.ifVersion === undefined || opts.ifVersion === null ? opts.ifVersion : parseVersion(opts.ifVersion);
  if (typeof ifVersion === "number" && opts.skipIfExists) throw new InvalidError("skipIfExists and an ifVersion cannot both hold: use one");
  const ttl = opts.ttlMs === undefined ? undefined : checkTtl(opts.ttlMs);
  const vb = await encodeValue(value);
  h.checkSize(kb, vb);
  return keyRequest(
    h,
    kb,
    "putEntry",
    { value: vb, ifAbsent: opts.skipIfExists ?? false, ...(ifVersion !== undefined && { ifVersion }), ...(ttl !== undefined && { ttl }) },
    kb.byteLength + vb.byteLength + 64,
  );
}

/** A delete only at version `ifVersion` (null: never); true if it deleted. */
export async function deleteAtVersion(h: EntryHandle, key: DictKey, ifVersion: string | null): Promise<boolean> {
  const kb = encodeKey(key);
  return keyRequest(h, kb, "delEntry", { ifVersion: ifVersion === null ? null : parseVersion(ifVersion) });
}

