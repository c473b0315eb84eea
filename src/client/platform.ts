/**
 * The seam between the SDK and the runtime it runs in. A {@link ClusterClient} does all its
 * work through Peers; how their sockets are opened, and how the client names itself, is
 * all that differs between Node (node-platform.ts: `ws`, TLS options, the host's name) and
 * a browser (src/browser/browser-platform.ts: the browser's WebSocket, which takes no
 * headers, so the token travels as a subprotocol).
 */
import type { PeerSocket } from "../net/peer-socket.js";

/** How long opening a connection (and its hello) may take. */
export const CONNECT_TIMEOUT_MS = 10_000;

export interface ClientPlatform {
  /**
   * Open a WebSocket to a node, presenting `token` if given, and resolve once it is open.
   * Rejects with AuthError (token refused, where the platform can tell), ConnectionError
   * (unreachable, refused) or InvalidError (not a URL).
   */
  openSocket(url: string, token: string | undefined, maxPayload: number): Promise<PeerSocket>;
  /** How this client names itself to the coordinator (a dict's creator): `user@host` in Node. */
  agent(): string;
  /** Who takes a lock, as the lock's entry shows it. */
  lockHolder(): { host: string; pid: number };
}
