/** Small synchronous file operations the log engine and repair share. */
import { closeSync, fsyncSync, openSync, readdirSync, readSync, writeSync } from "node:fs";
import { HEADER } from "../encoding/log-record.js";
import { FILE_HEADER } from "./log-file.js";

/** The first bytes of a file: enough to tell whether it holds records. */
export function readHead(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(FILE_HEADER + HEADER);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** `writeSync` may write less than asked: go on until all is written (or it throws). */
export function writeAllAt(fd: number, buf: Buffer, position: number): void {
  for (let done = 0; done < buf.length; ) {
    const n = writeSync(fd, buf, done, buf.length - done, position + done);
    if (n <= 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
    done += n;
  }
}

/** Make a file's creation or renaming in `dir` durable. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A file of the log's folder: a segment, a snapshot, or a snapshot being written. */
export interface LogFile {
  seq: number;
  ext: string;
  name: string;
}

/** The log's files in `dir`, in sequence order (a snapshot before the segment of its number). */
export function logFiles(dir: string): LogFile[] {
  return readdirSync(dir)
    .map((name) => {
      const m = /^(\d{12})\.(log|snap|tmp)$/.exec(name);
      return m ? { seq: Number(m[1]), ext: m[2] as string, name } : undefined;
    })
    .filter((f): f is LogFile => f !== undefined)
    .sort((a, b) => a.seq - b.seq || (a.ext === "snap" ? -1 : 1));
}
