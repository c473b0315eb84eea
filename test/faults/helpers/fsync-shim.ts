/**
 * An LD_PRELOAD shim that makes the libc calls a Node process uses for durable writes fail on
 * demand, so fault tests can hit a real node process with a real EIO from fdatasync or a real
 * ENOSPC from write, with no mocks inside the process under test.
 *
 * Faults are switched by the existence of flag files (checked with access() on every call), so a
 * test can turn a fault on and off while the child runs, from outside, without signals or IPC.
 *
 * Why these symbols: Node links libuv statically and reaches libc through the PLT, so
 * interposition works. On Linux libuv calls fdatasync()/fsync() for fs.fdatasync/fs.fsync, and
 * for writes: write() (one buffer, no position), writev() (several buffers), pwrite64()/pwrite()
 * (one buffer with a position), pwritev64()/pwritev() (several buffers with a position); all are
 * wrapped. sync_file_range() is wrapped too because a storage engine may use it through a native
 * addon. Anything done through io_uring skips libc entirely: see {@link shimEnv}.
 *
 * LMDB (lmdb 3.5.6, seen with strace on a commit) makes a transaction durable from its own
 * writer thread through libc too: writev() of the dirty pages to data.mdb, fdatasync() of it,
 * then the meta page with pwrite64() on a second descriptor opened with O_DSYNC, i.e. a write
 * that is also a sync. So while the EIO flag exists, a write to an O_DSYNC/O_SYNC descriptor
 * fails with EIO as well; msync() (LMDB's sync with a writable memory map, which the stores
 * here do not use) is wrapped for the same reason.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const EIO_FLAG_ENV = "SHARDICT_FAULT_EIO_FLAG";
export const ENOSPC_FLAG_ENV = "SHARDICT_FAULT_ENOSPC_FLAG";

const SHIM_C = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* True when the flag file named by env var 'var' exists; errno is left as it was. */
static int flag_on(const char *var) {
  const char *p = getenv(var);
  if (p == NULL || *p == 0) return 0;
  int saved = errno;
  int on = access(p, F_OK) == 0;
  errno = saved;
  return on;
}
static int eio_on(void) { return flag_on("${EIO_FLAG_ENV}"); }
/* ENOSPC only for regular files: pipes and sockets (stdout, IPC, cluster traffic) keep working. */
static int enospc_on(int fd) {
  if (!flag_on("${ENOSPC_FLAG_ENV}")) return 0;
  int saved = errno;
  struct stat st;
  int reg = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  errno = saved;
  return reg;
}
/* A write to a descriptor opened with O_DSYNC (or O_SYNC, which includes it) is a sync too. */
static int dsync_eio_on(int fd) {
  if (!eio_on()) return 0;
  int saved = errno;
  int fl = fcntl(fd, F_GETFL);
  errno = saved;
  return fl != -1 && (fl & O_DSYNC) != 0;
}
/* The error a write fails with under the flags: ENOSPC first (a full disk), then EIO for a syncing write. */
static int write_fault(int fd) {
  if (enospc_on(fd)) return ENOSPC;
  if (dsync_eio_on(fd)) return EIO;
  return 0;
}
#define FAIL_WRITE(fd) do { int e = write_fault(fd); if (e) { errno = e; return -1; } } while (0)
#define REAL(name) static __typeof__(&name) real_##name; \
  if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

int fdatasync(int fd) { REAL(fdatasync); if (eio_on()) { errno = EIO; return -1; } return real_fdatasync(fd); }
int fsync(int fd) { REAL(fsync); if (eio_on()) { errno = EIO; return -1; } return real_fsync(fd); }
int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags) {
  REAL(sync_file_range); if (eio_on()) { errno = EIO; return -1; } return real_sync_file_range(fd, off, n, flags);
}
int msync(void *addr, size_t n, int flags) { REAL(msync); if (eio_on()) { errno = EIO; return -1; } return real_msync(addr, n, flags); }
ssize_t write(int fd, const void *b, size_t n) { REAL(write); FAIL_WRITE(fd); return real_write(fd, b, n); }
ssize_t writev(int fd, const struct iovec *v, int c) { REAL(writev); FAIL_WRITE(fd); return real_writev(fd, v, c); }
ssize_t pwrite(int fd, const void *b, size_t n, off_t o) { REAL(pwrite); FAIL_WRITE(fd); return real_pwrite(fd, b, n, o); }
ssize_t pwrite64(int fd, const void *b, size_t n, off64_t o) { REAL(pwrite64); FAIL_WRITE(fd); return real_pwrite64(fd, b, n, o); }
ssize_t pwritev(int fd, const struct iovec *v, int c, off_t o) { REAL(pwritev); FAIL_WRITE(fd); return real_pwritev(fd, v, c, o); }
ssize_t pwritev64(int fd, const struct iovec *v, int c, off64_t o) { REAL(pwritev64); FAIL_WRITE(fd); return real_pwritev64(fd, v, c, o); }
`;

export type FsyncShim = { path: string };

/**
 * Compiles the shim once per source version (cached in os.tmpdir() under a hash of the C source)
 * and returns the .so path, or `{ skip }` with the reason when there is no C compiler or the build
 * fails, so fault suites can skip instead of failing on a machine without a toolchain.
 */
export function buildFsyncShim(): FsyncShim | { skip: string } {
  const hash = createHash("sha256").update(SHIM_C).digest("hex").slice(0, 16);
  const out = join(tmpdir(), `shardict-fsync-shim-${hash}.so`);
  if (existsSync(out)) return { path: out };
  const dir = mkdtempSync(join(tmpdir(), "shardict-shim-"));
  try {
    writeFileSync(join(dir, "shim.c"), SHIM_C);
    try {
      execFileSync("cc", ["-shared", "-fPIC", "-O2", "-o", "shim.so", "shim.c", "-ldl"], { cwd: dir, stdio: "pipe" });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
      if (err.code === "ENOENT") return { skip: "no C compiler (cc) to build the LD_PRELOAD fault shim" };
      return { skip: `building the LD_PRELOAD fault shim failed: ${err.stderr?.toString() ?? err.message}` };
    }
    // Rename into place so a concurrent test worker never loads a half-written .so.
    renameSync(join(dir, "shim.so"), out);
    return { path: out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Environment for a child process that loads the shim. A fault is armed by creating the flag
 * file and disarmed by deleting it.
 *
 * `UV_USE_IO_URING=0`: libuv (1.45+) can run async fs requests (fs.write, fs.fdatasync, ...)
 * through io_uring, which submits them to the kernel directly and never calls the libc functions
 * the shim wraps, so faults would silently not fire. Checked on Node 20.20 (libuv 1.46): unset or
 * 0 means no io_uring and every fault fires; with UV_USE_IO_URING=1 async fs.fdatasync, fs.fsync
 * and fs.write succeed despite the flags (sync calls still fail). We pin 0 so an inherited
 * setting or a later default cannot turn it on.
 */
export function shimEnv(shim: FsyncShim, flags: { eioFlag?: string; enospcFlag?: string }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { LD_PRELOAD: shim.path, UV_USE_IO_URING: "0" };
  if (flags.eioFlag !== undefined) env[EIO_FLAG_ENV] = flags.eioFlag;
  if (flags.enospcFlag !== undefined) env[ENOSPC_FLAG_ENV] = flags.enospcFlag;
  return env;
}
