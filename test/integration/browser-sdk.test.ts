/**
 * The browser SDK (`shardict/browser`) in a real headless browser (Debian's chromium via
 * puppeteer-core) against a real cluster with client tokens: a page served from an origin
 * the cluster allows uses the same Dict API as Node (values of several types, iteration,
 * ephemeral dicts, counters, locks, watches, typed errors), its writes read back from Node;
 * a page of another origin, or with a wrong token, cannot connect. And the bundle itself
 * imports nothing of Node's.
 *
 * The bundle is built from the sources here (the same build `npm run build` runs), into a
 * temporary folder; the cluster runs from dist/ like every integration test.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "puppeteer-core";
import { Dict } from "../../src/index.js";
import { buildBrowser } from "../../scripts/build-browser.js";
import { launchChromium, screenshotOnFailure } from "../helpers/chromium.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";

const TOKEN = "browser-sdk-token";
/** A scoped token: reads "browser-sdk" only. */
const READER = "browser-sdk-reader";
const PAGE = `<!doctype html><meta charset="utf-8"><title>shardict browser SDK test</title><p>test page</p>`;

let browser: Browser | undefined;
let outDir: string;
let bundle: Awaited<ReturnType<typeof buildBrowser>>;
/** The origin the cluster allows, and one it does not (both serve the same page and bundle). */
let allowed: { server: Server; origin: string };
let forbidden: { server: Server; origin: string };
let tc: TestCluster;

/** A page and the bundle (and its source map), on a free port of the loopback. */
async function servePage(dir: string): Promise<{ server: Server; origin: string }> {
  const files: Record<string, { type: string; body: Buffer | string }> = {
    "/": { type: "text/html; charset=utf-8", body: PAGE },
    "/shardict.js": { type: "text/javascript; charset=utf-8", body: readFileSync(join(dir, "shardict.js")) },
    "/shardict.js.map": { type: "application/json", body: readFileSync(join(dir, "shardict.js.map")) },
  };
  const server = createServer((req, res) => {
    const f = files[req.url ?? ""];
    if (f === undefined) res.writeHead(404).end();
    else res.writeHead(200, { "content-type": f.type }).end(f.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no address");
  return { server, origin: `http://127.0.0.1:${addr.port}` };
}

beforeAll(async () => {
  delete process.env.SHARDICT_TOKEN;
  outDir = mkdtempSync(join(tmpdir(), "shardict-browser-"));
  bundle = await buildBrowser(outDir);
  allowed = await servePage(outDir);
  forbidden = await servePage(outDir);
  tc = await startTestCluster({ shards: 2, clientTokens: [TOKEN, { token: READER, dicts: ["browser-sdk"], ops: ["read"] }], allowedOrigins: [allowed.origin] });
  // chromium may have to be installed first (apt-get): that can take minutes.
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await tc?.stop();
  for (const s of [allowed, forbidden]) await new Promise((r) => s?.server.close(r));
  rmSync(outDir, { recursive: true, force: true });
});

/** A tab showing the test page of `origin`, and the errors it logs. */
async function open(origin: string): Promise<{ page: Page; errors: string[] }> {
  if (!browser) throw new Error("no browser");
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  await page.goto(`${origin}/`, { waitUntil: "load" });
  return { page, errors };
}

/**
 * Run `body` (page-side JavaScript, with the bundle's exports in scope as `sdk` and
 * `params` as given) in `page`, and return what it returns. Source, not a function: this
 * project's TypeScript has no DOM types, and the bundle's URL is the page's.
 */
function inPage<T>(page: Page, params: unknown, body: string): Promise<T> {
  return page.evaluate(`(async () => { const sdk = await import("/shardict.js"); const params = ${JSON.stringify(params)}; ${body} })()`) as Promise<T>;
}

/** Page-side: connect, and describe how it failed (or "connected"). */
const TRY_CONNECT = `
  try {
    const client = await sdk.connect(params);
    client.close();
    return "connected";
  } catch (e) {
    return { name: e.name, isConnectionError: e instanceof sdk.ConnectionError, isDictError: e instanceof sdk.DictError, message: e.message };
  }`;

describe("the browser bundle", () => {
  it("is one ES module that imports nothing: no Node built-in, no ws", () => {
    const inputs = Object.keys(bundle.metafile.inputs);
    expect(inputs.filter((p) => p.startsWith("node:") || /(^|\/)node_modules\/ws\//.test(p))).toEqual([]);
    for (const out of Object.values(bundle.metafile.outputs)) expect(out.imports).toEqual([]);
    // The file itself, in case anything slipped past the metafile (a require left in a dependency).
    const text = readFileSync(bundle.file, "utf8");
    const builtins = "node:[a-z_/]+|fs|os|util|buffer|zlib|crypto|net|tls|http|https|stream|path|url|events|child_process|worker_threads|ws";
    expect(text.match(new RegExp(`\\b(?:from|import)\\s*\\(?\\s*["'](?:${builtins})(?:/[a-z_/]*)?["']`, "g"))).toBeNull();
    expect(text.match(/\brequire\s*\(\s*["'][^"']+["']\s*\)/g)).toBeNull();
    expect(text).not.toMatch(/["']node:/);
    expect(bundle.bytes).toBeGreaterThan(0);
  });
});

describe("the browser SDK in chromium", () => {
  it("does what the Node SDK does: values of every kind, update, iteration, len, delete, pop, ephemeral dicts, counters, locks, watches, typed errors", async () => {
    const { page, errors } = await open(allowed.origin);
    await screenshotOnFailure(page, "browser-sdk-api", async () => {
      const r = await inPage<Record<string, unknown>>(
        page,
        { url: tc.url, token: TOKEN },
        `
        const { connect, Dict, KeyError, DictError } = sdk;
        const client = await connect(params);
        const errorOf = async (p) => { try { await p; return "no error"; } catch (e) { return { name: e.name, isKeyError: e instanceof KeyError, isDictError: e instanceof DictError }; } };
        const collect = async (it) => { const out = []; for await (const x of it) out.push(x); return out; };
        try {
          const r = {};
          const d = Dict.fromName("browser-sdk", { createIfMissing: true, client });
          r.putNew = await d.put("s", "hello");
          r.putAgain = await d.put("s", "hello, browser");
          await d.put("n", 42);
          await d.put("f", -1.25);
          await d.put("obj", { a: [1, { b: "c" }], t: true, nil: null, text: "ünï ✓ 🔑" });
          await d.put("bytes", new Uint8Array([0, 1, 2, 254, 255]));
          await d.put(7, "a number key");
          r.s = await d.get("s");
          r.n = await d.get("n");
          r.f = await d.get("f");
          r.obj = await d.get("obj");
          const bytes = await d.get("bytes");
          r.bytes = { isUint8Array: bytes instanceof Uint8Array, values: Array.from(bytes) };
          r.numberKey = await d.get(7);
          r.missingIsUndefined = (await d.get("nope")) === undefined;
          r.missingDefault = await d.get("nope", "default");
          await d.update({ u1: 1, u2: "two" });
          await d.update(new Map([["u3", [3, { three: 3 }]]]));
          r.len = await d.len();
          r.keys = (await collect(d.keys())).map((k) => typeof k + ":" + String(k)).sort();
          r.items = Object.fromEntries((await collect(d.items())).map(([k, v]) => [String(k), v instanceof Uint8Array ? "bytes" : v]));
          r.values = (await collect(d.values())).length;
          await d.delete("u1");
          r.containsDeleted = await d.contains("u1");
          r.pop = await d.pop("u2");
          r.popMissing = await errorOf(d.pop("u2"));
          r.deleteMissing = await errorOf(d.delete("never-there"));
          r.lenAfter = await d.len();
          const e = await Dict.ephemeral({ client });
          await e.put("k", { nested: { deep: [1, 2] } });
          await e.update({ k2: "v2" });
          r.ephemeral = { k: await e.get("k"), len: await e.len(), keys: (await collect(e.keys())).sort() };
          await e[Symbol.asyncDispose]();
          r.ephemeralAfterClose = await errorOf(e.get("k"));
          r.withEphemeral = await Dict.withEphemeral(async (w) => { await w.put("a", 1); return w.len(); }, { client });
          r.noClient = await errorOf(Promise.resolve().then(() => Dict.fromName("x").len()));
          // Coordination and watches run on the SDK's timers, which a browser's are too.
          r.incr = [await d.incr("counter"), await d.incr("counter", 5)];
          const lock = await d.lock("the-lock", { ttlMs: 5000 });
          r.lock = { token: typeof lock.token, held: await errorOf(d.lock("the-lock", { ttlMs: 5000 })) };
          await lock.release();
          const w = d.watch({ key: "watched" });
          await d.put("watched", { seen: true });
          const ev = (await w.next()).value;
          w.close();
          r.watch = { type: ev.type, key: ev.key, value: ev.value };
          return r;
        } finally {
          client.close();
        }`,
      );
      expect(r).toMatchObject({
        putNew: true,
        s: "hello, browser",
        n: 42,
        f: -1.25,
        obj: { a: [1, { b: "c" }], t: true, nil: null, text: "ünï ✓ 🔑" },
        bytes: { isUint8Array: true, values: [0, 1, 2, 254, 255] },
        numberKey: "a number key",
        missingIsUndefined: true,
        missingDefault: "default",
        len: 9,
        keys: ["number:7", "string:bytes", "string:f", "string:n", "string:obj", "string:s", "string:u1", "string:u2", "string:u3"],
        values: 9,
        containsDeleted: false,
        pop: "two",
        popMissing: { name: "KeyError", isKeyError: true, isDictError: true },
        deleteMissing: { name: "KeyError", isKeyError: true, isDictError: true },
        lenAfter: 7,
        ephemeral: { k: { nested: { deep: [1, 2] } }, len: 2, keys: ["k", "k2"] },
        ephemeralAfterClose: { name: "NotFoundError", isKeyError: false, isDictError: true },
        withEphemeral: 1,
        noClient: { name: "InvalidError", isKeyError: false, isDictError: true },
        incr: [1, 6],
        lock: { token: "number", held: { name: "LockTimeoutError", isKeyError: false, isDictError: true } },
        watch: { type: "put", key: "watched", value: { seen: true } },
      });
      expect(r.items).toMatchObject({ s: "hello, browser", n: 42, bytes: "bytes", "7": "a number key", u3: [3, { three: 3 }] });
      expect(errors).toEqual([]);
    });
    await page.close();
    // What the browser wrote is what Node reads.
    const d = Dict.fromName("browser-sdk", { client: await tc.client({ token: TOKEN }) });
    expect(await d.get("obj")).toEqual({ a: [1, { b: "c" }], t: true, nil: null, text: "ünï ✓ 🔑" });
    expect(Array.from((await d.get("bytes")) as Uint8Array)).toEqual([0, 1, 2, 254, 255]);
    expect(await d.get(7)).toBe("a number key");
  });

  it("cannot connect from an origin not in allowedOrigins, even with the token: ConnectionError", async () => {
    const { page } = await open(forbidden.origin);
    await screenshotOnFailure(page, "browser-sdk-forbidden-origin", async () => {
      const r = await inPage<Record<string, unknown>>(page, { url: tc.url, token: TOKEN }, TRY_CONNECT);
      expect(r).toMatchObject({ name: "ConnectionError", isConnectionError: true, isDictError: true });
      expect(r.message).toMatch(/allowedOrigins/);
    });
    await page.close();
  });

  it("cannot connect with a wrong token, or none: ConnectionError (a browser is not told the HTTP status)", async () => {
    const { page } = await open(allowed.origin);
    await screenshotOnFailure(page, "browser-sdk-wrong-token", async () => {
      for (const params of [{ url: tc.url, token: "not-the-token" }, { url: tc.url }]) {
        const r = await inPage<Record<string, unknown>>(page, params, TRY_CONNECT);
        expect(r, JSON.stringify(params)).toMatchObject({ name: "ConnectionError", isConnectionError: true });
      }
      // And the right one still works from this page.
      expect(await inPage(page, { url: tc.url, token: TOKEN }, TRY_CONNECT)).toBe("connected");
    });
    await page.close();
  });

  it("with a scoped token: reads what it may, and a write or another dict is refused with AuthError, changing nothing", async () => {
    const d = Dict.fromName("browser-sdk", { client: await tc.client({ token: TOKEN }), createIfMissing: true });
    await d.put("scoped", "as written by node");
    await Dict.objects.create("browser-secret", { client: await tc.client({ token: TOKEN }), allowExisting: true });
    const { page, errors } = await open(allowed.origin);
    await screenshotOnFailure(page, "browser-sdk-scoped-token", async () => {
      const r = await inPage<Record<string, unknown>>(
        page,
        { url: tc.url, token: READER },
        `
        const client = await sdk.connect(params);
        const d = sdk.Dict.fromName("browser-sdk", { client });
        const read = await d.get("scoped");
        const failure = async (p) => { try { await p; return "went through"; } catch (e) { return { name: e.name, isAuthError: e instanceof sdk.AuthError, message: e.message }; } };
        const write = await failure(d.put("scoped", "overwritten by a reader"));
        const other = await failure(sdk.Dict.fromName("browser-secret", { client }).get("k"));
        client.close();
        return { read, write, other };`,
      );
      expect(r.read).toBe("as written by node");
      expect(r.write).toMatchObject({ name: "AuthError", isAuthError: true });
      expect(String((r.write as { message: string }).message)).toMatch(/may not write dict "browser-sdk"/);
      expect(r.other).toMatchObject({ name: "AuthError", isAuthError: true });
      expect(errors).toEqual([]);
    });
    await page.close();
    expect(await d.get("scoped")).toBe("as written by node");
  });
});
