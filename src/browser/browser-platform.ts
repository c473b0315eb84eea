/**
 * The SDK's platform in a browser: the browser's own WebSocket (it masks frames, checks
 * certificates against the system's CAs, and sends the page's Origin, which a node checks
 * against `allowedOrigins`). It cannot send headers, so the token is offered as a
 * subprotocol (subprotocol-token.ts).
 */
import { ConnectionError, InvalidError } from "../errors.js";
import { offeredProtocols } from "../net/subprotocol-token.js";
import { CONNECT_TIMEOUT_MS, type ClientPlatform } from "../client/platform.js";
import { BrowserSocket } from "./browser-socket.js";

/** The page's host, to name the client by (there is no user or process to name it by). */
function pageHost(): string {
  return (globalThis as { location?: { host?: string } }).location?.host || "unknown";
}

/**
 * Open a WebSocket and resolve once it is open. A browser does not tell a page why a
 * handshake failed (a refused token, an origin not allowed, an unreachable node all look
 * the same), so every failure is a ConnectionError that lists the causes.
 */
function openSocket(url: string, token: string | undefined): Promise<BrowserSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, offeredProtocols(token));
    } catch (err) {
      reject(new InvalidError(`invalid cluster url ${JSON.stringify(url)}: ${(err as Error).message}`));
      return;
    }
    ws.binaryType = "arraybuffer";
    const settle = () => {
      clearTimeout(timer);
      ws.onopen = null;
      ws.onerror = null;
      ws.onclose = null;
    };
    const fail = (why: string) => {
      settle();
      ws.close();
      reject(new ConnectionError(`cannot connect to ${url}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer in ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      settle();
      resolve(new BrowserSocket(ws));
    };
    // An error is always followed by a close, which says more (its code).
    ws.onerror = () => {};
    ws.onclose = (ev: { code: number }) =>
      fail(`the connection failed (close code ${ev.code}): the node is unreachable, or it refused the handshake, because the token is wrong or this page's origin is not in its allowedOrigins (the browser does not tell which; its network panel shows the node's answer)`);
  });
}

export const browserPlatform: ClientPlatform = {
  // The browser holds the whole message in memory whatever its size: there is no limit to set.
  openSocket: (url, token) => openSocket(url, token),
  agent: () => `browser@${pageHost()}`,
  lockHolder: () => ({ host: `browser@${pageHost()}`, pid: 0 }),
};
