/**
 * The SDK in Node: clients over `ws` sockets, configured by options or by the environment
 * (`SHARDICT_URL`, `SHARDICT_TOKEN`, `SHARDICT_CA`). The client itself is cluster-client.ts,
 * shared with the browser SDK.
 */
import { ClusterClient, openClient, setDefaultClientFactory, type Client } from "./cluster-client.js";
import { nodePlatform } from "./node-platform.js";
import { socketTls } from "./socket.js";
export { ClusterClient, clientOf, getDefaultClient, type Client, type DataRoute } from "./cluster-client.js";

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Coordinator address; default `SHARDICT_URL` or `ws://127.0.0.1:7700`. */
  url?: string;
  /** Client token, when the cluster requires one; default `SHARDICT_TOKEN`. */
  token?: string;
  /** How long a request may keep retrying (moved partitions, restarting nodes). Default 15 s. */
  retryBudgetMs?: number;
  /**
   * How long one attempt waits for its reply before the connection counts as lost for it
   * (then it is retried within the budget; a write may have happened). Default 60 s.
   */
  requestTimeoutMs?: number;
  /**
   * For `wss://` clusters whose certificates a private CA signed: that CA's certificate
   * (PEM, a string or bytes), trusted besides the system's. Default `SHARDICT_CA` (a file's
   * path). Without it such a certificate is refused with {@link ConnectionError}.
   */
  ca?: string | Uint8Array;
  /** A client certificate and its key (PEM), for a cluster with `tls.requireClientCert`. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /** `false` accepts any certificate (tests only: it defeats TLS). Default true. */
  rejectUnauthorized?: boolean;
}

const DEFAULT_URL = "ws://127.0.0.1:7700";

/** A Node client (not connected yet): options first, then the environment, then defaults. */
export function nodeClient(opts: ConnectOptions = {}): ClusterClient {
  return new ClusterClient(
    {
      url: opts.url ?? process.env.SHARDICT_URL ?? DEFAULT_URL,
      token: opts.token ?? process.env.SHARDICT_TOKEN ?? undefined,
      retryBudgetMs: opts.retryBudgetMs,
      requestTimeoutMs: opts.requestTimeoutMs,
    },
    nodePlatform(socketTls(opts)),
  );
}

/**
 * Connect to a cluster. Resolves once the coordinator has answered, so a wrong address or
 * token fails here ({@link ConnectionError}, {@link AuthError}).
 *
 * @example
 * ```ts
 * const client = await connect({ url: "ws://127.0.0.1:7700", token: process.env.MY_TOKEN });
 * ```
 */
export function connect(opts: ConnectOptions = {}): Promise<Client> {
  return openClient(nodeClient(opts));
}

// In Node a dict may leave out its client: it gets one from the environment.
setDefaultClientFactory(() => nodeClient());
