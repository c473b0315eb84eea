/** Opening the SDK's WebSockets: typed errors for refusals, and how a client names itself. */
import { readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import WebSocket from "ws";
import { AuthError, ConnectionError, InvalidError } from "../errors.js";
import { CLIENT_SOCKET_OPTIONS } from "../net/client-socket-options.js";
import { CONNECT_TIMEOUT_MS } from "./platform.js";
import { watchLiveness } from "./socket-liveness.js";

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

/** TLS options of the SDK's sockets (for `wss://` URLs; ignored by `ws://`). */
export interface SocketTls {
  ca?: string | Uint8Array;
  /** A client certificate and its key (PEM), for a cluster with `requireClientCert`. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  rejectUnauthorized?: boolean;
}

/** `ca` and `rejectUnauthorized` from connect()'s options, else the CA file `SHARDICT_CA` names. */
export function socketTls(opts: SocketTls): SocketTls {
  let ca = opts.ca;
  const file = process.env.SHARDICT_CA;
  if (ca === undefined && file !== undefined && file !== "") {
    try {
      ca = readFileSync(file);
    } catch (err) {
      throw new InvalidError(`SHARDICT_CA names ${file}, which cannot be read: ${(err as Error).message}`);
    }
  }
  return {
    ...(ca !== undefined && { ca }),
    ...(opts.cert !== undefined && { cert: opts.cert }),
    ...(opts.key !== undefined && { key: opts.key }),
    ...(opts.rejectUnauthorized !== undefined && { rejectUnauthorized: opts.rejectUnauthorized }),
  };
}

const pem = (v: string | Uint8Array): string | Buffer => (typeof v === "string" ? v : Buffer.from(v));

/** The `ws` options of {@link SocketTls}. */
function wsTls(tls: SocketTls): { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean } {
  return {
    ...(tls.ca !== undefined && { ca: pem(tls.ca) }),
    ...(tls.cert !== undefined && { cert: pem(tls.cert) }),
    ...(tls.key !== undefined && { key: pem(tls.key) }),
    ...(tls.rejectUnauthorized !== undefined && { rejectUnauthorized: tls.rejectUnauthorized }),
  };
}

/** Open a WebSocket and resolve once it is open; typed errors for refusals. */
export function openSocket(url: string, token: string | undefined, maxPayload: number, tls: SocketTls = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        maxPayload,
        ...CLIENT_SOCKET_OPTIONS,
        ...wsTls(tls),
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
      watchLiveness(ws);
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
