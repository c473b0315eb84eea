/**
 * Proves the fault helpers do what fault tests rely on, against real node processes and real
 * file systems: the LD_PRELOAD shim really makes Node's fs.fdatasync/fsync fail with EIO and its
 * file writes fail with ENOSPC (sync and async, switched on and off while the process runs),
 * and a write to an O_DSYNC descriptor (how LMDB writes its meta page) fail with EIO, without
 * breaking pipes and sockets; a small tmpfs really fills up; flipBit flips one bit.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendZeros, flipBit, randomOffset, truncateTo, zeroFill } from "./helpers/bit-flip.js";
import { buildFsyncShim, shimEnv, type FsyncShim } from "./helpers/fsync-shim.js";
import { fillDisk, freeBytes, mountTmpfs, type Tmpfs } from "./helpers/tmpfs.js";

/**
 * Child script: each round runs every write and sync entry point Node has (each maps to a
 * different libc call: write, pwrite64, writev, pwritev64, fdatasync, fsync; sync and through
 * the libuv thread pool), plus a loopback socket and stdout, and prints the error codes as one
 * JSON line. Between rounds it waits for a line on stdin, so the parent can toggle flag files.
 */
const PROBE = String.raw`
const fs = require("node:fs");
const net = require("node:net");
const fd = fs.openSync(process.env.FAULT_PROBE_FILE, "w+");
const { O_WRONLY, O_CREAT, O_DSYNC } = fs.constants;
const dsyncFd = fs.openSync(process.env.FAULT_PROBE_FILE + ".dsync", O_WRONLY | O_CREAT | O_DSYNC);
const rounds = Number(process.env.FAULT_PROBE_ROUNDS);
const b = (s) => Buffer.from(s);
const code = (e) => (e ? e.code || String(e) : "ok");
function sync(fn) { try { fn(); return "ok"; } catch (e) { return code(e); } }
const cb = (fn) => new Promise((res) => fn((e) => res(code(e))));
function socket() {
  return new Promise((res) => {
    const server = net.createServer((s) => s.pipe(s)).listen(0, "127.0.0.1", () => {
      const c = net.connect(server.address().port, "127.0.0.1", () => c.write("ping"));
      c.on("data", (d) => { c.destroy(); server.close(); res(d.toString() === "ping" ? "ok" : "bad echo"); });
      c.on("error", (e) => { server.close(); res(code(e)); });
    });
  });
}
async function round() {
  return {
    writeSync: sync(() => fs.writeSync(fd, b("abc"))),
    writeSyncAt: sync(() => fs.writeSync(fd, b("abc"), 0, 3, 0)),
    writevSync: sync(() => fs.writevSync(fd, [b("a"), b("b")])),
    writevSyncAt: sync(() => fs.writevSync(fd, [b("a"), b("b")], 0)),
    write: await cb((k) => fs.write(fd, b("abc"), 0, 3, null, k)),
    writeAt: await cb((k) => fs.write(fd, b("abc"), 0, 3, 0, k)),
    dsyncWrite: sync(() => fs.writeSync(dsyncFd, b("abc"), 0, 3, 0)),
    fdatasyncSync: sync(() => fs.fdatasyncSync(fd)),
    fsyncSync: sync(() => fs.fsyncSync(fd)),
    fdatasync: await cb((k) => fs.fdatasync(fd, k)),
    fsync: await cb((k) => fs.fsync(fd, k)),
    socket: await socket(),
    stdout: await cb((k) => process.stdout.write("# stdout still works\n", k)),
  };
}
(async () => {
  const lines = require("node:readline").createInterface({ input: process.stdin });
  const next = lines[Symbol.asyncIterator]();
  for (let i = 0; i < rounds; i++) {
    if (i > 0) await next.next();
    process.stdout.write(JSON.stringify(await round()) + "\n");
  }
  lines.close();
})();
`;

type Round = Record<"writeSync" | "writeSyncAt" | "writevSync" | "writevSyncAt" | "write" | "writeAt" | "dsyncWrite" | "fdatasyncSync" | "fsyncSync" | "fdatasync" | "fsync" | "socket" | "stdout", string>;
const WRITES = ["writeSync", "writeSyncAt", "writevSync", "writevSyncAt", "write", "writeAt"] as const;
const SYNCS = ["fdatasyncSync", "fsyncSync", "fdatasync", "fsync"] as const;

function allOk(): Round {
  return Object.fromEntries([...WRITES, ...SYNCS, "dsyncWrite", "socket", "stdout"].map((k) => [k, "ok"])) as Round;
}

/** Starts the probe under the shim; `next()` resumes it (after the first round) and returns the round's result. */
function startProbe(env: NodeJS.ProcessEnv, file: string, rounds: number) {
  const child = spawn(process.execPath, ["-e", PROBE], {
    env: { ...process.env, ...env, FAULT_PROBE_FILE: file, FAULT_PROBE_ROUNDS: String(rounds) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((res) => child.once("exit", (c) => res(c)));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let started = 0;
  return {
    async next(): Promise<Round> {
      if (started++ > 0) child.stdin.write("go\n");
      for (;;) {
        const line = await lines.next();
        if (line.done) throw new Error(`probe ended early (exit ${await exited}): ${stderr}`);
        if (!line.value.startsWith("#")) return JSON.parse(line.value) as Round;
      }
    },
    async exit(): Promise<number | null> {
      child.stdin.end();
      return exited;
    },
  };
}

const shimResult = buildFsyncShim();
if ("skip" in shimResult) console.warn(`[faults] skipping LD_PRELOAD shim tests: ${shimResult.skip}`);

describe.skipIf("skip" in shimResult)("LD_PRELOAD fsync/write fault shim", () => {
  const shim = shimResult as FsyncShim;
  let dir = "";
  let eioFlag = "";
  let enospcFlag = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "shardict-faults-"));
    eioFlag = join(dir, "eio.flag");
    enospcFlag = join(dir, "enospc.flag");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = () => shimEnv(shim, { eioFlag, enospcFlag });

  it("lets every call through while no flag file exists", async () => {
    const p = startProbe(env(), join(dir, "none.log"), 1);
    expect(await p.next()).toEqual(allOk());
    expect(await p.exit()).toBe(0);
  });

  it("fails fdatasync and fsync, sync and async, and writes to an O_DSYNC file, with EIO while the EIO flag exists", async () => {
    writeFileSync(eioFlag, "");
    try {
      const p = startProbe(env(), join(dir, "eio.log"), 1);
      const r = await p.next();
      expect(await p.exit()).toBe(0);
      for (const k of SYNCS) expect(r[k], k).toBe("EIO");
      expect(r.dsyncWrite).toBe("EIO");
      for (const k of WRITES) expect(r[k], k).toBe("ok");
      expect(r.stdout).toBe("ok");
    } finally {
      unlinkSync(eioFlag);
    }
  });

  it("fails file writes with ENOSPC while the ENOSPC flag exists, but not pipes or sockets", async () => {
    writeFileSync(enospcFlag, "");
    try {
      const p = startProbe(env(), join(dir, "enospc.log"), 1);
      const r = await p.next();
      expect(await p.exit()).toBe(0);
      for (const k of WRITES) expect(r[k], k).toBe("ENOSPC");
      expect(r.dsyncWrite).toBe("ENOSPC");
      for (const k of SYNCS) expect(r[k], k).toBe("ok");
      expect(r.socket).toBe("ok");
      expect(r.stdout).toBe("ok");
    } finally {
      unlinkSync(enospcFlag);
    }
  });

  it("checks the flag on every call, so a fault can be switched on and off in a running process", async () => {
    const p = startProbe(env(), join(dir, "toggle.log"), 3);
    expect(await p.next()).toEqual(allOk());
    writeFileSync(eioFlag, "");
    writeFileSync(enospcFlag, "");
    const faulty = await p.next();
    unlinkSync(eioFlag);
    unlinkSync(enospcFlag);
    for (const k of SYNCS) expect(faulty[k], k).toBe("EIO");
    for (const k of WRITES) expect(faulty[k], k).toBe("ENOSPC");
    expect(faulty.dsyncWrite).toBe("ENOSPC");
    expect(await p.next()).toEqual(allOk());
    expect(await p.exit()).toBe(0);
  });

  it("reuses the compiled shim", () => {
    expect(buildFsyncShim()).toEqual({ path: shim.path });
  });
});

const tmpfsResult = mountTmpfs(1 << 20);
if ("skip" in tmpfsResult) console.warn(`[faults] skipping tmpfs tests: ${tmpfsResult.skip}`);

describe.skipIf("skip" in tmpfsResult)("1 MiB tmpfs", () => {
  const fsys = tmpfsResult as Tmpfs;
  afterAll(() => fsys.unmount());

  it("refuses a 2 MiB write with ENOSPC, and has the space back once the file is deleted", () => {
    const before = freeBytes(fsys.path);
    expect(before).toBeGreaterThan(900 * 1024);
    expect(before).toBeLessThanOrEqual(1 << 20);
    const file = join(fsys.path, "big");
    expect(() => writeFileSync(file, Buffer.alloc(2 << 20))).toThrow(expect.objectContaining({ code: "ENOSPC" }));
    expect(freeBytes(fsys.path)).toBeLessThan(4096 * 2);
    unlinkSync(file);
    expect(freeBytes(fsys.path)).toBe(before);
  });

  it("fillDisk leaves about the asked-for space, and release() gives the rest back", () => {
    const before = freeBytes(fsys.path);
    const fill = fillDisk(fsys.path, 64 * 1024);
    const left = freeBytes(fsys.path);
    expect(left).toBeGreaterThanOrEqual(64 * 1024 - 4096);
    expect(left).toBeLessThanOrEqual(64 * 1024 + 4096);
    expect(() => writeFileSync(join(fsys.path, "x"), Buffer.alloc(128 * 1024))).toThrow(expect.objectContaining({ code: "ENOSPC" }));
    unlinkSync(join(fsys.path, "x"));
    fill.release();
    expect(freeBytes(fsys.path)).toBe(before);
  });

  it("unmount() is idempotent", () => {
    const other = mountTmpfs(64 * 1024);
    if ("skip" in other) throw new Error(other.skip);
    other.unmount();
    expect(() => other.unmount()).not.toThrow();
  });
});

describe("corruption helpers", () => {
  let dir = "";
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "shardict-bitflip-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("flipBit flips exactly one bit, and flipping it again restores the file", () => {
    const file = join(dir, "data");
    const original = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    writeFileSync(file, original);
    const offset = randomOffset(42, original.length);
    const { before, after } = flipBit(file, offset, 5);
    expect(before ^ after).toBe(1 << 5);
    const changed = readFileSync(file);
    let bitsDiffering = 0;
    for (let i = 0; i < original.length; i++) {
      let x = (original[i] ?? 0) ^ (changed[i] ?? 0);
      for (; x; x &= x - 1) bitsDiffering++;
    }
    expect(bitsDiffering).toBe(1);
    expect((changed[offset] ?? 0) ^ (original[offset] ?? 0)).toBe(1 << 5);
    flipBit(file, offset, 5);
    expect(readFileSync(file)).toEqual(original);
    expect(() => flipBit(file, original.length, 0)).toThrow(RangeError);
    expect(() => flipBit(file, 0, 8)).toThrow(RangeError);
  });

  it("zeroFill, appendZeros and truncateTo change only what they name", () => {
    const file = join(dir, "log");
    writeFileSync(file, Buffer.alloc(16, 0xff));
    zeroFill(file, 4, 4);
    appendZeros(file, 3);
    expect([...readFileSync(file)]).toEqual([...Array(4).fill(0xff), 0, 0, 0, 0, ...Array(8).fill(0xff), 0, 0, 0]);
    truncateTo(file, 6);
    expect([...readFileSync(file)]).toEqual([0xff, 0xff, 0xff, 0xff, 0, 0]);
  });

  it("randomOffset is deterministic per seed and in range", () => {
    expect(randomOffset(7, 1000)).toBe(randomOffset(7, 1000));
    const offsets = Array.from({ length: 200 }, (_, s) => randomOffset(s, 10));
    expect(offsets.every((o) => o >= 0 && o < 10)).toBe(true);
    expect(new Set(offsets).size).toBe(10);
  });
});
