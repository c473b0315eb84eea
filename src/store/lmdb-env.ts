/**
 * What every LMDB store here (the shard engine, the coordinator's registry) needs alike: how
 * an environment is opened, what a failed commit really was, and the sync of its data file
 * before anything read from it is trusted.
 */
import { closeSync, fsyncSync, openSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { open, type RootDatabase } from "lmdb";
import { StorageFailedError } from "./storage-errors.js";

/**
 * Growth of an LMDB file per byte a write reserves, and room kept free beyond all reserved
 * writes. Measured with lmdb 3.5.6 (4 KiB pages) by committing entries through
 * `LmdbEngine` and comparing data.mdb's growth with what their requests reserve (key,
 * value, dict id and 192 bytes of record overhead each; an answer for retries with every
 * write): small entries grow it 0.75–1.1× (they share leaves), 1000–2000-byte values ~1.8–1.95×
 * (random keys leave leaves half full), a 4100-byte value 1.95× (two overflow pages), big
 * values 1.0×. Hence ×2. What the factor does not cover: copying the path from the root to
 * each changed leaf in a copy-on-write commit (beyond twice what it reserved, a transaction
 * grew the file by up to ~12 KiB for a single small write, ~40 KiB for one of many), and writes nobody reserves (dict records, moved read
 * deadlines until space is tight, purges of cleared data: at most 40 KiB measured for 20,000
 * entries, as they reuse the pages they free). 1 MiB covers those many times over and is
 * small next to any real disk.
 */
export const LMDB_GROWTH_FACTOR = 2;
export const LMDB_MARGIN_BYTES = 1024 * 1024;

/**
 * Open an environment whose commits resolve only once they are on disk (`overlappingSync`
 * off, syncs on). `eventTurnBatching` off: the stores group their writes into transactions
 * themselves, and with it on lmdb-js makes one promise per batch that nobody can observe,
 * which a failed commit rejects unhandled (crashing the process before it can say why).
 */
export function openLmdb(path: string): RootDatabase {
  return open({ path, overlappingSync: false, noSync: false, eventTurnBatching: false });
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * The error behind a rejected LMDB write. lmdb-js rejects a failed commit with "Commit failed"
 * and the cause in a second promise (`commitError`), with a numeric errno as `code`; this
 * reads that promise (it must be read, or it rejects unhandled) and names the code
 * (`ENOSPC`, `EIO`), so `isNoSpace` and messages work. LMDB reports a short write as EIO,
 * so a disk that fills up under a commit may show up as EIO too: callers treat any failure
 * they cannot prove harmless as fail-stop.
 */
export async function commitCause(err: unknown): Promise<Error> {
  const pending = (err as { commitError?: Promise<unknown> } | undefined)?.commitError;
  // lmdb-js settles it in the same callback that rejects the commit; should it ever not,
  // the commit's own error will do rather than waiting forever.
  const cause = pending ? await Promise.race([pending.then(() => err, (e: unknown) => e), new Promise((resolve) => setImmediate(() => resolve(err)))]) : err;
  const error = cause instanceof Error ? cause : new Error(String(cause));
  const code = (error as NodeJS.ErrnoException).code as unknown;
  if (typeof code === "number") {
    const name = ERRNO_NAMES.get(code);
    Object.assign(error, { errno: code, code: name ?? String(code), message: name ? `${error.message} (${name})` : error.message });
  }
  return error;
}

/**
 * Sync the environment's data file before serving from it: the last run may have died on a
 * failed sync, leaving pages in the page cache that never reached the disk (LMDB writes its
 * pages, syncs them, then writes the meta page with O_DSYNC; if that write failed, the
 * cache may still hold the new meta page). Fails with {@link StorageFailedError} while the
 * disk keeps failing, so a node is not started on data it could not make durable.
 */
export function syncDataFile(path: string, who: string): void {
  try {
    const fd = openSync(join(path, "data.mdb"), "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new StorageFailedError(`${who}: syncing ${join(path, "data.mdb")} at start failed: ${(err as Error).message}`, { cause: err });
  }
}
