/**
 * The bounds of a stored value, checked where it is written and where it is read: the SDK
 * refuses at `put` what a reader could not decode, the shard refuses it too (a client
 * need not be our SDK), and every SDK decodes with the same rules (decode-limits.ts). So
 * a value a shard accepted is readable by every reader, and no value can make one balloon.
 */
import { RequestSizeError } from "../errors.js";
import { DecodeLimitError, ObjectBudget } from "../encoding/decode-budget.js";
import { scanMsgpack, type ScanResult } from "../encoding/msgpack-bounds.js";
import { VALUE_MAX_OBJECTS, VALUE_RULES } from "../encoding/decode-limits.js";

/**
 * Scan value bytes (see msgpack-bounds.ts); throws a {@link DecodeLimitError} for bytes no
 * reader decodes. `keys9` collects record keys of 9 bytes (for proto-keys.ts).
 */
export function scanValue(bytes: Uint8Array, keys9?: Set<string>): ScanResult {
  return scanMsgpack(bytes, VALUE_RULES, new ObjectBudget(VALUE_MAX_OBJECTS, "the value"), 0, bytes.length, keys9);
}

/** A value that is one msgpack string (the common value): nothing to scan. */
function isOneString(b: Uint8Array): boolean {
  const t = b[0];
  if (t === undefined) return false;
  if (t >= 0xa0 && t <= 0xbf) return b.length === 1 + (t & 0x1f);
  if (t === 0xd9) return b.length >= 2 && b.length === 2 + (b[1] as number);
  if (t === 0xda) return b.length >= 3 && b.length === 3 + (((b[1] as number) << 8) | (b[2] as number));
  return false;
}

/**
 * Refuse value bytes a reader could not decode within its bounds: too many objects is a
 * {@link RequestSizeError} (with the limit and the count so far), anything else (not
 * msgpack, nested too deep, an extension the codec never writes…) an `InvalidError`.
 */
export function checkValueBytes(bytes: Uint8Array): void {
  if (isOneString(bytes)) return;
  try {
    scanValue(bytes);
  } catch (err) {
    if (err instanceof DecodeLimitError && err.kind === "objects") {
      throw new RequestSizeError(`invalid value: ${err.message}`, err.limit ?? VALUE_MAX_OBJECTS, err.size ?? 0);
    }
    if (err instanceof DecodeLimitError) throw new DecodeLimitError(err.kind, `invalid value: ${err.message}`, err.limit, err.size);
    throw err;
  }
}
