/**
 * The web console as the coordinator runs it (config `console`, on by default): the load
 * history fed by heartbeats and sampled once a second, the API, and the HTTP routes the
 * coordinator's node server hands its plain requests to.
 */
import type { ClientTokenEntry } from "../net/token-scope.js";
import type { ClusterStatus } from "../coordinator/cluster-status.js";
import type { DictRegistry } from "../coordinator/dict-registry.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import type { ShardLoadData } from "../protocol/frames.js";
import { ConsoleApi } from "./console-api.js";
import { ConsoleRoutes } from "./console-routes.js";
import { LoadHistory } from "./load-history.js";

export interface WebConsoleOptions {
  status(): ClusterStatus;
  table(): PartitionTable;
  registry: DictRegistry;
  clientTokens: readonly ClientTokenEntry[];
  log: (line: string) => void;
  /** With TLS: the CA and this node's certificate (the console's SDK connects to this coordinator over wss://). */
  tls?: () => { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/** Seconds of throughput and latency kept: five minutes. */
const HISTORY_SECONDS = 300;

export class WebConsole {
  private readonly load = new LoadHistory(HISTORY_SECONDS);
  private readonly api: ConsoleApi;
  private readonly routes: ConsoleRoutes;
  private timer: NodeJS.Timeout | undefined;
  private url = "";

  constructor(opts: WebConsoleOptions) {
    this.api = new ConsoleApi({ ...opts, load: this.load, url: () => this.url });
    this.routes = new ConsoleRoutes(this.api, opts.log);
  }

  /** For the node server's `http` option. */
  get handle(): ConsoleRoutes["handle"] {
    return this.routes.handle;
  }

  /** The coordinator listens at `wsUrl`: the console's SDK connects there (loopback for a wildcard address). */
  start(wsUrl: string): void {
    this.url = wsUrl.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:");
    this.timer = setInterval(() => this.load.tick(Date.now(), performance.now()), 1_000);
    this.timer.unref();
  }

  /** A shard's heartbeat reported its load. */
  observe(shard: string, load: ShardLoadData): void {
    this.load.observe(shard, load, performance.now());
  }

  forget(shard: string): void {
    this.load.forget(shard);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.api.stop();
  }
}
