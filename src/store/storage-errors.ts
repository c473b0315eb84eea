/**
 * Errors of the storage layer a node acts on (they never reach a client as such).
 */

/**
 * Stored data failed its checks somewhere a crash cannot explain (not a torn last record):
 * the node refuses to serve it rather than silently serve less than it acknowledged.
 */
export class CorruptStorageError extends Error {
  override name = "CorruptStorageError";
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(
      `${file} is corrupt at offset ${offset}: ${reason}. The node will not start on data it cannot trust. ` +
        `Keep a copy of the folder. If this shard's partitions have in-sync replicas, move the folder aside and re-add the shard ` +
        `so it is rebuilt from them; otherwise this folder is the only copy: with the node stopped, \`shardict repair --data-dir … --id …\` ` +
        `keeps every valid record and reports what it drops, which are lost writes (see README "Durability").`,
    );
  }
}

/**
 * A write or sync failed: what is on disk after it is unknown, so the node stops serving
 * (fail-stop, as PostgreSQL panics on a failed fsync) instead of acknowledging more.
 */
export class StorageFailedError extends Error {
  override name = "StorageFailedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Exit code of a node whose storage failed: restart it (a supervisor does, with backoff). */
export const EXIT_STORAGE_FAILED = 75;
/** Exit code of a node that refused its data as corrupt: restarting cannot help, an operator must look. */
export const EXIT_CORRUPT_DATA = 78;

/** ENOSPC, EDQUOT: a condition that goes away once space is freed. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}
