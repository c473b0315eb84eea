/**
 * Error classes of the public API and the wire codes they travel as.
 *
 * Every error a caller can see extends {@link DictError} and has a stable `.name`, so
 * programs can match on `err.name === "KeyError"` or `err instanceof KeyError` alike.
 *
 * @example
 * ```ts
 * try { await d.delete("missing") } catch (e) { if (e instanceof KeyError) { ... } }
 * ```
 */

/** Codes carried by error replies on the wire; one per error class, plus internal ones. */
export const WireCode = {
  KeyError: "KEY_ERROR",
  NotFound: "NOT_FOUND",
  AlreadyExists: "ALREADY_EXISTS",
  Invalid: "INVALID",
  RequestSize: "REQUEST_SIZE",
  Auth: "AUTH",
  /** The node does not own the partition at the request's epoch: refresh the table, retry. */
  WrongOwner: "WRONG_OWNER",
  /** The node cannot serve right now (booting, no table yet): retry later. */
  Unavailable: "UNAVAILABLE",
  /** The node's disk is full: the write was refused before anything changed. */
  StorageFull: "STORAGE_FULL",
  /** Over the token's requests per second on that node (retried with backoff). */
  RateLimited: "RATE_LIMITED",
  Internal: "INTERNAL",
} as const;
export type WireCode = (typeof WireCode)[keyof typeof WireCode];

/** Base class of every error raised by shardict. */
export class DictError extends Error {
  override name: string = "DictError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A key was missing where the operation requires it (`delete`, `pop` without default). */
export class KeyError extends DictError {
  override name = "KeyError" as const;
}

/** The dict (by name or id) does not exist, or was deleted. */
export class NotFoundError extends DictError {
  override name = "NotFoundError" as const;
}

/** `Dict.objects.create` of a name that is already taken (without `allowExisting`). */
export class AlreadyExistsError extends DictError {
  override name = "AlreadyExistsError" as const;
}

/** Bad input: an invalid name, id, key, option, or a malformed request. */
export class InvalidError extends DictError {
  override name = "InvalidError" as const;
}

/** An entry or request is larger than the cluster accepts. */
export class RequestSizeError extends DictError {
  override name = "RequestSizeError" as const;
  /** The limit in bytes. */
  readonly limit: number;
  /** The size in bytes of what was refused. */
  readonly size: number;
  constructor(message: string, limit: number, size: number) {
    super(message);
    this.limit = limit;
    this.size = size;
  }
}

/** A stored value could not be decoded by this process. */
export class DeserializationError extends DictError {
  override name = "DeserializationError" as const;
  readonly dict: string;
  readonly key: unknown;
  constructor(message: string, dict: string, key: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.dict = dict;
    this.key = key;
  }
}

/** The cluster could not be reached, or the connection was lost before a reply. */
export class ConnectionError extends DictError {
  override name = "ConnectionError" as const;
}

/**
 * A write whose outcome cannot be known: it was sent, the connection was lost, and retries
 * (with the same request id, which the shard deduplicates) did not get an answer within the
 * retry budget. It may or may not have taken effect; the SDK does not guess.
 */
export class IndeterminateError extends DictError {
  override name = "IndeterminateError" as const;
}

/**
 * A write was refused because the disk of the shard that owns its key is full. Nothing
 * changed; reads keep working, and writes are accepted again once space is freed (the
 * shard notices by itself). `node` and `folder` say where to make room.
 *
 * @example
 * ```ts
 * try { await d.put("k", big) } catch (e) { if (e instanceof StorageFullError) alert(`free space on ${e.node}: ${e.folder}`) }
 * ```
 */
export class StorageFullError extends DictError {
  override name = "StorageFullError" as const;
  /** The shard whose disk is full. */
  readonly node: string;
  /** Its data folder. */
  readonly folder: string;
  constructor(message: string, node: string, folder: string) {
    super(message);
    this.node = node;
    this.folder = folder;
  }
}

/**
 * A client token made more requests a second of a node than `maxRequestsPerSecondPerToken`
 * allows, for longer than the SDK's retry budget (it retries with backoff until then).
 */
export class RateLimitError extends DictError {
  override name = "RateLimitError" as const;
}

/** The connection was refused for a missing or wrong token. */
export class AuthError extends DictError {
  override name = "AuthError" as const;
}

/**
 * Internal: a retryable condition (wrong owner, node unavailable). The SDK retries these
 * and turns them into a {@link ConnectionError} only when its retry budget runs out.
 */
export class RetryableError extends DictError {
  override name = "RetryableError" as const;
  readonly code: WireCode;
  /**
   * The node had already applied the request when it failed this way (its replicas had not
   * all confirmed it when it stopped leading): a retry is still safe (answers are kept per
   * request id), but if none gets through its outcome is unknown, not "not applied".
   */
  readonly maybeApplied: boolean;
  constructor(code: WireCode, message: string, maybeApplied = false) {
    super(message);
    this.code = code;
    this.maybeApplied = maybeApplied;
  }
}

/** The same retryable failure, for a request this node had already applied. */
export function afterApply(err: unknown): unknown {
  return err instanceof RetryableError && !err.maybeApplied ? new RetryableError(err.code, err.message, true) : err;
}

/**
 * Internal: a node failed on a request after it arrived (wire code INTERNAL, or a code this
 * SDK does not know). Users see a {@link DictError}; the SDK's retry layer reads `code`.
 */
export class NodeFailure extends DictError {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

/**
 * A compare-and-set loop (`Dict.modify`) gave up: other writers changed the key on every
 * attempt. `current` is the entry as last read (null: absent), so a caller can decide.
 */
export class ConflictError extends DictError {
  override name: string = "ConflictError";
  readonly key: unknown;
  readonly attempts: number;
  readonly current: { value: unknown; version: string } | null;
  constructor(message: string, key: unknown, attempts: number, current: { value: unknown; version: string } | null) {
    super(message);
    this.key = key;
    this.attempts = attempts;
    this.current = current;
  }
}

/** `Dict.lock` could not take the lock within `waitMs`: another holder has it. */
export class LockTimeoutError extends ConflictError {
  override name = "LockTimeoutError" as const;
}

/** Map an error reply from the wire to the error class a caller sees. */
export function errorFromWire(code: string, message: string, data?: { limit?: number; size?: number; node?: string; folder?: string; maybeApplied?: boolean }): DictError {
  switch (code) {
    case WireCode.KeyError:
      return new KeyError(message);
    case WireCode.NotFound:
      return new NotFoundError(message);
    case WireCode.AlreadyExists:
      return new AlreadyExistsError(message);
    case WireCode.Invalid:
      return new InvalidError(message);
    case WireCode.RequestSize:
      return new RequestSizeError(message, data?.limit ?? 0, data?.size ?? 0);
    case WireCode.Auth:
      return new AuthError(message);
    case WireCode.StorageFull:
      return new StorageFullError(message, data?.node ?? "", data?.folder ?? "");
    case WireCode.WrongOwner:
    case WireCode.Unavailable:
    case WireCode.RateLimited:
      return new RetryableError(code, message, data?.maybeApplied === true);
    default:
      return new NodeFailure(code, message);
  }
}

/** Map an error thrown while handling a request to its wire code. */
export function wireCodeOf(err: unknown): WireCode {
  if (err instanceof RetryableError) return err.code;
  if (err instanceof KeyError) return WireCode.KeyError;
  if (err instanceof NotFoundError) return WireCode.NotFound;
  if (err instanceof AlreadyExistsError) return WireCode.AlreadyExists;
  if (err instanceof InvalidError) return WireCode.Invalid;
  if (err instanceof RequestSizeError) return WireCode.RequestSize;
  if (err instanceof AuthError) return WireCode.Auth;
  if (err instanceof StorageFullError) return WireCode.StorageFull;
  return WireCode.Internal;
}
