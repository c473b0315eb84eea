/** Poll `check` until it returns a truthy value (or stops throwing); fail after `timeoutMs`. */
export async function waitUntil<T>(check: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? "condition"}; last result: ${last instanceof Error ? last.message : String(last)}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/**
 * Retry `attempt` until it succeeds, as long as it fails with an error of class `expected`
 * (a refusal the test waits to end); any other error fails at once.
 */
export async function waitUntilAccepted(attempt: () => Promise<unknown>, expected: new (...args: never[]) => Error, opts: { timeoutMs?: number; what?: string } = {}): Promise<void> {
  await waitUntil(async () => {
    try {
      await attempt();
      return true;
    } catch (err) {
      if (err instanceof expected) return false;
      throw err;
    }
  }, opts);
}
