/**
 * What `npm run bench:floor`'s client (floor-cluster.ts) and its server processes
 * (floor-server.ts) say to each other: the puts' layout on the wire, and the messages over the
 * fork's IPC channel.
 */

/**
 * A put on the wire: `[u32 id][u32 n][n bytes: the key, then the value]`; a message holds
 * one or more. The server never looks inside the n bytes: it appends them.
 */
export const PUT_HEAD = 8;

/** How a replicated floor places a server's copies (rf 2): as shardict does, or all on one peer. */
export type Replicas = "spread" | "chain";

/** The client's first words to a server, once every server has said its port. */
export interface FloorSetup {
  rf: 1 | 2;
  /** Every server's port, in server order. */
  ports: number[];
  /** This server's index in `ports`. */
  self: number;
  replicas: Replicas;
}

/** A server's words to the client. */
export interface FromServer {
  /** Listening (first message). */
  port?: number;
  /** Connected to its peers (the answer to a FloorSetup). */
  ready?: boolean;
  /** Log rounds (one sync each), WebSocket messages sent and bytes appended so far (the answer to "counts"). */
  rounds?: number;
  messages?: number;
  appended?: number;
}

/**
 * The replica of a primary's put (rf 2): `spread` alternates between every other server by
 * the put's id, as shardict's placement spreads a shard's partitions' replicas over all the
 * others; `chain` puts all of them on the next server, so each server sends to one peer only.
 */
export function replicaOf(self: number, servers: number, id: number, replicas: Replicas): number {
  const step = replicas === "chain" ? 1 : 1 + (id % (servers - 1));
  return (self + step) % servers;
}
