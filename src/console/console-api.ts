/**
 * The web console's JSON API (`/console/api/…` on the coordinator's port), read-only:
 *
 *   access                          whether a token is needed (answered without one)
 *   status?epoch=E                  the cluster (as `cluster status`), and the partition map
 *                                   unless the caller's is of epoch E already
 *   load?since=S                    throughput and latency per second since unix time S
 *   envs                            environments with named dicts
 *   dicts?env=E[&before=T][&limit=N]  named dicts of an environment, newest first
 *   dict?id=ID                      one dict: its record and number of entries
 *   entries?dict=ID[&page=P][&limit=N]  a page of its entries (P: the previous page's `next`)
 *   entry?dict=ID&key=K             one key's entry (K: the key as tagged JSON)
 *   hot?dict=ID[&limit=N]           its hot keys (most read, largest), from every shard
 *
 * The cluster views come from the coordinator's own state; the dict data through the
 * project's SDK, connected to this cluster with the caller's token (so a token reads what
 * it would read with the SDK). Clients are kept per token, and only for tokens the cluster
 * lists, so there are at most `clientTokens.length` (or one). Every answer is bounded in
 * size (pages and lists are capped); a few data requests run at once and more are refused
 * with 503 rather than queued.
 */
import { anyAccessRefusal, grantOf, nameRefusal, type ClientTokenEntry, type TokenScope } from "../net/token-scope.js";
import { factsOf } from "../coordinator/dict-registry.js";
import { nodeClient, type ClusterClient } from "../client/client.js";
import { Dict } from "../client/dict.js";
import { hotKeysOn, mergeHotKeys } from "../cli/hot-keys-query.js";
import type { ClusterStatus } from "../coordinator/cluster-status.js";
import type { DictRegistry } from "../coordinator/dict-registry.js";
import { AuthError, ConnectionError, DictError, IndeterminateError, InvalidError, NotFoundError, RetryableError } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";
import { findToken } from "../net/auth.js";
import type { ReplyOf } from "../protocol/replies.js";
import { DEFAULT_PAGE, entriesPage, KEY_CHARS, lookUp, MAX_PAGE, parseKey, show } from "./dict-pages.js";
import type { LoadHistory } from "./load-history.js";

export const API_PREFIX = "/console/api/";

/** Named dicts listed per answer, at most. */
const MAX_DICTS = 500;
/** Environments listed, at most. */
const MAX_ENVS = 1_000;
/** Hot keys per list, at most (what a shard answers at most). */
const MAX_HOT = 64;
/** Data requests (dict, entries, entry, hot) being answered at once; more get 503. */
const MAX_DATA_IN_FLIGHT = 8;
/** How long the console's SDK retries a request (a moved partition, a restarting shard). */
const RETRY_BUDGET_MS = 3_000;
const REQUEST_TIMEOUT_MS = 10_000;

const ID_PATTERN = /^[A-Za-z0-9_-]{4,64}$/;
const ENV_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface ConsoleSources {
  status(): ClusterStatus;
  table(): PartitionTable;
  registry: DictRegistry;
  load: LoadHistory;
  clientTokens: readonly ClientTokenEntry[];
  /** Where the console's SDK connects: this coordinator's own address (known once it listens). */
  url(): string;
  /** With TLS: the CA the SDK must trust, and this node's certificate (shown to a cluster that requires one). */
  tls?: () => { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/** An answer: an HTTP status and a JSON body. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** The partition map: per partition its primary (an index into `shards`, -1 none), in-sync replicas, and whether it is moving. */
export interface PartitionMap {
  epoch: number;
  shards: string[];
  primary: number[];
  replicas: number[];
  /** Partitions with a copy being made or a hand-off under way. */
  moving: number[];
}

export class ConsoleApi {
  private readonly clients = new Map<string, ClusterClient>();
  private dataInFlight = 0;
  private stopped = false;

  constructor(private readonly src: ConsoleSources) {}

  get tokenRequired(): boolean {
    return this.src.clientTokens.length > 0;
  }

  /**
   * The token the request may use (undefined when the cluster needs none), or why it is
   * refused: the SDK's rule, a listed client token, compared in constant time.
   */
  authorize(bearer: string | undefined): { token: string | undefined; scope?: TokenScope } | { refused: string } {
    const tokens = this.src.clientTokens;
    if (tokens.length === 0) return { token: undefined };
    if (bearer === undefined) return { refused: "a client token is required: send `Authorization: Bearer <token>`" };
    const known = findToken(tokens, bearer);
    if (known === undefined) return { refused: "unknown client token" };
    const grant = grantOf(known);
    return grant.scope === undefined ? { token: grant.token } : { token: grant.token, scope: grant.scope };
  }

  /** Answer `GET /console/api/<name>?…` for a caller already authorized with `token`. */
  async answer(name: string, q: URLSearchParams, token: string | undefined, scope?: TokenScope): Promise<ApiAnswer> {
    try {
      switch (name) {
        case "access":
          return ok({ tokenRequired: this.tokenRequired });
        case "status":
          return ok(this.statusView(optionalNumber(q, "epoch")));
        case "load":
          return ok(this.src.load.series(optionalNumber(q, "since")));
        case "envs":
          return ok({ envs: this.envs(scope) });
        case "dicts":
          return ok(this.dicts(q, scope));
        case "dict":
        case "entries":
        case "entry":
        case "hot":
          return await this.data(name, q, token, scope);
        default:
          return { status: 404, body: { error: `no such console request: ${name}` } };
      }
    } catch (err) {
      return failure(err);
    }
  }

  private statusView(knownEpoch: number | undefined): unknown {
    const status = this.src.status();
    const table = this.src.table();
    return { time: Date.now(), tokenRequired: this.tokenRequired, status, map: knownEpoch === table.epoch ? null : partitionMap(table) };
  }

  /** Environments with their named dicts' counts: of those a scoped token reaches only. */
  private envs(scope: TokenScope | undefined): { env: string; dicts: number }[] {
    const counts = new Map<string, number>();
    for (const rec of this.src.registry.all()) {
      if (rec.ephemeral || (scope !== undefined && rec.name !== null && nameRefusal(scope, rec.name, rec.env) !== undefined)) continue;
      counts.set(rec.env, (counts.get(rec.env) ?? 0) + 1);
    }
    const home = scope?.env ?? "main";
    if (!counts.has(home)) counts.set(home, 0);
    return [...counts].sort((a, b) => a[0].localeCompare(b[0])).slice(0, MAX_ENVS).map(([env, dicts]) => ({ env, dicts }));
  }

  private dicts(q: URLSearchParams, scope: TokenScope | undefined): unknown {
    const env = q.get("env") ?? scope?.env ?? "main";
    if (!ENV_PATTERN.test(env)) throw new InvalidError(`bad environment name: ${JSON.stringify(env.slice(0, 80))}`);
    const limit = optionalInt(q, "limit", 1, MAX_DICTS) ?? 100;
    const before = optionalNumber(q, "before");
    const all = this.src.registry.list(env, undefined, before);
    const recs = (scope === undefined ? all : all.filter((r) => r.name !== null && nameRefusal(scope, r.name, r.env) === undefined)).slice(0, limit + 1);
    const page = recs.slice(0, limit);
    return {
      env,
      dicts: page.map((r) => ({ id: r.id, name: r.name, createdAt: r.createdAt, createdBy: r.createdBy })),
      next: recs.length > limit ? (page[page.length - 1]?.createdAt ?? null) : null,
    };
  }

  /** The requests that read dict data through the SDK: a few at once. */
  private async data(name: "dict" | "entries" | "entry" | "hot", q: URLSearchParams, token: string | undefined, scope: TokenScope | undefined): Promise<ApiAnswer> {
    const id = q.get("dict") ?? q.get("id") ?? "";
    if (!ID_PATTERN.test(id)) throw new InvalidError(`bad dict id: ${JSON.stringify(id.slice(0, 80))}`);
    const rec = this.src.registry.getById(id);
    if (rec === undefined) throw new NotFoundError(`no dict has id ${id}`);
    // The console's own client has no ephemeral dicts: a scoped token sees named dicts it reaches.
    const refused = scope === undefined ? undefined : anyAccessRefusal(scope, factsOf(rec), undefined);
    if (refused !== undefined) throw new AuthError(refused);
    // Checked before taking a slot: bad input never waits.
    const key = name === "entry" ? parseKey(required(q, "key")) : undefined;
    const page = name === "entries" ? (q.get("page") ?? null) : null;
    const limit = name === "entries" ? (optionalInt(q, "limit", 1, MAX_PAGE) ?? DEFAULT_PAGE) : (optionalInt(q, "limit", 1, MAX_HOT) ?? 10);
    if (this.dataInFlight >= MAX_DATA_IN_FLIGHT) return { status: 503, body: { error: `the console is answering ${MAX_DATA_IN_FLIGHT} data requests already: try again` } };
    this.dataInFlight++;
    try {
      const client = this.clientFor(token);
      switch (name) {
        case "dict": {
          let len: number | null = null;
          let lenError: string | undefined;
          try {
            len = await Dict.fromId(id, { client }).len();
          } catch (err) {
            lenError = (err as Error).message;
          }
          return ok({ id: rec.id, name: rec.name, env: rec.env, createdAt: rec.createdAt, createdBy: rec.createdBy, ephemeral: rec.ephemeral, len, ...(lenError !== undefined && { lenError }) });
        }
        case "entries":
          return ok(await entriesPage(client, id, page, limit));
        case "entry":
          return ok(await lookUp(client, id, key as NonNullable<typeof key>));
        case "hot":
          return ok(await this.hot(client, id, limit));
      }
    } finally {
      this.dataInFlight--;
    }
  }

  private async hot(client: ClusterClient, dict: string, limit: number): Promise<unknown> {
    await client.ready();
    const shards = client.table.shardAddresses().map((s) => s.id);
    const settled = await Promise.allSettled(shards.map((s) => hotKeysOn(client, s, dict, limit)));
    const replies: ReplyOf<"hotKeys">[] = [];
    const unreachable: string[] = [];
    settled.forEach((s, i) => {
      if (s.status === "fulfilled") replies.push(s.value);
      else unreachable.push(shards[i] as string);
    });
    const view = mergeHotKeys(replies, limit);
    return {
      accessed: view.accessed.map((x) => ({ key: show(x.key, KEY_CHARS), count: x.count })),
      largest: view.largest.map((x) => ({ key: show(x.key, KEY_CHARS), bytes: x.bytes })),
      unreachable,
    };
  }

  /** The SDK client of a token (one per listed token, made on first use). */
  private clientFor(token: string | undefined): ClusterClient {
    if (this.stopped) throw new ConnectionError("the console is stopping");
    const k = token ?? "";
    let c = this.clients.get(k);
    if (c === undefined || c.isClosed) {
      const tls = this.src.tls?.();
      c = nodeClient({ url: this.src.url(), ...(token !== undefined && { token }), ...tls, retryBudgetMs: RETRY_BUDGET_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });
      this.clients.set(k, c);
    }
    return c;
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

export function partitionMap(t: PartitionTable): PartitionMap {
  const shards = t.shardAddresses().map((s) => s.id);
  const index = new Map(shards.map((s, i) => [s, i]));
  const primary: number[] = [];
  const replicas: number[] = [];
  const moving: number[] = [];
  for (let p = 0; p < t.partitions; p++) {
    const owner = t.primaryOf(p);
    primary.push(owner === undefined ? -1 : (index.get(owner) ?? -1));
    replicas.push(t.replicasOf(p).length);
    if (t.learnersOf(p).length > 0 || t.handoffOf(p) !== null) moving.push(p);
  }
  return { epoch: t.epoch, shards, primary, replicas, moving };
}

function ok(body: unknown): ApiAnswer {
  return { status: 200, body };
}

/** An error as an answer: bad input 400, unknown 404, the cluster not answering 503, our own failure 500. */
function failure(err: unknown): ApiAnswer {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof InvalidError) return { status: 400, body: { error: message } };
  if (err instanceof NotFoundError) return { status: 404, body: { error: message } };
  if (err instanceof AuthError) return { status: 403, body: { error: message } };
  if (err instanceof ConnectionError || err instanceof IndeterminateError || err instanceof RetryableError) return { status: 503, body: { error: message } };
  if (err instanceof DictError) return { status: 502, body: { error: message } };
  return { status: 500, body: { error: `the console failed: ${message}` } };
}

function required(q: URLSearchParams, name: string): string {
  const v = q.get(name);
  if (v === null || v === "") throw new InvalidError(`"${name}" is required`);
  return v;
}

function optionalNumber(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidError(`"${name}" must be a number`);
  return n;
}

function optionalInt(q: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const n = optionalNumber(q, name);
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidError(`"${name}" must be an integer from ${min} to ${max}`);
  return n;
}
