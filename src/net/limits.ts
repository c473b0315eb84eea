/**
 * Size limits shared by every node and the SDK. One entry (key + value) may use up to
 * `maxEntryBytes`; a WebSocket message carries one such entry plus framing, or a batch of
 * smaller frames (batches are flushed at 256 KiB), so the payload limit leaves room for both.
 */
export function frameLimit(maxEntryBytes: number): number {
  return maxEntryBytes + 8 * 1024 * 1024;
}

/**
 * The coordinator's payload limit (or the shards', if that is smaller): no value ever travels to it, and its largest inbound
 * message, a heartbeat listing every move of a shard at the most partitions with the longest
 * ids (65,536 × about 160 bytes), is about 10 MiB. A larger message is refused as its frame
 * header arrives, before any of it is buffered.
 */
export const COORDINATOR_MAX_PAYLOAD = 16 * 1024 * 1024;

/** Scan pages stop growing past this many bytes of keys and values. */
export const SCAN_PAGE_BYTES = 4 * 1024 * 1024;

/**
 * Frames our own peers put in one message at most (a batch is flushed at this count, or at
 * its bytes): every node accepts at least this many (`maxFramesPerMessage` cannot be lower).
 */
export const FRAMES_PER_MESSAGE_SENT = 1024;

/** Frames any message may carry, whatever the config says (the decoder's own cap). */
export { MAX_BATCH as MAX_FRAMES_PER_MESSAGE } from "../encoding/decode-limits.js";
