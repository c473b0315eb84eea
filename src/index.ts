/**
 * shardict: a distributed dictionary for TypeScript programs.
 *
 * @example
 * ```ts
 * import { Dict } from "shardict";
 * const d = Dict.fromName("my-dict", { createIfMissing: true });
 * await d.put("hello", "world");
 * console.log(await d.get("hello"));
 * ```
 */
export { Dict } from "./client/dict.js";
export type { DictInfo, FromNameOptions, ClientOption, EphemeralOptions, PutOptions, DeleteOptions, UpdateOptions } from "./client/dict.js";
export type { DictEntry } from "./client/dict-coordination.js";
export type { ModifyOptions } from "./client/dict-modify.js";
export type { Lock, LockOptions } from "./client/dict-lock.js";
export type { WatchEvent, WatchEventType, WatchOptions } from "./client/watch/watch-events.js";
export { connect } from "./client/client.js";
export type { Client, ConnectOptions } from "./client/client.js";
export type { DictKey } from "./protocol/keys.js";
export {
  DictError,
  KeyError,
  NotFoundError,
  AlreadyExistsError,
  InvalidError,
  RequestSizeError,
  DeserializationError,
  ConnectionError,
  AuthError,
  IndeterminateError,
  StorageFullError,
  ConflictError,
  LockTimeoutError,
  RateLimitError,
} from "./errors.js";
