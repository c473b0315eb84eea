/** The binary form's tags and fixed-field helpers, shared by its encoder and decoder (binary-frames.ts). */

export const BINARY_MESSAGE = 0xc1;

export const T_PACKED = 0;
export const T_GET = 1;
export const T_CONTAINS = 2;
export const T_POP = 3;
export const T_DEL = 4;
export const T_PUT = 5;
export const T_UPDATE_PARTS = 6;
// 7 was one partition's replication frame, replaced by T_REPL_BATCH: refused as unknown.
/** Replication: a count, then per partition its number, epoch and mutations as a log-record body (log-record.ts). */
export const T_REPL_BATCH = 8;
export const T_OK = 16;
export const T_OK_TRUE = 17;
export const T_OK_FALSE = 18;
export const T_OK_NULL = 19;
export const T_OK_BYTES = 20;
export const T_OK_NUMBER = 21;
export const T_OK_PAGE = 22;
export const NO_NEXT = 0xffffffff;

export const KEY_OPS = { get: T_GET, contains: T_CONTAINS, pop: T_POP, del: T_DEL } as const;
export const KEY_OP_NAMES = ["", "get", "contains", "pop", "del"] as const;

export type AnyFrame = Record<string, unknown> & { type: string };

export const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
export const isU16 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff;
export const isNum = (v: unknown): v is number => typeof v === "number";
