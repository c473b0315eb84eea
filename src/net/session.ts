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
  /**
   * On a shard: whose retry answers and request floor this connection's requests are (see
   * {@link retryIdentity}). Set with the hello.
   */
  retryId: string | undefined;
  /** A client's `user@host`, from its hello. */
  agent: string | undefined;
  /** On the coordinator: the shard this connection registered as. */
  shardId: string | undefined;
  /** A client's token's scope (README, "Security"); undefined: it may do everything. Set by the listener. */
  scope: TokenScope | undefined;
}

export function newSession(): Session {
  return { role: undefined, remote: undefined, clientId: undefined, retryId: undefined, agent: undefined, shardId: undefined, scope: undefined };
}

/**
 * The identity a client's retries and request floor are kept under on a shard: its hello's
 * id, under its token's principal when the token is scoped. A client id is chosen by the
 * client, so without this a client holding another token (a read-only one, say) could name a
 * writer's id in its hello and move that writer's floor, getting its writes refused. Clients
 * with an unscoped token may do everything anyway, and keep the bare id.
 */
export function retryIdentity(session: Session, clientId: string): string {
  return session.scope === undefined ? clientId : `${session.scope.principal}/${clientId}`;
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
