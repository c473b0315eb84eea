/**
 * Notice a node that has gone silent. A host that vanishes (power, a cable, a partition)
 * sends no FIN and no reset: its sockets look open, and a request sent to it would wait out
 * `requestTimeoutMs` (60 s) before being retried at the partition's new owner. So a
 * connection that has heard nothing for a second is pinged (a node answers at once, even
 * while it works), and one that has heard nothing at all for `SILENT_MS` is closed: its
 * requests fail as "connection lost" and are retried, under the same ids, where the table
 * now says. Busy connections never ping: every reply counts as hearing from the node.
 */
import type WebSocket from "ws";

/** Silence after which a connection is pinged. */
export const PING_AFTER_MS = 1_000;
/** Silence after which it is closed: longer than any pause of a healthy node's event loop we have measured. */
export const SILENT_MS = 5_000;

export function watchLiveness(ws: WebSocket, silentMs = SILENT_MS, pingAfterMs = PING_AFTER_MS): void {
  let heard = performance.now();
  const hear = (): void => {
    heard = performance.now();
  };
  ws.on("message", hear);
  ws.on("pong", hear);
  const timer = setInterval(() => {
    if (ws.readyState !== ws.OPEN) return;
    const quiet = performance.now() - heard;
    if (quiet >= silentMs) {
      ws.terminate();
      return;
    }
    if (quiet >= pingAfterMs) ws.ping();
  }, Math.max(50, Math.floor(pingAfterMs / 2)));
  // Never what keeps a program alive.
  timer.unref();
  ws.once("close", () => clearInterval(timer));
}
