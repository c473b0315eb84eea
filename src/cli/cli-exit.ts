/**
 * What a data command's failure exits with: 1 when what was named is not there (a missing
 * key, an unknown dict, one that already exists), 2 for usage (bad arguments, values or
 * keys that cannot be stored), 3 when the cluster could not be reached or refused us.
 */
import { AlreadyExistsError, AuthError, ConnectionError, IndeterminateError, InvalidError, KeyError, NotFoundError, RequestSizeError } from "../errors.js";

export const EXIT_OK = 0;
export const EXIT_NOT_FOUND = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECTION = 3;
/** A destructive command the user did not confirm: nothing was changed. */
export const EXIT_DECLINED = 1;

/** A usage problem found by the command itself (an argument missing, a bad flag value). */
export class UsageError extends Error {}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof InvalidError || err instanceof RequestSizeError) return EXIT_USAGE;
  // parseArgs: an unknown option, a missing value, a stray argument.
  const code: unknown = err instanceof TypeError ? (err as unknown as { code?: unknown }).code : undefined;
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) return EXIT_USAGE;
  if (err instanceof KeyError || err instanceof NotFoundError || err instanceof AlreadyExistsError) return EXIT_NOT_FOUND;
  if (err instanceof ConnectionError || err instanceof AuthError || err instanceof IndeterminateError) return EXIT_CONNECTION;
  return EXIT_NOT_FOUND;
}
