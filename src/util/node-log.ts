/**
 * How a node (coordinator or shard) writes its log: readable lines on a terminal (`shard-1:
 * listening on …`), and JSON lines through `pino` otherwise (or with `--log-format json`),
 * one object per line with the node's name, its pid, an ISO time, a level and the message.
 * Either way no secret reaches the log: the cluster secret and every token the node knows
 * are replaced by `[redacted]` in whatever is written (a safety net: no line is meant to
 * hold one).
 */
import pino from "pino";

export type LogFormat = "text" | "json";

/** The format asked for (`--log-format`, else `$SHARDICT_LOG_FORMAT`), else by whether stdout is a terminal. */
export function logFormatOf(flag: string | undefined, env: string | undefined, isTTY: boolean): LogFormat {
  const asked = flag ?? env;
  if (asked === undefined || asked === "") return isTTY ? "text" : "json";
  if (asked === "text" || asked === "json") return asked;
  throw new Error(`--log-format must be "text" or "json", not ${JSON.stringify(asked)}`);
}

export interface NodeLog {
  /** A line as the node has always written it ("shard-1: …"): its level is read from it. */
  (line: string): void;
  /** An error line (stderr in text form). */
  error(line: string): void;
}

/** The level a node's line stands for: its words say it. */
function levelOf(line: string): "fatal" | "warn" | "info" {
  if (/\bFATAL\b/.test(line)) return "fatal";
  if (/\bWARNING\b/.test(line)) return "warn";
  return "info";
}

/** `dest`: where lines go (fd 1, errors to fd 2; or one stream for everything). */
export function nodeLog(node: string, format: LogFormat, secrets: readonly (string | undefined)[], dest: NodeJS.WritableStream | number = 1): NodeLog {
  const known = secrets.filter((s): s is string => typeof s === "string" && s.length >= 8);
  const redact = (line: string): string => {
    let out = line;
    for (const s of known) if (out.includes(s)) out = out.split(s).join("[redacted]");
    return out;
  };
  if (format === "text") {
    const log = ((line: string) => console.log(redact(line))) as NodeLog;
    log.error = (line) => console.error(redact(line));
    return log;
  }
  // Synchronous: a node that fail-stops logs FATAL and exits in the same turn. Errors go to
  // stderr, as the readable form's do (a supervisor may keep them apart).
  const make = (to: NodeJS.WritableStream | number): pino.Logger =>
    pino(
      { base: { node, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
      typeof to === "number" ? pino.destination({ dest: to, sync: true }) : to,
    );
  const out = make(dest);
  const err = typeof dest === "number" ? make(2) : out;
  const prefix = `${node}: `;
  const write = (line: string, level: "fatal" | "error" | "warn" | "info") => {
    const text = redact(line);
    (level === "fatal" || level === "error" ? err : out)[level](text.startsWith(prefix) ? text.slice(prefix.length) : text);
  };
  const log = ((line: string) => write(line, levelOf(line))) as NodeLog;
  log.error = (line) => write(line, levelOf(line) === "fatal" ? "fatal" : "error");
  return log;
}
