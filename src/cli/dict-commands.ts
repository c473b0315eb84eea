/**
 * `shardict dict …`: read and change a dict's data from a shell.
 *
 * Keys are strings unless `--key-json` (then the key is JSON in the tagged form, so `1`,
 * `"1"` and `[1,2]` can all be named). Values print as JSON in the tagged form
 * (tagged-json.ts: the types JSON cannot hold are objects with one `$` key), except that a
 * plain string value prints as it is unless `--json`; `put --json` reads that same form.
 * Streams (`list`, `keys`, `items`) print one line per item (JSON lines with `--json`).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { clientOf, connect, type Client } from "../client/client.js";
import { Dict } from "../client/dict.js";
import type { DictKey } from "../protocol/keys.js";
import { confirmed } from "./confirm.js";
import { EXIT_DECLINED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, UsageError } from "./cli-exit.js";
import { fromTagged, toTagged, type Json } from "./tagged-json.js";
import { createWriteStream, existsSync, readFileSync, statSync } from "node:fs";
import { exportDict, type ExportFormat } from "./dict-export.js";
import { importDict } from "./dict-import.js";
import { progress } from "./progress.js";
import { hotKeysOf } from "./hot-keys-query.js";

const DEFAULT_URL = "ws://127.0.0.1:7700";
/** A data command waits this long for an unreachable cluster before giving up (exit 3). */
const RETRY_BUDGET_MS = 5_000;

const COMMON = `common options:
  --url URL     the cluster (default $SHARDICT_URL, else ${DEFAULT_URL})
  --token T     a client token (default $SHARDICT_TOKEN)
  --ca FILE     the CA certificate (PEM) a wss:// cluster's certificates are signed by (default $SHARDICT_CA)
  --env E       the environment (default "main")
  --json        JSON output in the tagged form (JSON lines for lists)
exit codes: 0 ok, 1 not found (unknown dict, missing key), 2 usage, 3 connection or auth`;

interface Sub {
  args: string[];
  summary: string;
  flags?: ParseArgsConfig["options"];
  run(c: Ctx): Promise<number>;
}

interface Ctx {
  client: Client;
  env: string;
  json: boolean;
  pos: string[];
  values: Record<string, string | boolean | undefined>;
  dict(): Dict;
  key(i: number): DictKey;
}

const limit = { limit: { type: "string" } } as const;
const keyJson = { "key-json": { type: "boolean" } } as const;
const yes = { yes: { type: "boolean", short: "y" } } as const;

const SUBS: Record<string, Sub> = {
  list: {
    args: [],
    summary: "named dicts of the environment, newest first",
    flags: limit,
    async run(c) {
      const max = limitOf(c);
      const infos = await clientOf(c.client).coordinatorRequest({ type: "dict.list", env: c.env, ...(max !== undefined && { max }) });
      for (const i of infos) {
        if (c.json) print({ name: i.name, id: i.id, createdAt: new Date(i.createdAt).toISOString(), createdBy: i.createdBy });
        else console.log(i.name);
      }
      return EXIT_OK;
    },
  },
  create: {
    args: ["NAME"],
    summary: "create a named dict (exit 1 if it exists, unless --allow-existing)",
    flags: { "allow-existing": { type: "boolean" } },
    async run(c) {
      const d = await Dict.objects.create(name(c), { allowExisting: c.values["allow-existing"] === true, environmentName: c.env, client: c.client });
      if (c.json) print({ name: d.name, id: d.objectId });
      return EXIT_OK;
    },
  },
  delete: {
    args: ["NAME"],
    summary: "delete a named dict and all its entries (asks on a terminal unless --yes)",
    flags: yes,
    async run(c) {
      if (!(await sure(c, `delete dict "${name(c)}" in environment "${c.env}" and every entry in it?`))) return EXIT_DECLINED;
      await Dict.objects.delete(name(c), { environmentName: c.env, client: c.client });
      return EXIT_OK;
    },
  },
  info: {
    args: ["NAME"],
    summary: "the dict's id, creation time and creator, and its number of entries",
    async run(c) {
      const d = await c.dict().hydrate();
      const info = await d.info();
      const out = { name: d.name, id: d.objectId, createdAt: info.createdAt.toISOString(), createdBy: info.createdBy, len: await d.len() };
      if (c.json) print(out);
      else for (const [k, v] of Object.entries(out)) console.log(`${k}: ${String(v)}`);
      return EXIT_OK;
    },
  },
  len: {
    args: ["NAME"],
    summary: "the number of live entries",
    async run(c) {
      console.log(String(await c.dict().len()));
      return EXIT_OK;
    },
  },
  get: {
    args: ["NAME", "KEY"],
    summary: "print the value at KEY (exit 1 if missing)",
    flags: keyJson,
    async run(c) {
      const e = await c.dict().getEntry(c.key(1));
      if (e === null) return missing(c);
      printValue(c, e.value);
      return EXIT_OK;
    },
  },
  put: {
    args: ["NAME", "KEY", "VALUE"],
    summary: "store VALUE at KEY (a string, or with --json the tagged JSON form get --json prints)",
    flags: { ...keyJson, "ttl-ms": { type: "string" } },
    async run(c) {
      const raw = c.pos[2] as string;
      const value = c.json ? fromTagged(parseJson(raw, "VALUE"), (id) => Dict.fromId(id, { client: c.client })) : raw;
      const ttl = c.values["ttl-ms"];
      await c.dict().put(c.key(1), value, ttl === undefined ? {} : { ttlMs: integer(String(ttl), "--ttl-ms") });
      return EXIT_OK;
    },
  },
  pop: {
    args: ["NAME", "KEY"],
    summary: "remove KEY and print its value (exit 1 if missing)",
    flags: keyJson,
    async run(c) {
      const none = Symbol("none");
      const v: unknown = await c.dict().pop(c.key(1), none);
      if (v === none) return missing(c);
      printValue(c, v);
      return EXIT_OK;
    },
  },
  keys: {
    args: ["NAME"],
    summary: "every key, unordered (one per line)",
    flags: limit,
    run: (c) => each(c, c.dict().keys(), (k) => (c.json ? print(toTagged(k)) : console.log(renderKey(k)))),
  },
  items: {
    args: ["NAME"],
    summary: "every entry, unordered (KEY<tab>VALUE per line; {key, value} JSON lines with --json)",
    flags: limit,
    run: (c) => each(c, c.dict().items(), ([k, v]) => (c.json ? print({ key: toTagged(k), value: toTagged(v) }) : console.log(`${renderKey(k)}\t${render(v)}`))),
  },
  hotkeys: {
    args: ["NAME"],
    summary: "the most-accessed keys (estimated from a 1-in-8 sample) and the largest values, from every shard",
    flags: limit,
    async run(c) {
      const d = await c.dict().hydrate();
      const r = await hotKeysOf(c.client, d.objectId, Math.min(64, limitOf(c) ?? 10));
      if (c.json) {
        print({ accessed: r.accessed.map((x) => ({ key: toTagged(x.key), count: x.count })), largest: r.largest.map((x) => ({ key: toTagged(x.key), bytes: x.bytes })) });
        return EXIT_OK;
      }
      console.log("most accessed (estimated requests):");
      for (const x of r.accessed) console.log(`  ${x.count}\t${renderKey(x.key)}`);
      console.log("largest (key + value bytes):");
      for (const x of r.largest) console.log(`  ${x.bytes}\t${renderKey(x.key)}`);
      return EXIT_OK;
    },
  },
  export: {
    args: ["NAME"],
    summary: "write every entry (with its own TTL and the time it had left) as NDJSON in the tagged form, or msgpack; each partition from one point in time",
    flags: { out: { type: "string" }, format: { type: "string" } },
    async run(c) {
      const d = await c.dict().hydrate();
      const file = str(c.values.out);
      const format = formatOf(c, file);
      const out = file === undefined ? process.stdout : createWriteStream(file);
      const bar = progress(`export ${name(c)}`, await d.len());
      try {
        await exportDict(c.client, d, out, format, bar);
      } finally {
        bar.stop();
      }
      if (out !== process.stdout) await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      return EXIT_OK;
    },
  },
  import: {
    args: ["NAME", "FILE"],
    summary: "load an export into NAME (created if missing) in batches; resumes after an interruption",
    flags: { format: { type: "string" } },
    async run(c) {
      const file = c.pos[1] as string;
      if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
      const d = await Dict.fromName(name(c), { createIfMissing: true, environmentName: c.env, client: c.client }).hydrate();
      const bar = progress(`import ${name(c)}`, estimateEntries(file));
      let r;
      try {
        r = await importDict(c.client, d, file, formatOf(c, file), bar);
      } finally {
        bar.stop();
      }
      if (c.json) print({ written: r.written, resumedAfter: r.resumed });
      else if (r.resumed > 0) console.error(`resumed after ${r.resumed} entries already imported`);
      return EXIT_OK;
    },
  },
  watch: {
    args: ["NAME"],
    summary:
      "print changes as they come (TYPE<tab>KEY<tab>VALUE; JSON lines with type, key, value, version, cursor with --json) until Ctrl-C or --limit events; --key K or --prefix P to narrow, --initial to print the current entries first, --after CURSOR to resume",
    flags: { ...keyJson, ...limit, key: { type: "string" }, prefix: { type: "string" }, initial: { type: "boolean" }, after: { type: "string" } },
    async run(c) {
      const d = await c.dict().hydrate();
      const k = str(c.values.key);
      const prefix = str(c.values.prefix);
      const after = str(c.values.after);
      const max = limitOf(c);
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      let n = 0;
      try {
        const events = d.watch({
          signal: ac.signal,
          ...(k !== undefined && { key: c.values["key-json"] === true ? (fromTagged(parseJson(k, "--key")) as DictKey) : k }),
          ...(prefix !== undefined && { prefix }),
          ...(c.values.initial === true && { initial: true }),
          ...(after !== undefined && { after }),
        });
        for await (const e of events) {
          if (c.json) {
            print({ type: e.type, ...(e.key !== undefined && { key: toTagged(e.key) }), ...(e.type === "put" && { value: toTagged(e.value) }), ...(e.version !== undefined && { version: e.version }), cursor: e.cursor });
          } else {
            console.log([e.type, e.key === undefined ? "" : renderKey(e.key), e.type === "put" ? render(e.value) : ""].join("\t").trimEnd());
          }
          if (max !== undefined && ++n >= max) break;
        }
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
      return EXIT_OK;
    },
  },
  clear: {
    args: ["NAME"],
    summary: "remove every entry, keep the dict (asks on a terminal unless --yes)",
    flags: yes,
    async run(c) {
      const d = await c.dict().hydrate();
      if (!(await sure(c, `remove every entry of dict "${name(c)}" in environment "${c.env}"?`))) return EXIT_DECLINED;
      await d.clear();
      return EXIT_OK;
    },
  },
};

/** Every `dict` subcommand with its flags (the common ones too): what shell completion offers. */
export function dictCompletions(): { name: string; flags: string[] }[] {
  const common = ["--url", "--token", "--ca", "--env", "--json", "--help"];
  return Object.entries(SUBS).map(([name, s]) => ({ name, flags: [...Object.keys(s.flags ?? {}).map((f) => `--${f}`), ...common] }));
}

/** The usage of every `dict` subcommand. */
export function dictUsage(): string {
  const lines = Object.entries(SUBS).map(([n, s]) => `  shardict dict ${[n, ...s.args].join(" ")}  ${flagList(s)}\n      ${s.summary}`);
  return `usage:\n${lines.join("\n")}\n${COMMON}`;
}

const PLACEHOLDERS: Record<string, string> = { limit: "N", "ttl-ms": "MS", out: "FILE", format: "ndjson|msgpack", key: "K", prefix: "P", after: "CURSOR" };

function subUsage(n: string, s: Sub): string {
  return `usage: shardict dict ${[n, ...s.args].join(" ")} ${flagList(s)}\n  ${s.summary}\n${COMMON}`;
}

function flagList(s: Sub): string {
  return Object.entries(s.flags ?? {})
    .map(([f, o]) => `[--${f}${o.type === "string" ? ` ${PLACEHOLDERS[f] ?? "VALUE"}` : ""}]`)
    .join(" ");
}

/** Run `shardict dict ARGS`; resolves to the exit code. Failures throw (see cli-exit.ts). */
export async function dictCommand(args: string[]): Promise<number> {
  const [subName, ...rest] = args;
  if (subName === undefined || subName === "--help" || subName === "-h" || subName === "help") {
    (subName === undefined ? console.error : console.log)(dictUsage());
    return subName === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const sub = Object.hasOwn(SUBS, subName) ? SUBS[subName] : undefined;
  if (!sub) throw new UsageError(`unknown dict command "${subName}"\n${dictUsage()}`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      url: { type: "string" },
      token: { type: "string" },
      ca: { type: "string" },
      env: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      ...sub.flags,
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(subUsage(subName, sub));
    return EXIT_OK;
  }
  if (positionals.length !== sub.args.length) {
    throw new UsageError(`dict ${subName} takes ${sub.args.join(" ") || "no arguments"}, got ${positionals.length} argument${positionals.length === 1 ? "" : "s"}\n${subUsage(subName, sub)}`);
  }
  const flags = values as Record<string, string | boolean | undefined>;
  const url = str(values.url) ?? process.env.SHARDICT_URL ?? DEFAULT_URL;
  const token = str(values.token) ?? process.env.SHARDICT_TOKEN;
  const env = str(values.env) ?? "main";
  const ca = caFile(str(values.ca));
  const client = await connect({ url, ...(token !== undefined && { token }), ...(ca !== undefined && { ca }), retryBudgetMs: RETRY_BUDGET_MS });
  const ctx: Ctx = {
    client,
    env,
    json: values.json === true,
    pos: positionals,
    values: flags,
    dict: () => Dict.fromName(positionals[0] as string, { environmentName: env, client }),
    key: (i) => {
      const raw = positionals[i] as string;
      return flags["key-json"] === true ? (fromTagged(parseJson(raw, "KEY")) as DictKey) : raw;
    },
  };
  try {
    return await sub.run(ctx);
  } finally {
    client.close();
  }
}

function name(c: Ctx): string {
  return c.pos[0] as string;
}

/** The CA file of `--ca` (a usage error if it cannot be read). */
function caFile(path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`--ca ${path}: ${(err as Error).message}`);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

async function sure(c: Ctx, question: string): Promise<boolean> {
  if (c.values.yes === true || (await confirmed(question))) return true;
  console.error("shardict: not confirmed; nothing was changed");
  return false;
}

function missing(c: Ctx): number {
  console.error(`shardict: key ${JSON.stringify(c.pos[1])} not found in dict "${name(c)}"`);
  return EXIT_NOT_FOUND;
}

function limitOf(c: Ctx): number | undefined {
  const l = c.values.limit;
  return l === undefined ? undefined : integer(String(l), "--limit");
}

function integer(s: string, what: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) throw new UsageError(`${what} must be a whole number, not "${s}"`);
  return n;
}

function parseJson(raw: string, what: string): Json {
  try {
    return JSON.parse(raw) as Json;
  } catch (err) {
    throw new UsageError(`${what} is not JSON (${(err as Error).message}); without --json${what === "KEY" ? "" : " or --key-json"} it is taken as a string`);
  }
}

function print(v: Json | Record<string, Json>): void {
  console.log(JSON.stringify(v));
}

function formatOf(c: Ctx, file: string | undefined): ExportFormat {
  const f = str(c.values.format) ?? (file !== undefined && /\.(msgpack|mpk)$/.test(file) ? "msgpack" : "ndjson");
  if (f !== "ndjson" && f !== "msgpack") throw new UsageError(`--format is ndjson or msgpack, not "${f}"`);
  return f;
}

/** Entries in an export, for the progress bar: about a line per 150 bytes until known. */
function estimateEntries(file: string): number {
  return Math.max(1, Math.round(statSync(file).size / 150));
}

/** Print the first `--limit` items of a stream. */
async function each<T>(c: Ctx, items: AsyncIterable<T>, out: (item: T) => void): Promise<number> {
  let left = limitOf(c) ?? Number.POSITIVE_INFINITY;
  if (left <= 0) return EXIT_OK;
  for await (const item of items) {
    out(item);
    if (--left <= 0) break;
  }
  return EXIT_OK;
}

function renderKey(k: DictKey): string {
  return typeof k === "string" ? k : JSON.stringify(toTagged(k));
}

/** A value for a person: a string as it is, anything else as tagged JSON. */
function render(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(toTagged(v));
}

function printValue(c: Ctx, v: unknown): void {
  console.log(c.json ? JSON.stringify(toTagged(v)) : render(v));
}
