/**
 * A node's data folder, `<dataDir>/<node id>/`, held with a lock file so two running nodes
 * never share one (LMDB itself would let them, and they would overwrite each other).
 */
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

export interface DataDir {
  readonly path: string;
  release(): void;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Create (if needed) and lock `<dataDir>/<node>`. A lock left by a process that is no longer
 * running (a node killed with SIGKILL) is taken over; one held by a live process is refused.
 */
export function openDataDir(dataDir: string, node: string): DataDir {
  const path = join(dataDir, node);
  mkdirSync(path, { recursive: true });
  const lockPath = join(path, "LOCK");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          if (readFileSync(lockPath, "utf8").trim() === String(process.pid)) rmSync(lockPath);
        } catch {
          // already gone
        }
      };
      process.once("exit", release);
      return { path, release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(lockPath, "utf8").trim());
      } catch {
        // vanished between open and read: try again
      }
      if (Number.isInteger(holder) && holder !== process.pid && isRunning(holder)) {
        throw new DataDirLockedError(`data folder ${path} is in use by another running node (pid ${holder}); stop it or give this node another dataDir`);
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new DataDirLockedError(`could not lock data folder ${path}`);
}
