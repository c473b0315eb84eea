/** The SDK's platform in Node: `ws` sockets (with TLS options), and the host's names. */
import { hostname } from "node:os";
import type { ClientPlatform } from "./platform.js";
import { agent, openSocket, type SocketTls } from "./socket.js";

export function nodePlatform(tls: SocketTls): ClientPlatform {
  return {
    openSocket: (url, token, maxPayload) => openSocket(url, token, maxPayload, tls),
    agent,
    lockHolder: () => ({ host: hostname(), pid: process.pid }),
  };
}
