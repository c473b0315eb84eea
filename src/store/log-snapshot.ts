/**
 * Writing a snapshot: the live state to a temporary file, synced, then read back and checked
 * (every record, and the count in its trailer) before anyone may rename it into place. A short
 * write, a full disk or a crash leaves at worst a `.tmp` file.
 */
import { readFileSync, unlinkSync } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { join } from "node:path";
import { encodeRecord, encodeTrailer } from "../encoding/log-record.js";
import type { Mutation } from "./storage-engine.js";
import { fileHeader, KIND_SNAPSHOT, scanFile } from "./log-file.js";
import { segmentName, writeFully } from "./segment-space.js";

/**
 * Write snapshot `seq` of `source` (batches read lazily, one per event-loop turn) to a
 * checked temporary file in `dir`; `stopped` aborts it (the engine failed or closed).
 */
export async function writeSnapshotFile(dir: string, seq: number, source: () => Iterator<Mutation[]>, stopped: () => boolean): Promise<{ tmp: string; bytes: number }> {
  const tmp = join(dir, segmentName(seq, "tmp"));
  const out = await openFile(tmp, "w");
  let bytes = 0;
  let records = 0;
  try {
    try {
      const head = fileHeader(KIND_SNAPSHOT);
      await writeFully(out, head, 0);
      bytes = head.length;
      const chunks = source();
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        if (stopped()) throw new Error("storage closed during a snapshot");
        if (next.value.length === 0) continue;
        const buf = encodeRecord(next.value);
        await writeFully(out, buf, bytes);
        bytes += buf.length;
        records++;
        // One chunk per turn: requests go on meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const trailer = encodeTrailer(records);
      await writeFully(out, trailer, bytes);
      bytes += trailer.length;
      await out.datasync();
    } finally {
      await out.close();
    }
    const check = scanFile(readFileSync(tmp), segmentName(seq, "tmp"), KIND_SNAPSHOT, false);
    if (check.records !== records || check.end !== bytes) throw new Error(`snapshot ${tmp} reads back ${check.records} records in ${check.end} bytes, not ${records} in ${bytes}`);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  return { tmp, bytes };
}
