/**
 * The dicts a shard knows to exist. The coordinator pushes additions and removals and a
 * full list on every registration; a request for an id the shard has not heard of asks the
 * coordinator once (concurrent misses share the question) before answering "not found".
 */
import { NotFoundError, RetryableError, WireCode } from "../errors.js";

/** Negative answers are remembered this long, so a stream of bad ids is not a stream of lookups. */
const NEGATIVE_TTL_MS = 1_000;

export class DictSet {
  private readonly live = new Set<string>();
  private readonly missing = new Map<string, number>();
  private readonly asking = new Map<string, Promise<boolean>>();

  constructor(private readonly askCoordinator: (id: string) => Promise<boolean>) {}

  ids(): string[] {
    return [...this.live];
  }

  has(id: string): boolean {
    return this.live.has(id);
  }

  add(id: string): void {
    this.live.add(id);
    this.missing.delete(id);
  }

  remove(id: string): void {
    this.live.delete(id);
  }

  /** Replace the whole set; returns the ids that were dropped. */
  replace(ids: readonly string[]): string[] {
    const next = new Set(ids);
    const dropped = [...this.live].filter((id) => !next.has(id));
    this.live.clear();
    for (const id of next) this.live.add(id);
    this.missing.clear();
    return dropped;
  }

  /** Resolve when `id` exists; reject with {@link NotFoundError} when it does not. */
  async ensure(id: string, now: number): Promise<void> {
    if (this.live.has(id)) return;
    const missingAt = this.missing.get(id);
    if (missingAt !== undefined && now - missingAt < NEGATIVE_TTL_MS) throw notFound(id);
    let q = this.asking.get(id);
    if (!q) {
      q = this.askCoordinator(id).finally(() => this.asking.delete(id));
      this.asking.set(id, q);
    }
    let exists: boolean;
    try {
      exists = await q;
    } catch (err) {
      throw new RetryableError(WireCode.Unavailable, `cannot confirm dict ${id}: ${(err as Error).message}`);
    }
    if (exists) {
      this.add(id);
      return;
    }
    if (this.missing.size > 10_000) this.missing.clear();
    this.missing.set(id, now);
    throw notFound(id);
  }
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`Dict with id ${id} not found`);
}
