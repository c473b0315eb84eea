/**
 * Disk space for the log, taken before it is needed.
 *
 * Segments are created ahead of use, filled with zeros and synced (as PostgreSQL does with
 * its WAL): an append then only overwrites blocks the file already owns, so it cannot fail
 * for lack of space, and its sync has no file size to update. A write is admitted only after
 * its bytes are *reserved* against that space; when none is left and no segment can be
 * made, it is refused with {@link StorageFullError} before it changes anything, and
 * admitted again as soon as a new segment can be made (the disk had room freed).
 */
import { renameSync, unlinkSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { StorageFullError } from "../errors.js";
import { fileHeader, FILE_HEADER, KIND_SEGMENT } from "./log-file.js";
import { isNoSpace } from "./storage-errors.js";

export interface Spare {
  seq: number;
  /** The file's size, header included. */
  size: number;
}

const ZEROS = Buffer.alloc(1 << 20);
/** After a failed attempt to make a segment, wait this long before trying again. */
const FULL_RETRY_MS = 1_000;

/** Default size of a segment (`logSegmentBytes`). */
export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

export function segmentName(seq: number, ext: "log" | "snap" | "tmp"): string {
  return `${String(seq).padStart(12, "0")}.${ext}`;
}

export interface SegmentSpaceOptions {
  dir: string;
  segmentBytes: number;
  node: string;
  syncDir: () => void;
  /** Take the next free sequence number for a file. */
  nextSeq: () => number;
  log: (line: string) => void;
  /** Making a segment failed for another reason than space: a storage failure (fail-stop). */
  onFailure: (err: unknown) => void;
}

export class SegmentSpace {
  /** Ready segments, in sequence order. */
  readonly spares: Spare[] = [];
  /** Bytes admitted and not yet released. */
  private reserved = 0;
  /** Free bytes in the segment being appended to. */
  currentFree = 0;
  private making: Promise<void> | undefined;
  /** Names of segments being made (`N.prep`); they get their sequence number once ready. */
  private prepared = 0;
  private fullAt = Number.NEGATIVE_INFINITY;
  private fullError: StorageFullError | undefined;
  /** A failure that is not a full disk: nothing more is made. */
  private broken: Error | undefined;
  /** Kept free for writes nobody reserves (persisted deadlines, expiry, dict records). */
  readonly margin: number;

  constructor(private readonly opts: SegmentSpaceOptions) {
    this.margin = Math.min(1 << 20, Math.floor(opts.segmentBytes / 4));
  }

  private room(): number {
    let n = this.currentFree;
    for (const s of this.spares) n += s.size - FILE_HEADER;
    return n;
  }

  /** True while little room is left: reads stop persisting moved deadlines. */
  get tight(): boolean {
    return this.room() - this.reserved < 2 * this.margin;
  }

  /**
   * Admit a write of at most `bytes`: undefined when there is room now, else a promise that
   * resolves once a new segment made room, or rejects with {@link StorageFullError}.
   */
  reserve(bytes: number): Promise<void> | undefined {
    if (this.reserved + bytes + this.margin <= this.room()) {
      this.reserved += bytes;
      return undefined;
    }
    return this.reserveSlow(bytes);
  }

  private async reserveSlow(bytes: number): Promise<void> {
    for (;;) {
      if (this.broken) throw this.broken;
      if (this.reserved + bytes + this.margin <= this.room()) {
        this.reserved += bytes;
        return;
      }
      if (this.making) {
        await this.making.catch(() => {});
        continue;
      }
      if (this.fullError && Date.now() - this.fullAt < FULL_RETRY_MS) throw this.fullError;
      await this.make(bytes + this.margin + this.reserved).catch(() => {});
      if (this.fullError && Date.now() - this.fullAt < FULL_RETRY_MS) throw this.fullError;
    }
  }

  /** Resolves once no segment is being made (before closing). */
  async idle(): Promise<void> {
    while (this.making) await this.making.catch(() => {});
  }

  release(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }

  /** Keep one segment ready ahead of the one in use (in the background). */
  keepAhead(): void {
    if (this.spares.length > 0 || this.making || this.broken) return;
    if (Date.now() - this.fullAt < FULL_RETRY_MS) return;
    this.make(0).catch(() => {});
  }

  /**
   * Make a segment of at least `bytes` of room (and at least the configured size). Rejects
   * (and remembers the disk is full) if the disk cannot hold it; no partial file is left.
   */
  make(bytes: number): Promise<void> {
    if (this.making) return this.making.then(() => this.make(bytes));
    this.making = this.makeAsync(bytes).finally(() => (this.making = undefined));
    return this.making;
  }

  /** Zeros are written off the event loop (a segment is megabytes, its sync milliseconds). */
  private async makeAsync(bytes: number): Promise<void> {
    const size = FILE_HEADER + Math.max(this.opts.segmentBytes, bytes);
    const prep = join(this.opts.dir, `${++this.prepared}.prep`);
    let file: FileHandle | undefined;
    let seq = 0;
    try {
      file = await open(prep, "w");
      await writeFully(file, fileHeader(KIND_SEGMENT), 0);
      for (let at = FILE_HEADER; at < size; at += Math.min(ZEROS.length, size - at)) await writeFully(file, ZEROS.subarray(0, Math.min(ZEROS.length, size - at)), at);
      await file.datasync();
      await file.close();
      file = undefined;
      // Numbered only now: spares are used in number order, after every segment in use.
      seq = this.opts.nextSeq();
      renameSync(prep, join(this.opts.dir, segmentName(seq, "log")));
      this.opts.syncDir();
    } catch (err) {
      await file?.close().catch(() => {});
      this.failed(prep, err);
    }
    if (this.fullError) this.opts.log(`${this.opts.node}: space freed in ${this.opts.dir}: accepting writes again`);
    this.fullError = undefined;
    this.fullAt = Number.NEGATIVE_INFINITY;
    this.spares.push({ seq, size });
  }

  /** No partial file is left; a full disk is remembered (and refuses writes for a while). */
  private failed(prep: string, err: unknown): never {
    try {
      unlinkSync(prep);
    } catch {
      // never created
    }
    if (!isNoSpace(err)) {
      this.broken = err as Error;
      this.opts.onFailure(err);
      throw err;
    }
    if (!this.fullError) this.opts.log(`${this.opts.node}: disk full in ${this.opts.dir}: refusing writes until space is freed`);
    this.fullAt = Date.now();
    this.fullError = new StorageFullError(`${this.opts.node}: the disk holding ${this.opts.dir} is full; the write was not applied (reads still work; writes resume once space is freed)`, this.opts.node, this.opts.dir);
    throw err;
  }
}

/** FileHandle.write may write less than asked (a full disk): go on, or fail, but never stop short. */
export async function writeFully(file: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesWritten } = await file.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error("write made no progress"), { code: "ENOSPC" });
    done += bytesWritten;
  }
}
