/**
 * The cluster most fault tests run: one shard (every key lives on the disk under test), no
 * replica, and small log segments so that filling or damaging one takes little.
 */
export const ONE_SHARD = { shards: 1, replicationFactor: 1, partitions: 16, logSegmentBytes: 256 * 1024 } as const;
