/**
 * What a shard answers on its port, by request type: the data path (data-handler.ts), hot
 * keys, replication and leadership confirmations from other nodes (only on node
 * connections), the table, and the hello that names a client (its id makes retries
 * recognisable).
 */
import { InvalidError } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import type { Peer } from "../net/peer.js";
import { retryIdentity } from "../net/session.js";
import { PROTOCOL_VERSION, type RequestFrame } from "../protocol/frames.js";
import { isDataFrame, type DataHandler } from "./data-handler.js";
import type { DictAccess } from "./dict-access.js";
import type { Leadership } from "./leadership.js";
import type { ReplicaApplier } from "./replica-applier.js";

export interface ShardRequestContext {
  id: string;
  data: DataHandler;
  /** Scoped tokens' checks, before a request touches anything. */
  access: DictAccess;
  replica: ReplicaApplier;
  leadership: Leadership;
  table(): PartitionTable | undefined;
}

export function handleShardRequest(ctx: ShardRequestContext, frame: RequestFrame, peer: Peer): unknown {
  if (isDataFrame(frame)) {
    const checked = ctx.access.check(peer.session, frame.type, frame.dict);
    return checked === undefined ? ctx.data.handle(frame, peer.session.retryId) : checked.then(() => ctx.data.handle(frame, peer.session.retryId));
  }
  if (frame.type === "hotKeys") {
    if (peer.session.clientId === undefined) throw new InvalidError("hotKeys needs a hello first");
    const checked = ctx.access.check(peer.session, frame.type, frame.dict);
    return checked === undefined ? ctx.data.hotKeys.reply(frame.dict, frame.limit) : checked.then(() => ctx.data.hotKeys.reply(frame.dict, frame.limit));
  }
  if (frame.type === "replb" || frame.type === "confirm") {
    const who = peer.session.clientId;
    if (peer.session.role !== "node" || typeof who !== "string" || !who.startsWith("node:")) throw new InvalidError(`${frame.type} is for nodes`);
    const sender = who.slice(5);
    return frame.type === "replb" ? ctx.replica.receiveBatch(frame.items, sender) : ctx.leadership.confirm(frame, sender);
  }
  if (frame.type === "done") {
    const who = peer.session.retryId;
    if (who === undefined || peer.session.clientId?.startsWith("node:") === true) throw new InvalidError("done needs a client's hello first");
    ctx.data.clientDone(who, frame.below);
    return null;
  }
  const table = ctx.table();
  if (frame.type === "table.get" && table) return table.toData();
  if (frame.type === "hello") {
    if (frame.v !== PROTOCOL_VERSION) throw new InvalidError(`protocol version ${frame.v} is not supported (this cluster speaks ${PROTOCOL_VERSION})`);
    peer.session.clientId = frame.clientId;
    peer.session.retryId = retryIdentity(peer.session, frame.clientId);
    return { v: PROTOCOL_VERSION, shardId: ctx.id };
  }
  throw new InvalidError(`${frame.type} is not served by a shard`);
}
