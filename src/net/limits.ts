/**
 * Size limits shared by every node and the SDK. One entry (key + value) may use up to
 * `maxEntryBytes`; a WebSocket message carries one such entry plus framing, or a batch of
 * smaller frames (batches are flushed at 256 KiB), so the payload limit leaves room for both.
 */
export function frameLimit(maxEntryBytes: number): number {
  return maxEntryBytes + 8 * 1024 * 1024;
}

/** Scan pages stop growing past this many bytes of keys and values. */
export const SCAN_PAGE_BYTES = 4 * 1024 * 1024;
