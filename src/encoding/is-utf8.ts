/**
 * Whether bytes are valid UTF-8. Node's own check (native, no string made) on the hot path
 * of keys and values; the browser bundle swaps this file for is-utf8.browser.ts at build
 * time (scripts/build-browser.ts), so Node pays nothing for the seam.
 */
export { isUtf8 } from "node:buffer";
