/**
 * shardict in a browser (`import { connect, Dict } from "shardict/browser"`): the same
 * {@link Dict} as in Node, over the browser's WebSocket. Built into one ES module with no
 * Node import (scripts/build-browser.ts). Every dict names its client: there is no
 * environment to make a default one from.
 *
 * The cluster must list the page's origin in `allowedOrigins`, and every node must be
 * reachable from the browser at the address it advertises (README, "From the browser").
 *
 * @example
 * ```ts
 * import { connect, Dict } from "shardict/browser";
 * const client = await connect({ url: "wss://dict.example.com:7700", token });
 * const d = Dict.fromName("scores", { createIfMissing: true, client });
 * await d.put("alice", 10);
 * console.log(await d.get("alice"));
 * client.close();
 * ```
 */
import { ClusterClient, openClient, type Client } from "../client/cluster-client.js";
import { InvalidError } from "../errors.js";
import { browserPlatform } from "./browser-platform.js";

/** Options of the browser's {@link connect}. */
export interface ConnectOptions {
  /** The coordinator's address: `wss://…` (or `ws://` on a page served over http). */
  url: string;
  /** Client token, when the cluster requires one. It travels in the handshake's Sec-WebSocket-Protocol. */
  token?: string;
  /** How long a request may keep retrying (moved partitions, restarting nodes). Default 15 s. */
  retryBudgetMs?: number;
  /** How long one attempt waits for its reply before it counts as lost. Default 60 s. */
  requestTimeoutMs?: number;
}

/**
 * Connect to a cluster from a browser. Resolves once the coordinator has answered; a wrong
 * address, a refused token or an origin the cluster does not allow all reject with
 * {@link ConnectionError} (a browser does not tell which).
 *
 * @example
 * ```ts
 * const client = await connect({ url: "wss://dict.example.com:7700", token: "…" });
 * ```
 */
export function connect(opts: ConnectOptions): Promise<Client> {
  if (typeof opts?.url !== "string" || opts.url === "") return Promise.reject(new InvalidError("connect() needs { url }: a browser has no default cluster"));
  const client = new ClusterClient({ url: opts.url, token: opts.token, retryBudgetMs: opts.retryBudgetMs, requestTimeoutMs: opts.requestTimeoutMs }, browserPlatform);
  return openClient(client);
}

export type { Client } from "../client/cluster-client.js";
export * from "../sdk-exports.js";
