/**
 * `shardict backup DIR` / `shardict restore DIR`: every named dict of an environment, one
 * export file each (dict-export.ts) and a `manifest.json` naming them, read back by
 * `restore` with the resumable import (dict-import.ts): a restore that is interrupted picks
 * up where it stopped when run again.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { clientOf, connect } from "../client/client.js";
import { Dict } from "../client/dict.js";
import { exportDict, EXPORT_VERSION, type ExportFormat } from "./dict-export.js";
import { importDict } from "./dict-import.js";
import { progress } from "./progress.js";
import { EXIT_OK, UsageError } from "./cli-exit.js";

interface Manifest {
  format: number;
  env: string;
  takenAt: string;
  dicts: { name: string; file: string; entries: number }[];
}

export const BACKUP_USAGE = `usage:
  shardict backup DIR [--env E] [--format ndjson|msgpack] [--url URL] [--token T]
  shardict restore DIR [--env E] [--url URL] [--token T]
backup writes every named dict of the environment to DIR (one export file each, and
manifest.json); restore loads them into dicts of the same names (created if missing),
resuming an interrupted restore. Exit codes as for shardict dict.`;

export async function backupCommand(command: "backup" | "restore", args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { url: { type: "string" }, token: { type: "string" }, env: { type: "string" }, format: { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(BACKUP_USAGE);
    return EXIT_OK;
  }
  const dir = positionals[0];
  if (dir === undefined || positionals.length > 1) throw new UsageError(`${command} takes one folder\n${BACKUP_USAGE}`);
  const env = values.env ?? "main";
  const token = values.token ?? process.env.SHARDICT_TOKEN;
  const client = await connect({ url: values.url ?? process.env.SHARDICT_URL ?? "ws://127.0.0.1:7700", ...(token !== undefined && { token }), retryBudgetMs: 5_000 });
  try {
    if (command === "backup") {
      const format = values.format ?? "ndjson";
      if (format !== "ndjson" && format !== "msgpack") throw new UsageError(`--format is ndjson or msgpack, not "${format}"`);
      mkdirSync(dir, { recursive: true });
      const infos = await clientOf(client).coordinatorRequest({ type: "dict.list", env });
      const manifest: Manifest = { format: EXPORT_VERSION, env, takenAt: new Date().toISOString(), dicts: [] };
      for (const info of infos) {
        if (info.name === null) continue;
        const d = await Dict.fromName(info.name, { environmentName: env, client }).hydrate();
        const file = `${info.name}.${format}`;
        const out = createWriteStream(join(dir, file));
        const bar = progress(`backup ${info.name}`, await d.len());
        let entries: number;
        try {
          entries = await exportDict(client, d, out, format as ExportFormat, bar);
        } finally {
          bar.stop();
        }
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
        manifest.dicts.push({ name: info.name, file, entries });
      }
      writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
      console.error(`backed up ${manifest.dicts.length} dicts of environment "${env}" to ${dir}`);
      return EXIT_OK;
    }
    const path = join(dir, "manifest.json");
    if (!existsSync(path)) throw new UsageError(`${path} not found: not a backup folder`);
    const manifest = JSON.parse(readFileSync(path, "utf8")) as Manifest;
    for (const m of manifest.dicts) {
      const d = await Dict.fromName(m.name, { createIfMissing: true, environmentName: env, client }).hydrate();
      const bar = progress(`restore ${m.name}`, m.entries);
      try {
        await importDict(client, d, join(dir, m.file), m.file.endsWith(".msgpack") ? "msgpack" : "ndjson", bar);
      } finally {
        bar.stop();
      }
    }
    console.error(`restored ${manifest.dicts.length} dicts into environment "${env}"`);
    return EXIT_OK;
  } finally {
    client.close();
  }
}
