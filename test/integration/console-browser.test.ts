/**
 * The web console in a real headless browser (Debian's chromium through puppeteer-core)
 * against a real 3-shard cluster: the page loads without a console error, shows the three
 * shards alive, its charts draw, the dict browser shows an entry the test wrote (reached by
 * clicking through the page), and a killed shard shows as no longer alive within 2 s.
 * On failure a screenshot is saved under test/artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "puppeteer-core";
import { Dict } from "../../src/index.js";
import { launchChromium, screenshotOnFailure } from "../helpers/chromium.js";
import { startTestCluster, type TestCluster } from "../helpers/test-cluster.js";

const SHARDS = ["shard-1", "shard-2", "shard-3"];
const TOKEN = "console-browser-token";

let browser: Browser | undefined;
beforeAll(async () => {
  delete process.env.SHARDICT_TOKEN;
  // chromium may have to be installed first (apt-get): that can take minutes.
  browser = await launchChromium();
}, 600_000);
afterAll(async () => {
  await browser?.close();
});

/** A new tab, and the console errors and uncaught exceptions it will have. */
async function newPage(): Promise<{ page: Page; errors: string[] }> {
  if (!browser) throw new Error("no browser");
  const page = await browser.newPage();
  const errors: string[] = [];
  await page.setViewport({ width: 1280, height: 1000 });
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
  return { page, errors };
}

describe("the web console in a browser", () => {
  let tc: TestCluster;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    tc = await startTestCluster({ shards: 3, replicationFactor: 2 });
    ({ page, errors } = await newPage());
  });
  afterAll(async () => {
    await page?.close();
    await tc?.stop();
  });

  it("loads, and shows the three shards alive and the cluster's load", async () => {
    await screenshotOnFailure(page, "console-loads", async () => {
      const res = await page.goto(`${tc.url.replace(/^ws:/, "http:")}/`, { waitUntil: "load" });
      expect(res?.status()).toBe(200);
      expect(res?.headers()["content-type"]).toBe("text/html; charset=utf-8");
      // (Page functions are given as source: this project's TypeScript has no DOM types.)
      await page.waitForFunction(`${JSON.stringify(SHARDS)}.every((id) => document.querySelector(\`#shards tr[data-shard="\${id}"] .health\`)?.textContent === "alive")`, {
        timeout: 15_000,
        polling: 100,
      });
      const rows = await page.$$eval("#shards tbody tr", (trs) => trs.map((tr) => [tr.getAttribute("data-shard"), tr.querySelector(".health")?.textContent]));
      expect(rows).toEqual(SHARDS.map((id) => [id, "alive"]));
      expect(await page.$eval("#live", (e) => e.textContent)).toBe("live");
      // The partition map is drawn, and both charts appear once two seconds are sampled.
      expect(await page.$eval("#pmap-legend", (e) => e.textContent)).toContain("shard-3");
      await page.waitForSelector("#chart-ops .uplot", { timeout: 15_000 });
      await page.waitForSelector("#chart-latency .uplot", { timeout: 15_000 });
      expect(errors).toEqual([]);
    });
  });

  it("shows an entry the test wrote, found by clicking through the dict browser", async () => {
    await screenshotOnFailure(page, "console-dict-browser", async () => {
      const client = await tc.client();
      const d = Dict.fromName("browser-test", { createIfMissing: true, client });
      await d.put("greeting", { text: "hello from the test", at: new Date("2026-05-04T03:02:01.000Z"), n: 7n });
      // The dict list was read when the page loaded: choosing the environment reads it again.
      await page.select("#env", "main");
      const link = await page.waitForSelector('#dict-list a[data-dict-name="browser-test"]', { timeout: 10_000 });
      await link?.click();
      const row = '#entries tr[data-key="\\"greeting\\""]';
      await page.waitForSelector(row, { timeout: 10_000 });
      const [key, value, type] = await page.$eval(row, (tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? ""));
      expect(key).toBe("greeting");
      expect(value).toContain('"text":"hello from the test"');
      expect(value).toContain('{"$date":"2026-05-04T03:02:01.000Z"}');
      expect(value).toContain('{"$bigint":"7"}');
      expect(type).toBe("object");
      expect(await page.$eval("#dict-info", (e) => e.textContent)).toContain("1 entry");
      // Clicking the key looks it up.
      await page.click(`${row} td.key a`);
      await page.waitForSelector('#lookup-result [data-found="true"]', { timeout: 10_000 });
      expect(await page.$eval("#lookup-result pre", (e) => e.textContent)).toContain('"hello from the test"');
      // The hot keys (a shard samples one key request in 8): the most read is the one entry.
      await Promise.all(Array.from({ length: 64 }, () => d.get("greeting")));
      await page.click("#hot summary");
      await page.waitForSelector("#hot-body table", { timeout: 10_000 });
      const hot = await page.$eval("#hot-body", (e) => e.textContent ?? "");
      expect(hot).toMatch(/most read.*greeting/);
      expect(hot).not.toMatch(/null|undefined/);
      expect(errors).toEqual([]);
    });
  });

  it("shows a killed shard as no longer alive within 2 s", async () => {
    await screenshotOnFailure(page, "console-killed-shard", async () => {
      const started = Date.now();
      await tc.cluster.kill("shard-2", "SIGKILL");
      await page.waitForFunction(`["suspect", "dead"].includes(document.querySelector('#shards tr[data-shard="shard-2"] .health')?.textContent)`, {
        timeout: 2_000,
        polling: 50,
      });
      const took = Date.now() - started;
      expect(took).toBeLessThan(2_000);
      const rows = await page.$$eval("#shards tbody tr", (trs) => trs.map((tr) => [tr.getAttribute("data-shard"), tr.querySelector(".health")?.textContent]));
      expect(rows.filter(([id]) => id !== "shard-2")).toEqual([
        ["shard-1", "alive"],
        ["shard-3", "alive"],
      ]);
      expect(errors).toEqual([]);
    });
  });
});

describe("the web console of a cluster with client tokens, in a browser", () => {
  let tc: TestCluster;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    tc = await startTestCluster({ shards: 1, clientTokens: [TOKEN] });
    ({ page, errors } = await newPage());
  });
  afterAll(async () => {
    await page?.close();
    await tc?.stop();
  });

  it("asks for a token, refuses a wrong one, and shows the cluster with the right one", async () => {
    await screenshotOnFailure(page, "console-token", async () => {
      const client = await tc.client({ token: TOKEN });
      await Dict.fromName("token-dict", { createIfMissing: true, client }).put("k", "v");
      await page.goto(`${tc.url.replace(/^ws:/, "http:")}/`, { waitUntil: "load" });
      await page.waitForSelector("#token-form:not([hidden])", { timeout: 10_000 });
      expect(await page.$eval("#live", (e) => e.textContent)).toBe("token needed");
      expect(await page.$$eval("#shards tbody tr", (trs) => trs.length)).toBe(0);

      await page.type("#token", "not-the-token");
      await page.click("#token-form button");
      await page.waitForFunction(`document.getElementById("token-note")?.textContent === "unknown client token"`, { timeout: 10_000, polling: 50 });
      await page.type("#token", TOKEN);
      await page.click("#token-form button");
      await page.waitForSelector('#shards tr[data-shard="shard-1"][data-health="alive"]', { timeout: 10_000 });
      await page.waitForSelector('#dict-list a[data-dict-name="token-dict"]', { timeout: 10_000 });
      expect(await page.$eval("#token-form", (e) => e.hasAttribute("hidden"))).toBe(true);
      // The refused token's requests are the only errors the browser reports.
      expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    });
  });
});
