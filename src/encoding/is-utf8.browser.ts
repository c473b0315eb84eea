/**
 * The browser's stand-in for is-utf8.ts (scripts/build-browser.ts swaps it in): a fatal
 * TextDecoder throws on the first invalid sequence. It builds the string it then drops,
 * which Node's check avoids; a browser decodes one page's values, not a node's traffic.
 */
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
