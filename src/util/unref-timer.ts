/**
 * Let a timer not keep Node's process alive. A browser's timers are plain numbers with
 * nothing to unref (a page lives as long as it is open): the SDK's timers go through this,
 * so the same code runs in both.
 */
export function unrefTimer<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
