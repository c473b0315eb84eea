/**
 * The data path's requests as a shard sees them: which partitions one touches, whether it
 * is answered once per request id, and how many bytes it may write to the log (reserved
 * before it runs).
 */
import { DataOps, type FrameOf, type RequestFrame } from "../protocol/frames.js";

export type DataFrame = FrameOf<
  "get" | "contains" | "pop" | "del" | "put" | "update" | "updateParts" | "clear" | "len" | "scan" | "getEntry" | "putEntry" | "delEntry" | "incr" | "touch" | "awaitChange" | "exportPage" | "watch"
>;

/** The partitions a request touches. */
export function partsOf(frame: DataFrame): readonly number[] {
  if ("part" in frame) return [frame.part];
  if (frame.type === "updateParts" || frame.type === "watch") return frame.parts.map((g) => g.part);
  return frame.parts;
}

type OnceFrame = FrameOf<"put" | "pop" | "del" | "update" | "putEntry" | "delEntry" | "incr">;

/** Room a mutation's record may take beyond its key and value (framing, its retry answer). */
const RECORD_OVERHEAD = 192;

/**
 * An upper bound of the bytes a request writes to the log (0 for reads, which write only
 * coarse deadlines and use the engine's margin for them).
 */
export function writeBytes(frame: DataFrame): number {
  const dict = frame.dict.length;
  switch (frame.type) {
    case "put":
    case "putEntry":
      return frame.key.byteLength + frame.value.byteLength + dict + RECORD_OVERHEAD;
    case "incr":
      // The new value and its answer; a sum is at most a byte longer than its longer term
      // (the stored one's size is added by the caller, who can see it).
      return frame.key.byteLength + 2 * (frame.delta.byteLength + 16) + dict + RECORD_OVERHEAD;
    case "pop":
    case "del":
    case "delEntry":
      return frame.key.byteLength + dict + RECORD_OVERHEAD;
    case "update": {
      let n = RECORD_OVERHEAD;
      for (let i = 0; i < frame.keys.length; i++) n += (frame.keys[i]?.byteLength ?? 0) + (frame.values[i]?.byteLength ?? 0) + dict + 40;
      return n;
    }
    case "updateParts": {
      let n = 0;
      for (const g of frame.parts) {
        n += RECORD_OVERHEAD;
        for (let i = 0; i < g.keys.length; i++) n += (g.keys[i]?.byteLength ?? 0) + (g.values[i]?.byteLength ?? 0) + dict + 40;
      }
      return n;
    }
    case "clear":
      return frame.parts.length * (dict + 64);
    default:
      return 0;
  }
}

/** Writes: run once per request id. */
export function isOnce(frame: DataFrame): frame is OnceFrame {
  switch (frame.type) {
    case "pop":
    case "del":
    case "put":
    case "update":
    case "putEntry":
    case "delEntry":
    case "incr":
      return true;
    default:
      return false;
  }
}

export function isDataFrame(frame: RequestFrame): frame is DataFrame {
  return DataOps.has(frame.type);
}

/**
 * Versioned writes may decide on writes not yet acknowledged (a counter adds to the last
 * increment before it is durable) instead of waiting for them: a partition's mutations reach
 * its log and its replicas in order, so this write is durable, and answered, only once
 * everything it saw is; if what it saw is lost (a crash, a failover), it is lost too and was
 * never answered. A failed condition is answered after a commit of its own (its answer is
 * recorded), so it waits for the same prefix. This is what lets a hot counter or a contended
 * compare-and-set share commits instead of taking one fsync per request.
 */
export function decidesInOrder(frame: DataFrame): boolean {
  return frame.type === "incr" || frame.type === "putEntry" || frame.type === "delEntry";
}
