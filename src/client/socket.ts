/** Opening the SDK's WebSockets: typed errors for refusals, and how a client names itself. */
import { hostname, userInfo } from "node:os";
import WebSocket from "ws";
import { AuthError, ConnectionError, InvalidError } from "../errors.js";
import { CLIENT_SOCKET_OPTIONS } from "../net/client-socket-options.js";

/** How long opening a connection (and its hello) may take. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** `user@host` of this process, which the coordinator records as a dict's creator. */
export function agent(): string {
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return `${user}@${hostname()}`;
}

/** Open a WebSocket and resolve once it is open; typed errors for refusals. */
export function openSocket(url: string, token: string | undefined, maxPayload: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        maxPayload,
        ...CLIENT_SOCKET_OPTIONS,
        handshakeTimeout: CONNECT_TIMEOUT_MS,
      });
    } catch (err) {
      reject(new InvalidError(`invalid cluster url ${JSON.stringify(url)}: ${(err as Error).message}`));
      return;
    }
    const fail = (err: Error) => {
      ws.removeAllListeners();
      ws.on("error", () => {});
      ws.terminate();
      reject(err);
    };
    ws.once("open", () => {
      ws.removeAllListeners("error");
      ws.removeAllListeners("unexpected-response");
      resolve(ws);
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        const why = body.trim() || `HTTP ${res.statusCode}`;
        fail(res.statusCode === 401 ? new AuthError(`${url} refused the connection: ${why}`) : new ConnectionError(`${url} refused the connection: ${why}`));
      });
    });
    ws.once("error", (err) => fail(new ConnectionError(`cannot connect to ${url}: ${err.message}`, { cause: err })));
  });
}
