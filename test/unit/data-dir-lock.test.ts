/**
 * The data folder lock, with real processes. The child fixture imports the built module
 * (dist/), so running this file alone needs `npm run build` first; `npm test` builds.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DataDirLockedError, openDataDir } from "../../src/store/data-dir.js";
import { waitUntil } from "../helpers/wait.js";

const linux = process.platform === "linux";
const root = fileURLToPath(new URL("../../", import.meta.url));
const fixture = join(root, "test/fixtures/data-dir-locker.mjs");
const NODE = "shard-1";

let dataDir: string;
let lockPath: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "shardict-lock-"));
  lockPath = join(dataDir, NODE, "LOCK");
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

function writeLock(content: string): void {
  mkdirSync(join(dataDir, NODE), { recursive: true });
  writeFileSync(lockPath, content);
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

function assertBuilt(): void {
  const built = join(root, "dist/src/store/data-dir.js");
  const source = join(root, "src/store/data-dir.ts");
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs) {
    throw new Error(`${built} is missing or older than ${source}: run \`npm run build\` first`);
  }
}

interface Locker {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  exited: Promise<void>;
}

function startLocker(): Locker {
  const child = spawn(process.execPath, [fixture, dataDir, NODE]);
  const lines: string[] = [];
  let buf = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buf += chunk;
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    lines.push(...parts);
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve, reject) => {
    child.once("exit", (code, signal) => (code === 0 || signal === "SIGKILL" ? resolve() : reject(new Error(`locker exited ${code}: ${stderr}`))));
  });
  exited.catch(() => {}); // observed by the test that awaits it
  return { child, lines, exited };
}

/** Poll `check`, but fail at once if a child crashes instead of waiting out the timeout. */
function until(lockers: Locker[], check: () => unknown, what: string): Promise<unknown> {
  const crashed = lockers.map((l) => l.exited.then(() => new Promise<never>(() => {})));
  return Promise.race([waitUntil(check, { what, intervalMs: 10 }), ...crashed]);
}

/** The child's answer to the lock attempt, once it has given one. */
const answer = (l: Locker) => l.lines.find((s) => s === "held" || s === "locked");

describe("openDataDir", () => {
  it("refuses a second open while held, and allows it after release", async () => {
    const first = await openDataDir(dataDir, NODE);
    expect(readFileSync(lockPath, "utf8").trim()).toBe(String(process.pid));
    const second = openDataDir(dataDir, NODE);
    await expect(second).rejects.toThrow(DataDirLockedError);
    await expect(second).rejects.toThrow(`is in use by another running node (pid ${process.pid})`);
    first.release();
    first.release(); // idempotent
    expect(existsSync(lockPath)).toBe(false);
    const third = await openDataDir(dataDir, NODE);
    expect(third.path).toBe(join(dataDir, NODE));
    third.release();
  });

  it.each([
    ["empty", ""],
    ["garbage", "not a pid\n"],
    ["zero", "0\n"],
    ["dead pid", `${deadPid()}\n`],
  ])("is not blocked by a LOCK that is %s", async (_what, content) => {
    writeLock(content);
    const d = await openDataDir(dataDir, NODE);
    expect(readFileSync(lockPath, "utf8").trim()).toBe(String(process.pid));
    d.release();
  });

  it.runIf(linux).each([
    ["the parent's pid", process.ppid],
    ["pid 1", 1],
  ])("is not blocked by a LOCK naming a live process that holds no lock (%s)", async (_what, pid) => {
    writeLock(`${pid}\n`);
    const d = await openDataDir(dataDir, NODE);
    d.release();
  });
});

describe("openDataDir across processes", () => {
  beforeEach(assertBuilt);

  // The pid-file fallback used off Linux has a documented takeover race, so only Linux is held to this.
  it.runIf(linux)("lets exactly one of 8 simultaneous starts take a stale lock, 10 rounds running", async () => {
    for (let round = 0; round < 10; round++) {
      writeLock(`${deadPid()}\n`);
      const lockers = Array.from({ length: 8 }, startLocker);
      await until(lockers, () => lockers.every((l) => l.lines.includes("ready")), "children to load");
      for (const l of lockers) l.child.stdin.write("go\n");
      await until(lockers, () => lockers.every(answer), "every child to answer");
      const answers = lockers.map(answer);
      // The holder keeps the lock until now, so every other child tried while it was held.
      for (const l of lockers) l.child.stdin.end();
      await Promise.all(lockers.map((l) => l.exited));
      expect(answers.filter((a) => a === "held"), `round ${round}: ${answers.join(" ")}`).toHaveLength(1);
    }
  });

  it("is released by the kernel when the holder is killed with SIGKILL", async () => {
    const holder = startLocker();
    await until([holder], () => holder.lines.includes("ready"), "child to load");
    holder.child.stdin.write("go\n");
    await until([holder], () => answer(holder), "child to answer");
    expect(answer(holder)).toBe("held");
    await expect(openDataDir(dataDir, NODE)).rejects.toThrow(`(pid ${holder.child.pid})`);
    holder.child.kill("SIGKILL");
    await holder.exited;
    const d = await openDataDir(dataDir, NODE);
    d.release();
  });
});
