/**
 * What a bounded decoder throws, and the budget of objects it counts against: shared by
 * the msgpack scanner (msgpack-bounds.ts), the binary form (binary-frames.ts) and log
 * record bodies (log-record.ts), so that one message has one allowance however it is split.
 */
import { InvalidError } from "../errors.js";

/** What a refused message broke. */
export type LimitKind = "format" | "objects" | "batch" | "depth" | "map" | "ext" | "records";

/**
 * Bytes refused by a bounded decoder. An {@link InvalidError} (wire code INVALID); `limit`
 * and `size` say what was exceeded where a number was.
 */
export class DecodeLimitError extends InvalidError {
  readonly kind: LimitKind;
  readonly limit: number | undefined;
  readonly size: number | undefined;
  constructor(kind: LimitKind, message: string, limit?: number, size?: number) {
    super(message);
    this.kind = kind;
    this.limit = limit;
    this.size = size;
  }
}

/**
 * How many objects the decoding of one message may still allocate. Shared by every part
 * of the message (the frames of a batch, msgpack embedded in a binary message), so that
 * splitting a message into parts does not multiply the allowance.
 */
export class ObjectBudget {
  private used = 0;
  constructor(
    readonly limit: number,
    /** What the budget is for, to name it in the error ("a message", "a value"). */
    readonly what: string,
  ) {}

  /** Count `n` more objects; throws a {@link DecodeLimitError} (`objects`) past the limit. */
  take(n: number): void {
    this.used += n;
    if (this.used > this.limit) {
      throw new DecodeLimitError(
        "objects",
        `${this.what} holds more than ${this.limit} objects (maps, arrays, byte strings, extension values): too many to decode`,
        this.limit,
        this.used,
      );
    }
  }

  get spent(): number {
    return this.used;
  }
}
