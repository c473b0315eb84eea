/**
 * `shardict repair`: rewrite a stopped shard's damaged log files with their valid records
 * (src/store/log-repair.ts) and tell the operator what that cost.
 */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "../config/cluster-config.js";
import { DataDirLockedError } from "../store/data-dir.js";
import { repairNode, RepairError, type FileReport, type RepairReport } from "../store/log-repair.js";

/**
 * Exit codes of `shardict repair` besides 0 (nothing to repair, or repaired), 1 (failed) and
 * 2 (bad arguments, or no log folder: `fail`, as for every command).
 */
export const EXIT_REPAIR_DAMAGE_FOUND = 3;
export const EXIT_REPAIR_LOCKED = 4;

/** `word` as one shell word, quoted only when it needs to be. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command that repairs node `id`'s folder, for messages that send the operator to it. */
export function repairCommandLine(dataDir: string, id: string): string {
  return `shardict repair --data-dir ${shellWord(dataDir)} --id ${shellWord(id)}`;
}

function describeFile(f: FileReport): string[] {
  const head = `  ${f.file} (${f.kind}, ${f.bytes} bytes): `;
  if (f.status === "superseded") return [`${head}older than the newest snapshot; recovery deletes it without reading it`];
  if (f.status === "ok") return [`${head}ok, ${f.records} records${f.torn ? ` (a torn last write at offset ${f.torn.offset} is cut off at start: it was never acknowledged)` : ""}`];
  const lines = [`${head}DAMAGED: recovery refuses it at offset ${f.refused?.offset} (${f.refused?.reason})`];
  for (const r of f.badRegions) lines.push(`      dropped ${r.to - r.from} bytes from offset ${r.from} to ${r.to}: ${r.reason}`);
  lines.push(`      ${f.badRegions.length} bad region${f.badRegions.length === 1 ? "" : "s"}, ${f.bytesDropped} bytes dropped, ${f.records} records kept${f.format === 1 ? " (rewritten in the current format)" : ""}`);
  if (f.kind === "snapshot" && f.format === 2) {
    const t = f.trailer;
    if (!t) lines.push("      no trailer: the snapshot was cut short or its end is damaged; how many records it lost is unknown");
    else if (t.count > t.before) lines.push(`      its trailer counts ${t.count} records: ${t.count - t.before} lost`);
    else lines.push(`      its trailer counts ${t.count} records, and all of them are kept`);
  }
  return lines;
}

function summary(r: RepairReport): string {
  const lines = [`shardict repair: node ${r.node}, ${r.folder}${r.dryRun ? " (dry run: nothing is changed)" : ""}`, ...r.files.flatMap(describeFile)];
  if (r.damaged === 0) lines.push("Nothing to repair: recovery accepts every file.");
  else if (r.dryRun) lines.push(`${r.damaged} damaged file(s), ${r.bytesDropped} bytes would be dropped. Run without --dry-run to repair (the originals are kept).`);
  else lines.push(`Repaired ${r.damaged} file(s), ${r.bytesDropped} bytes dropped; the originals are in ${r.backup}. The node can start.`);
  if (r.lostWrites) lines.push(r.lostWrites);
  return lines.join("\n");
}

/** Run `shardict repair ARGS`; resolves to the exit code. */
export async function repairCommand(args: string[], usage: string, fail: (m: string) => never): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { "data-dir": { type: "string" }, config: { type: "string" }, id: { type: "string" }, "dry-run": { type: "boolean" }, json: { type: "boolean" } },
      strict: true,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${usage}`);
  }
  if (values.id === undefined) fail(`repair needs --id (the node whose folder to repair)\n${usage}`);
  // As for `shard`: --data-dir wins, else the config's dataDir.
  let dataDir = values["data-dir"];
  if (dataDir === undefined) {
    const configPath = values.config ?? process.env.SHARDICT_CONFIG ?? "cluster.config.json";
    if (values.config === undefined && !existsSync(configPath)) fail(`repair needs --data-dir DIR, or a config (--config FILE) that names the dataDir`);
    dataDir = loadConfig(configPath).dataDir;
  }
  let report: RepairReport;
  try {
    report = await repairNode({ dataDir, node: values.id, dryRun: values["dry-run"] ?? false });
  } catch (err) {
    if (err instanceof RepairError) fail(err.message);
    if (err instanceof DataDirLockedError) {
      // The lock's own advice ("or give this node another dataDir") is for a starting node.
      console.error(`shardict: cannot repair: ${err.message.split("; ")[0]}; stop the node first (repair never runs beside it)`);
      return EXIT_REPAIR_LOCKED;
    }
    throw err;
  }
  console.log(values.json ? JSON.stringify(report) : summary(report));
  return report.damaged > 0 && report.dryRun ? EXIT_REPAIR_DAMAGE_FOUND : 0;
}
