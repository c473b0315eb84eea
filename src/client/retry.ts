/**
 * The SDK's one retry loop. Every request goes through a {@link Retry}: it classifies each
 * failed attempt (answer / retry / retry-but-it-may-have-happened) by the request's policy
 * (request-policy.ts), backs off, and when the budget is spent fails with
 * {@link IndeterminateError} if any attempt may have taken effect, else {@link ConnectionError}.
 */
import { ConnectionError, DictError, IndeterminateError, NodeFailure, RateLimitError, RetryableError, WireCode } from "../errors.js";
import { mayApply, type RequestPolicy } from "../protocol/request-policy.js";
import { backoff } from "../util/backoff.js";

/** What a retry needs from the client: its budget, and whether it was closed. */
export interface RetryHost {
  readonly retryBudgetMs: number;
  readonly isClosed: boolean;
}

export interface RetryOptions {
  /** When the request started (its budget runs from then); default now. */
  started?: number;
  /** Called before each retry: a table refresh for data requests. */
  refresh?: () => Promise<void>;
}

/** The longest wait between two attempts. */
const MAX_BACKOFF_MS = 500;

export class Retry {
  /** Attempts made so far (the first is 1). */
  attempts = 0;
  private readonly deadline: number;
  private lastError: Error | undefined;
  /** Some attempt may have taken effect (sent, no answer; or a node said so). */
  private maybeApplied = false;

  private readonly refresh: (() => Promise<void>) | undefined;

  constructor(
    private readonly host: RetryHost,
    private readonly policy: RequestPolicy,
    private readonly what: string,
    opts: RetryOptions = {},
  ) {
    this.deadline = (opts.started ?? Date.now()) + host.retryBudgetMs;
    this.refresh = opts.refresh;
  }

  /**
   * A failed attempt (`sent`: it reached the wire). Throws what the caller must see, or
   * records the failure for another attempt.
   */
  failed(err: unknown, sent: boolean): void {
    if (err instanceof RetryableError) {
      // An explicit "not here, not now": nothing happened, unless the node says it might have.
      if (err.maybeApplied) this.maybeApplied = true;
    } else if (err instanceof ConnectionError) {
      if (sent && this.policy === "unsafe") throw err;
      if (sent && mayApply(this.policy)) this.maybeApplied = true;
    } else if (err instanceof DictError) {
      // An unexpected failure on the node after the request reached it: it may have applied it.
      if (sent && mayApply(this.policy) && err instanceof NodeFailure && err.code === WireCode.Internal) {
        throw new IndeterminateError(`the outcome of this ${this.what} is unknown: ${err.message}`, { cause: err });
      }
      throw err;
    } else {
      throw new ConnectionError((err as Error).message, { cause: err });
    }
    this.lastError = err;
  }

  /** Part of a request took effect (a fan-out where some shards answered): it may have happened. */
  partlyApplied(): void {
    this.maybeApplied = true;
  }

  /** Before the next attempt: back off (and refresh the table); throws once the budget is spent. */
  async again(): Promise<void> {
    if (this.host.isClosed) throw new ConnectionError("client is closed");
    if (Date.now() > this.deadline) {
      const why = `after ${this.attempts} attempts in ${this.host.retryBudgetMs} ms: ${this.lastError?.message ?? "unknown"}`;
      if (this.maybeApplied) throw new IndeterminateError(`the outcome of this ${this.what} is unknown ${why}`, { cause: this.lastError });
      const last = this.lastError;
      if (last instanceof RetryableError && last.code === WireCode.RateLimited) throw new RateLimitError(`${this.what} refused: ${last.message} (still after ${this.attempts} attempts in ${this.host.retryBudgetMs} ms)`, { cause: last });
      throw new ConnectionError(`gave up ${why}`, { cause: this.lastError });
    }
    await backoff(this.attempts, MAX_BACKOFF_MS);
    await this.refresh?.().catch(() => {});
  }

  /** Count an attempt about to be made. */
  begin(): void {
    this.attempts++;
  }
}
