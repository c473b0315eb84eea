/** Where a partition's requests go: its primary in the client's table. */
import { RetryableError, WireCode } from "../errors.js";
import type { PartitionTable } from "../hashing/partition-table.js";

/** The primary of `part`; retryable (the table will be refreshed) when it has none. */
export function routeOf(t: PartitionTable, part: number): string {
  const shard = t.primaryOf(part);
  if (shard === undefined) throw new RetryableError(WireCode.Unavailable, `partition ${part} has no owner`);
  return shard;
}
