/**
 * What `Dict.watch` yields, and the cursors its events carry.
 *
 * A watcher's position is one number per partition it watches (the partition's change
 * sequence, see change-history.ts). An event's cursor is that whole set of positions just
 * after the event, as an opaque string; it is built only when read (most consumers never
 * read most cursors), from a copy of the positions shared by many events plus the moves
 * made since the copy.
 */
import { pack, unpack } from "msgpackr";
import { InvalidError } from "../../errors.js";
import type { DictKey } from "../../protocol/keys.js";

export type WatchEventType = "put" | "delete" | "expire" | "clear" | "synced" | "reset";

/**
 * One event of a watch. `put`: the entry's new value and version (as `getEntry` shows it);
 * `delete`: removed by a client (`delete`, `pop`); `expire`: removed by idle expiry;
 * `clear`: the whole dict was cleared (no key); `synced`: the `initial` snapshot is complete;
 * `reset`: changes were missed (the history needed to resume is gone): rebuild what you
 * derived from the stream (with `initial`, a fresh snapshot and `synced` follow).
 */
export interface WatchEvent<V = unknown> {
  type: WatchEventType;
  key?: DictKey;
  value?: V;
  /** Opaque, as `getEntry` shows versions; a removal's or clear's own number. */
  version?: string;
  /** Resume after this event: `watch({ after: cursor })`, from any process. */
  cursor: string;
}

/** Options of `Dict.watch`. */
export interface WatchOptions {
  /** Watch one key. */
  key?: DictKey;
  /** Watch these keys. */
  keys?: DictKey[];
  /** Watch string keys that start with this. */
  prefix?: string;
  /** First yield every current matching entry as a `put`, then `synced`. */
  initial?: boolean;
  /** Resume after this cursor (from an earlier event of a watch of the same dict). */
  after?: string;
  /** Ends the stream when aborted. */
  signal?: AbortSignal;
  /**
   * Events held for a consumer that does not keep up (default 10,000). Once full, the SDK
   * stops asking the cluster until the consumer catches up; if the history moved past its
   * position meanwhile, it gets a `reset`. Memory stays bounded on both sides.
   */
  maxBuffered?: number;
}

const CURSOR_VERSION = 1;
/** Moves recorded against one copy of the positions before a fresh copy is made. */
const MOVES_PER_COPY = 512;

/** A copy of the positions, and the moves made after it (pairs of index, position). */
class PositionsCopy {
  readonly moves: number[] = [];
  constructor(readonly at: readonly number[]) {}
}

/** How a cursor is made when read: a copy and how many of its moves apply. */
export interface CursorRef {
  copy: PositionsCopy;
  n: number;
}

/** A watcher's delivered positions, per watched partition. */
export class Positions {
  private readonly index = new Map<number, number>();
  private readonly at: number[];
  private copy: PositionsCopy | undefined;

  constructor(
    readonly dict: string,
    readonly partitions: number,
    readonly parts: readonly number[],
    start: readonly number[],
  ) {
    parts.forEach((p, i) => this.index.set(p, i));
    this.at = [...start];
  }

  get(part: number): number {
    return this.at[this.index.get(part) as number] as number;
  }

  /** Move a partition's position (only ever forward) and return the cursor of that moment. */
  move(part: number, pos: number): CursorRef {
    const i = this.index.get(part) as number;
    if (pos > (this.at[i] as number)) {
      if (this.copy === undefined || this.copy.moves.length >= 2 * MOVES_PER_COPY) this.copy = new PositionsCopy([...this.at]);
      this.at[i] = pos;
      this.copy.moves.push(i, pos);
    }
    return this.now();
  }

  /** The cursor of the positions as they are. */
  now(): CursorRef {
    this.copy ??= new PositionsCopy([...this.at]);
    return { copy: this.copy, n: this.copy.moves.length };
  }

  /** Start over from other positions (a fresh snapshot). */
  replace(start: readonly number[]): void {
    start.forEach((v, i) => (this.at[i] = v));
    this.copy = undefined;
  }

  cursorOf(ref: CursorRef): string {
    const at = [...ref.copy.at];
    const m = ref.copy.moves;
    for (let j = 0; j < ref.n; j += 2) at[m[j] as number] = m[j + 1] as number;
    const all = this.parts.length === this.partitions;
    return Buffer.from(pack([CURSOR_VERSION, this.dict, this.partitions, all ? null : this.parts, at])).toString("base64url");
  }
}

/** A cursor read back: the positions it holds, by partition. */
export function parseCursor(cursor: unknown, dict: string, partitions: number): Map<number, number> {
  const bad = (why: string) => new InvalidError(`after must be a cursor from an event of a watch of this dict (${why})`);
  if (typeof cursor !== "string" || cursor.length === 0 || cursor.length > 1_000_000) throw bad("not a cursor string");
  let v: unknown;
  try {
    v = unpack(Buffer.from(cursor, "base64url"));
  } catch {
    throw bad("it does not decode");
  }
  if (!Array.isArray(v) || v.length !== 5 || v[0] !== CURSOR_VERSION) throw bad("unknown format");
  const [, d, n, parts, at] = v as [number, unknown, unknown, unknown, unknown];
  if (d !== dict) throw bad("it is of another dict");
  if (n !== partitions) throw bad("the cluster's partition count differs");
  const ps = parts === null ? Array.from({ length: partitions }, (_, i) => i) : parts;
  if (!Array.isArray(ps) || !Array.isArray(at) || ps.length !== at.length) throw bad("malformed");
  const out = new Map<number, number>();
  ps.forEach((p, i) => {
    const pos = at[i] as unknown;
    if (!Number.isInteger(p) || (p as number) < 0 || (p as number) >= partitions || !Number.isSafeInteger(pos) || (pos as number) < 0) throw bad("malformed");
    out.set(p as number, pos as number);
  });
  return out;
}

/** An event whose cursor is made when first read. */
export function makeEvent<V>(
  positions: Positions,
  ref: CursorRef,
  type: WatchEventType,
  fields: { key?: DictKey; value?: V; version?: string },
): WatchEvent<V> {
  const e = { type, ...fields } as WatchEvent<V>;
  let cursor: string | undefined;
  Object.defineProperty(e, "cursor", {
    enumerable: true,
    configurable: true,
    get: () => (cursor ??= positions.cursorOf(ref)),
  });
  return e;
}
