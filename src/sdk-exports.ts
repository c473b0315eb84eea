/**
 * What both SDK entry points export (`shardict` in Node, `shardict/browser`): the dict, its
 * types and the errors. Each entry adds its own `connect`.
 */
export { Dict } from "./client/dict.js";
export type { DictInfo, FromNameOptions, ClientOption, EphemeralOptions, PutOptions, DeleteOptions, UpdateOptions } from "./client/dict.js";
export type { DictEntry } from "./client/dict-coordination.js";
export type { ModifyOptions } from "./client/dict-modify.js";
export type { Lock, LockOptions } from "./client/dict-lock.js";
export type { WatchEvent, WatchEventType, WatchOptions } from "./client/watch/watch-events.js";
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
