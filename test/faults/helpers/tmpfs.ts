/**
 * A small real file system for disk-full tests. A tmpfs mount with a size limit gives genuine
 * ENOSPC from the kernel on every path (write, pwritev, mmap, rename, directory growth), which the
 * LD_PRELOAD shim cannot fake for code that bypasses libc. Needs root (CAP_SYS_ADMIN); when the
 * mount is refused, callers get `{ skip }` and the reason instead of a failure.
 */
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Tmpfs {
  path: string;
  /** Lazily unmounts (`umount -l`, so open files don't block it) and removes the folder; safe to call twice. */
  unmount(): void;
}

/** Mounts a tmpfs of `sizeBytes` (the kernel rounds up to whole pages) on a fresh temp folder. */
export function mountTmpfs(sizeBytes: number): Tmpfs | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: "mounting a tmpfs needs root" };
  const dir = mkdtempSync(join(tmpdir(), "shardict-tmpfs-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir], { stdio: "pipe" });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as Error & { stderr?: Buffer };
    const why = err.stderr?.toString().trim() || err.message;
    return { skip: `cannot mount a tmpfs (no CAP_SYS_ADMIN, e.g. in a container?): ${why}` };
  }
  let mounted = true;
  return {
    path: dir,
    unmount() {
      if (!mounted) return;
      mounted = false;
      execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Why tmpfs tests must be skipped here, or undefined when a tmpfs can be mounted (tried with a
 * small one, unmounted at once). Lets a suite decide at collection time and mount its own in
 * `beforeAll`, so a suite filtered out (`-t`) leaves no mount behind.
 */
export function tmpfsUnavailable(): string | undefined {
  const probe = mountTmpfs(64 * 1024);
  if ("skip" in probe) return probe.skip;
  probe.unmount();
  return undefined;
}

/** Mounts a tmpfs for a suite that checked {@link tmpfsUnavailable} first. */
export function mountTmpfsOrThrow(sizeBytes: number): Tmpfs {
  const fs = mountTmpfs(sizeBytes);
  if ("skip" in fs) throw new Error(fs.skip);
  return fs;
}

/** Bytes free on the file system holding `dir` (blocks free × block size, as root sees it). */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bfree * s.bsize;
}

/**
 * Fills the file system holding `dir` with a filler file until about `leaveBytes` are free (to
 * within a block), so the code under test runs out of space at a chosen point. `release()`
 * deletes the filler and gives the space back.
 */
export function fillDisk(dir: string, leaveBytes = 0): { release(): void } {
  const filler = join(dir, `.fill-${process.pid}-${Date.now()}`);
  const fd = openSync(filler, "wx");
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (;;) {
      const want = freeBytes(dir) - leaveBytes;
      if (want <= 0) break;
      try {
        if (writeSync(fd, chunk, 0, Math.min(chunk.length, want)) === 0) break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOSPC") break;
        throw e;
      }
    }
  } catch (e) {
    closeSync(fd);
    rmSync(filler, { force: true });
    throw e;
  }
  closeSync(fd);
  return { release: () => rmSync(filler, { force: true }) };
}
