/**
 * The coordinator's web console over plain HTTP on its own port: `GET /` is the page, a few
 * static files under `/console/` (its script and style, and uPlot's, served from the
 * package), and the JSON API under `/console/api/` (console-api.ts). The static files carry
 * no data and are served to anyone; the API asks for a client token when the cluster has
 * them, as the SDK does. Anything else on the port is 404, and only GET and HEAD are
 * answered (the console writes nothing).
 */
import type { TokenScope } from "../net/token-scope.js";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { bearerToken } from "../net/auth.js";
import { API_PREFIX, type ConsoleApi } from "./console-api.js";

interface StaticFile {
  /** Where it is read from: the console's folder, or a package. */
  from: { dir: string } | { module: string };
  type: string;
}

/** The files of the page, by the path they are served at. */
const FILES: Record<string, StaticFile> = {
  "/": { from: { dir: "index.html" }, type: "text/html; charset=utf-8" },
  "/console/console.js": { from: { dir: "console.js" }, type: "text/javascript; charset=utf-8" },
  "/console/console.css": { from: { dir: "console.css" }, type: "text/css; charset=utf-8" },
  "/console/uplot.js": { from: { module: "uplot/dist/uPlot.iife.min.js" }, type: "text/javascript; charset=utf-8" },
  "/console/uplot.css": { from: { module: "uplot/dist/uPlot.min.css" }, type: "text/css; charset=utf-8" },
};

/**
 * The folder of the page's own files: beside this module when running from source, and
 * `src/console/static` of the package when running from `dist/src/console/` (the build does
 * not copy them; package.json's `files` ships that folder).
 */
export function staticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, "static"), resolve(here, "../../../src/console/static")];
  return candidates.find((d) => existsSync(join(d, "index.html"))) ?? (candidates[0] as string);
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // The page's own script and style only; uPlot sets inline styles on its elements.
  "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

interface Loaded {
  body: Buffer;
  gzip: Buffer;
  etag: string;
  type: string;
}

export class ConsoleRoutes {
  private readonly files = new Map<string, Loaded>();
  private readonly dir: string;
  private readonly require = createRequire(import.meta.url);

  constructor(
    private readonly api: ConsoleApi,
    private readonly log: (line: string) => void,
  ) {
    this.dir = staticDir();
  }

  /** For the node server: answers every plain HTTP request but `/metrics`. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, "text/plain; charset=utf-8", "the console only reads: GET or HEAD\n", { allow: "GET, HEAD" });
      return true;
    }
    if (path.startsWith(API_PREFIX)) {
      this.serveApi(req, res, path.slice(API_PREFIX.length), new URLSearchParams(q < 0 ? "" : url.slice(q + 1)));
      return true;
    }
    const file = path === "/index.html" ? "/" : path;
    if (Object.hasOwn(FILES, file)) {
      this.serveFile(req, res, file);
      return true;
    }
    send(res, 404, "text/plain; charset=utf-8", `not found: this is a shardict coordinator (WebSocket), with its web console at /\n`);
    return true;
  };

  private serveFile(req: IncomingMessage, res: ServerResponse, path: string): void {
    let f: Loaded;
    try {
      f = this.load(path);
    } catch (err) {
      this.log(`coordinator: the web console's file for ${path} could not be read: ${(err as Error).message}`);
      send(res, 500, "text/plain; charset=utf-8", `the console's file for ${path} is missing from this installation\n`);
      return;
    }
    const headers: Record<string, string> = { ...SECURITY_HEADERS, etag: f.etag, "cache-control": "no-cache", vary: "accept-encoding" };
    if (req.headers["if-none-match"] === f.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    const body = gzip ? f.gzip : f.body;
    res.writeHead(200, { ...headers, "content-type": f.type, "content-length": String(body.byteLength), ...(gzip && { "content-encoding": "gzip" }) });
    res.end(req.method === "HEAD" ? undefined : body);
  }

  /** A file read once and kept (a few tens of KB in all). */
  private load(path: string): Loaded {
    const had = this.files.get(path);
    if (had) return had;
    const spec = FILES[path] as StaticFile;
    const file = "dir" in spec.from ? join(this.dir, spec.from.dir) : this.require.resolve(spec.from.module);
    const body = readFileSync(file);
    const loaded: Loaded = { body, gzip: gzipSync(body), etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"`, type: spec.type };
    this.files.set(path, loaded);
    return loaded;
  }

  private serveApi(req: IncomingMessage, res: ServerResponse, name: string, q: URLSearchParams): void {
    const headers = { "cache-control": "no-store", ...SECURITY_HEADERS };
    const json = (status: number, body: unknown, extra: Record<string, string> = {}) =>
      send(res, status, "application/json; charset=utf-8", req.method === "HEAD" ? "" : JSON.stringify(body), { ...headers, ...extra });
    let token: string | undefined;
    let scope: TokenScope | undefined;
    if (name !== "access") {
      const verdict = this.api.authorize(bearerToken(req));
      if ("refused" in verdict) {
        json(401, { error: verdict.refused, tokenRequired: true }, { "www-authenticate": 'Bearer realm="shardict console"' });
        return;
      }
      token = verdict.token;
      scope = verdict.scope;
    }
    this.api.answer(name, q, token, scope).then(
      (a) => json(a.status, a.body),
      (err: unknown) => json(500, { error: `the console failed: ${(err as Error).message}` }),
    );
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, "content-type": type, "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}
