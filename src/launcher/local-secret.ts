/**
 * The cluster secret of a cluster whose config names none: generated once and kept in its
 * data folder (readable by this user only), where `npm start`, a coordinator started by hand,
 * shards on the same machine and operator commands all find it. Node rights always need a
 * secret (auth.ts), so a cluster without one configured still has one.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ClusterConfig } from "../config/cluster-config.js";

/** Where a local cluster keeps its generated secret. */
export function localSecretPath(dataDir: string): string {
  return join(resolve(dataDir), ".cluster-secret");
}

/** The secret given to this process: `SHARDICT_CLUSTER_SECRET`, else the config's. */
export function configuredSecret(config: ClusterConfig): string | undefined {
  return process.env.SHARDICT_CLUSTER_SECRET || config.clusterSecret || undefined;
}

/** The secret kept in the data folder, if there is one. */
export function readLocalSecret(dataDir: string): string | undefined {
  try {
    return readFileSync(localSecretPath(dataDir), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The secret kept in the data folder, made now if there is none yet. */
export function ensureLocalSecret(dataDir: string): { secret: string; created: boolean } {
  const kept = readLocalSecret(dataDir);
  if (kept !== undefined) return { secret: kept, created: false };
  mkdirSync(resolve(dataDir), { recursive: true });
  const secret = randomBytes(18).toString("base64url");
  try {
    // "wx": two processes starting at once must not each keep a different one.
    writeFileSync(localSecretPath(dataDir), secret, { mode: 0o600, flag: "wx" });
  } catch (err) {
    const other = (err as NodeJS.ErrnoException).code === "EEXIST" ? readLocalSecret(dataDir) : undefined;
    if (other === undefined) throw err;
    return { secret: other, created: false };
  }
  return { secret, created: true };
}
