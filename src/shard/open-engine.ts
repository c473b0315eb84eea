/** The storage engine a shard runs on, chosen by the config and by what its folder holds. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ClusterConfig } from "../config/cluster-config.js";
import type { DataDir } from "../store/data-dir.js";
import { LmdbEngine } from "../store/lmdb-engine.js";
import { LogEngine } from "../store/log-engine.js";
import { MemoryEngine, type BatchObserver, type StorageEngine } from "../store/storage-engine.js";

export interface EngineOptions {
  cfg: ClusterConfig;
  /** The node's id, named in errors (a full disk, a failed write). */
  node: string;
  /** Its locked folder, `<dataDir>/<id>/` (none for the memory engine). */
  dir: DataDir | undefined;
  log: (line: string) => void;
  /** A write or sync failed: the node must stop (fail-stop). */
  onFatal: (err: Error) => void;
  /** Told of each batch made durable (metrics). */
  onBatch?: BatchObserver;
}

/** The configured engine in the node's folder. */
export function openShardEngine(o: EngineOptions): StorageEngine {
  if (o.cfg.storageEngine === "memory") return new MemoryEngine();
  const dir = o.dir;
  if (!dir) throw new Error("a durable shard needs its locked data folder: create it with ShardNode.open()");
  const lmdb = () => new LmdbEngine(join(dir.path, "lmdb"), { node: o.node, log: o.log, onFatal: o.onFatal, ...(o.onBatch && { onBatch: o.onBatch }) });
  if (o.cfg.storageEngine !== "log") return lmdb();
  // A folder written by LMDB (the default before the log) stays on LMDB: its data is there.
  if (existsSync(join(dir.path, "lmdb")) && !existsSync(join(dir.path, "log"))) {
    o.log(`${o.node}: ${dir.path} holds LMDB data from an earlier version: keeping storageEngine "lmdb" for it`);
    return lmdb();
  }
  return new LogEngine(join(dir.path, "log"), { node: o.node, log: o.log, segmentBytes: o.cfg.logSegmentBytes, onFatal: o.onFatal, ...(o.onBatch && { onBatch: o.onBatch }) });
}
