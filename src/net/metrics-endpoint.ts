/**
 * `GET /metrics` on a node's own port: its Prometheus registry in the text format. When the
 * cluster lists `clientTokens` (or sets `metricsToken`), a scrape must present one of them,
 * or the metrics token, as `Authorization: Bearer …`, compared in constant time.
 */
import type { ClientTokenEntry } from "./token-scope.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { bearerToken, findToken, safeEqual } from "./auth.js";

export const METRICS_PATH = "/metrics";

export interface MetricsAccess {
  clientTokens: readonly ClientTokenEntry[];
  /** A token for scrapers only; when set, scrapes need a token even without `clientTokens`. */
  metricsToken?: string | undefined;
}

export interface MetricsEndpoint {
  registry: Registry;
  access: MetricsAccess;
}

/** Why a scrape is refused, or undefined when it may read the metrics. */
export function metricsRefusal(req: IncomingMessage, access: MetricsAccess): string | undefined {
  const { clientTokens, metricsToken } = access;
  if (clientTokens.length === 0 && metricsToken === undefined) return undefined;
  const token = bearerToken(req);
  if (token === undefined) return "a token is required: send `Authorization: Bearer <client token or metricsToken>`";
  // Every candidate is compared, so the time taken does not tell which one (if any) matched.
  const scraper = metricsToken !== undefined && safeEqual(metricsToken, token);
  const client = findToken(clientTokens, token) !== undefined;
  return scraper || client ? undefined : "unknown token";
}

/** Whether `req` is for the metrics path (any query string aside). */
export function isMetricsRequest(req: IncomingMessage): boolean {
  const url = req.url ?? "";
  const q = url.indexOf("?");
  return (q < 0 ? url : url.slice(0, q)) === METRICS_PATH;
}

/** Answer a request for {@link METRICS_PATH}. */
export function serveMetrics(req: IncomingMessage, res: ServerResponse, endpoint: MetricsEndpoint): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { "content-type": "text/plain", allow: "GET, HEAD" }).end("only GET reads the metrics\n");
    return;
  }
  const refused = metricsRefusal(req, endpoint.access);
  if (refused !== undefined) {
    res.writeHead(401, { "content-type": "text/plain", "www-authenticate": 'Bearer realm="shardict metrics"' }).end(`${refused}\n`);
    return;
  }
  const { registry } = endpoint;
  registry.metrics().then(
    (text) => {
      res.writeHead(200, { "content-type": registry.contentType });
      res.end(req.method === "HEAD" ? undefined : text);
    },
    (err: unknown) => {
      res.writeHead(500, { "content-type": "text/plain" }).end(`collecting metrics failed: ${(err as Error).message}\n`);
    },
  );
}
