/**
 * A promise with its resolve and reject at hand, for a result that something else settles
 * later (a log round's commit, a replication frame's acknowledgement).
 *
 * @example
 * const round = new Deferred();
 * queue.push(work);
 * // …once written and synced:
 * round.resolve();
 */
export class Deferred<T = void> {
  readonly promise: Promise<T>;
  /** The promise's own resolving functions: callable unbound. */
  resolve!: (value: T) => void;
  reject!: (err: unknown) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}
