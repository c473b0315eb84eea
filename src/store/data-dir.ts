/**
 * A node's data folder, `<dataDir>/<node id>/`, locked so two running nodes never share one
 * (LMDB itself would let them, and they would overwrite each other).
 *
 * Why a socket and not a pid file: a pid file outlives a crashed process, so every start has to
 * guess whether a LOCK is stale, and two nodes that both guess "stale" at once both take it
 * over. On Linux the lock is instead a Unix socket bound in the abstract namespace under a name
 * derived from the folder's real path: binding is atomic and exclusive, and the kernel drops the
 * name the moment the process dies (even by SIGKILL), so there is no stale state to judge. The
 * abstract namespace exists only on Linux, and only within one network namespace (containers
 * sharing a volume but not a network do not see each other's locks).
 *
 * The `LOCK` file still names the holder's pid, for humans and for the error message; on Linux
 * it decides nothing. Elsewhere it is the lock itself, with a known race: two processes that
 * find the same stale LOCK at once can both remove it, and the second remove can delete the
 * first one's fresh lock.
 */
import { pidAlive } from "../util/pid-alive.js";
import { createHash } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

export interface DataDir {
  readonly path: string;
  release(): void;
}

/** Folders this process holds through the pid-file fallback, where our own pid reads as stale. */
const heldHere = new Set<string>();


/** The pid in LOCK, or undefined when it is missing, empty or garbage (never 0: `kill(0)` targets our own group). */
function readHolder(lockPath: string): number | undefined {
  try {
    const text = readFileSync(lockPath, "utf8").trim();
    const pid = Number(text);
    return /^\d+$/.test(text) && pid > 0 && Number.isSafeInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function lockedError(path: string, holder: number | undefined): DataDirLockedError {
  const who = holder === undefined ? "unknown pid" : `pid ${holder}`;
  return new DataDirLockedError(`data folder ${path} is in use by another running node (${who}); stop it or give this node another dataDir`);
}

/** Resolves to the bound server, or undefined when another live socket holds the name. */
function bindSocket(name: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) => (err.code === "EADDRINUSE" ? resolve(undefined) : reject(err)));
    // exclusive: a cluster worker must bind itself, not share a handle owned by the primary.
    server.listen({ path: name, exclusive: true }, () => {
      server.unref();
      resolve(server);
    });
  });
}

async function lockWithSocket(path: string, lockPath: string): Promise<Server> {
  const key = createHash("sha256").update(realpathSync(path)).digest("hex").slice(0, 40);
  const server = await bindSocket(`\0shardict-lock-${key}`);
  if (!server) {
    const holder = readHolder(lockPath);
    throw lockedError(path, holder !== undefined && pidAlive(holder) ? holder : undefined);
  }
  try {
    // Rename so a reader never sees the file empty or half-written.
    const tmp = `${lockPath}.${process.pid}.tmp`;
    writeFileSync(tmp, `${process.pid}\n`);
    renameSync(tmp, lockPath);
  } catch (err) {
    server.close();
    throw err;
  }
  return server;
}

function lockWithPidFile(path: string, lockPath: string): void {
  if (heldHere.has(lockPath)) throw lockedError(path, process.pid);
  const tmp = `${lockPath}.${process.pid}.tmp`;
  writeFileSync(tmp, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, lockPath); // EEXIST if present, and never visible half-written
        heldHere.add(lockPath);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      // Our own pid here is a previous run (containers reuse pids), not a live holder.
      const holder = readHolder(lockPath);
      if (holder !== undefined && holder !== process.pid && pidAlive(holder)) throw lockedError(path, holder);
      rmSync(lockPath, { force: true });
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  throw new DataDirLockedError(`could not lock data folder ${path}`);
}

/**
 * Create (if needed) and lock `<dataDir>/<node>`; rejects with DataDirLockedError while a live
 * process holds it. The lock is released by `release()`, at process exit, or by the process dying.
 */
export async function openDataDir(dataDir: string, node: string): Promise<DataDir> {
  const path = join(dataDir, node);
  mkdirSync(path, { recursive: true });
  const lockPath = join(path, "LOCK");
  let server: Server | undefined;
  if (process.platform === "linux") server = await lockWithSocket(path, lockPath);
  else lockWithPidFile(path, lockPath);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener("exit", release);
    // Remove LOCK before letting go of the socket, so it never names a newer holder.
    try {
      if (readHolder(lockPath) === process.pid) rmSync(lockPath, { force: true });
    } catch {
      // informational on Linux; elsewhere the next start treats our dead pid as stale
    }
    heldHere.delete(lockPath);
    server?.close();
  };
  process.once("exit", release);
  return { path, release };
}
