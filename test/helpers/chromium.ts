/**
 * A real headless browser for the web console's test: Debian's `chromium`, driven by
 * puppeteer-core (which downloads no browser). When it is not installed, it is installed
 * with apt-get (CI runs as root; `.ci/run` installs it first, so this is for a fresh
 * developer machine). If that is impossible the test fails and says what to do: it is never
 * skipped.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Where screenshots of failed browser tests go (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));

function onPath(name: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const path = r.stdout.trim();
  return r.status === 0 && path !== "" ? path : undefined;
}

function findChromium(): string | undefined {
  const given = process.env.SHARDICT_CHROMIUM;
  if (given !== undefined && given !== "") return given;
  return onPath("chromium") ?? onPath("chromium-browser");
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, timeout: 600_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

/** The path of Debian's chromium, installing it (apt-get, as root) when it is missing. */
export function chromiumPath(): string {
  const found = findChromium();
  if (found !== undefined) return found;
  const update = run("apt-get", ["update", "-qq"]);
  const install = update.ok ? run("apt-get", ["install", "-y", "-qq", "chromium"]) : update;
  const path = findChromium();
  if (path !== undefined) return path;
  throw new Error(
    `the web console's browser test needs Debian's chromium, and installing it failed (run as root: apt-get install -y chromium, or set SHARDICT_CHROMIUM to a Chrome/Chromium binary):\n${install.out.slice(-2000)}`,
  );
}

/** A headless chromium (no sandbox: CI runs as root). */
export async function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--no-default-browser-check"],
  });
}

/** Run `body`; if it throws, save a screenshot of `page` under test/artifacts/ first. */
export async function screenshotOnFailure<T>(page: Page, name: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    try {
      mkdirSync(ARTIFACTS, { recursive: true });
      const file = join(ARTIFACTS, `${name.replace(/[^A-Za-z0-9._-]+/g, "-")}.png`);
      await page.screenshot({ path: file as `${string}.png`, fullPage: true });
      (err as Error).message += `\n(screenshot: ${file})`;
    } catch {
      // The failure is what matters.
    }
    throw err;
  }
}
