/** Waiting between retries of one request. */

/**
 * Wait before retry number `attempt` (1-based): 20 ms doubling up to `maxMs`. The timer is
 * ref'd on purpose: a request waiting to retry must keep the program alive.
 */
export function backoff(attempt: number, maxMs = 500): Promise<void> {
  const ms = Math.min(20 * 2 ** Math.max(0, attempt - 1), maxMs);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
