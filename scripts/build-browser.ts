/**
 * Build the browser SDK (src/browser/index.ts) into one ES module, dist/browser/shardict.js
 * (`npm run build` runs this after tsc). Two swaps make the shared SDK code a browser's:
 *
 * - a file `X.ts` with a twin `X.browser.ts` beside it is bundled as the twin (a leaf
 *   helper Node implements natively, like is-utf8.ts), so Node pays nothing for the seam;
 * - `Buffer` and `setImmediate` are bound to src/browser/node-globals.ts (esbuild `inject`).
 *
 * The build fails if anything would still import a Node built-in or `ws` (the platform
 * "browser" cannot resolve the former; the latter is refused here by name).
 *
 * Usage: node dist/scripts/build-browser.js [--out <dir>]
 */
import { existsSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Metafile, type Plugin } from "esbuild";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository's root: this file runs from dist/scripts/ (npm run build), or from scripts/ (a test). */
const ROOT = basename(dirname(HERE)) === "dist" ? resolve(HERE, "../..") : resolve(HERE, "..");

const browserTwins: Plugin = {
  name: "browser-twins",
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      const twin = resolve(args.resolveDir, args.path.replace(/\.js$/, ".browser.ts"));
      return existsSync(twin) ? { path: twin } : undefined;
    });
    b.onResolve({ filter: /^(ws|node:.*)$/ }, (args) => ({
      errors: [{ text: `${args.path} is imported by ${relative(ROOT, args.importer)}: the browser bundle must not need it (give it a platform seam)` }],
    }));
  },
};

/** Build the bundle into `outDir`; returns the bundle's path, size and what went into it. */
export async function buildBrowser(outDir = join(ROOT, "dist/browser")): Promise<{ file: string; bytes: number; metafile: Metafile }> {
  const file = join(outDir, "shardict.js");
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [join(ROOT, "src/browser/index.ts")],
    outfile: file,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: true,
    metafile: true,
    legalComments: "eof",
    inject: [join(ROOT, "src/browser/node-globals.ts")],
    plugins: [browserTwins],
    logLevel: "warning",
  });
  const out = result.metafile.outputs[relative(ROOT, file)];
  return { file, bytes: out?.bytes ?? 0, metafile: result.metafile };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--out");
  const { file, bytes } = await buildBrowser(at > 0 ? resolve(process.argv[at + 1] ?? "") : undefined);
  console.log(`browser SDK: ${relative(process.cwd(), file)} (${(bytes / 1024).toFixed(0)} KiB)`);
}
