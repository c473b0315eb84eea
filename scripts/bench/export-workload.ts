/**
 * The bench's `export` workload (shardict only: Redis has no export of its own to compare
 * with, RDB being a different thing): `shardict dict export` of the big dict to a file, then
 * `shardict dict import` of that file into a fresh dict, through the same code the CLI runs.
 */
import { createWriteStream, rmSync } from "node:fs";
import { join } from "node:path";
import { Dict, type Client } from "../../src/index.js";
import { exportDict } from "../../src/cli/dict-export.js";
import { importDict } from "../../src/cli/dict-import.js";

export interface ExportImportStats {
  exported: number;
  exportSeconds: number;
  imported: number;
  importSeconds: number;
  fileBytes: number;
}

const QUIET = { add() {}, stop() {} };

export async function exportImport(client: Client, dir: string, source: Dict<string>): Promise<ExportImportStats> {
  const file = join(dir, "export.ndjson");
  const out = createWriteStream(file);
  const t0 = performance.now();
  const exported = await exportDict(client, source, out, "ndjson", QUIET);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const exportSeconds = (performance.now() - t0) / 1000;
  const fileBytes = out.bytesWritten;
  const copy = await Dict.objects.create("bench-import", { client, allowExisting: true });
  const t1 = performance.now();
  const { written } = await importDict(client, copy, file, "ndjson", QUIET);
  const importSeconds = (performance.now() - t1) / 1000;
  rmSync(file, { force: true });
  return { exported, exportSeconds, imported: written, importSeconds, fileBytes };
}
