/**
 * What a node knows about one connection: who it is (set by the listener from the
 * handshake) and what it said about itself since (its hello, a shard's registration).
 */
import { InvalidError } from "../errors.js";
import type { PeerRole } from "./auth.js";
import type { TokenScope } from "./token-scope.js";

export interface Session {
  /** A client, or a node (it showed the cluster secret). Set by the listener. */
  role: PeerRole | undefined;
  /** The address it connected from, for log lines (the socket forgets it once closed). */
  remote: string | undefined;
  /** The id from its hello: a client's id (its request ids are deduplicated under it); node links say `node:<id>`. */
  clientId: string | undefined;
  /** A client's `user@host`, from its hello. */
  agent: string | undefined;
  /** On the coordinator: the shard this connection registered as. */
  shardId: string | undefined;
  /** A client's token's scope (README, "Security"); undefined: it may do everything. Set by the listener. */
  scope: TokenScope | undefined;
}

export function newSession(): Session {
  return { role: undefined, remote: undefined, clientId: undefined, agent: undefined, shardId: undefined, scope: undefined };
}

/** The client id from the connection's hello; a request before it is refused. */
export function helloId(session: Session): string {
  if (session.clientId === undefined) throw new InvalidError("say hello first");
  return session.clientId;
}

/** The shard a connection registered as; a shard's request before it is refused. */
export function registeredShard(session: Session): string {
  if (session.shardId === undefined) throw new InvalidError("register first");
  return session.shardId;
}
