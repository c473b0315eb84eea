/** The options and results of the `Dict` API. */
import type { Client } from "./cluster-client.js";

/** What {@link Dict.info} returns. */
export interface DictInfo {
  name: string | null;
  createdAt: Date;
  createdBy: string | null;
}

export interface FromNameOptions {
  createIfMissing?: boolean;
  environmentName?: string;
  client?: Client;
}

export interface ClientOption {
  client?: Client;
}

export interface EphemeralOptions {
  environmentName?: string;
  client?: Client;
}

export interface PutOptions {
  /** Write only if the key is absent (atomic put-if-absent); then `put` returns false if it existed. */
  skipIfExists?: boolean;
  /**
   * Write only if the key's current version is this one (from `getEntry` or `putEntry`);
   * `null`: only if the key is absent. Otherwise nothing changes and `put` returns false.
   */
  ifVersion?: string | null;
  /**
   * The entry's own idle TTL from now on, instead of the dict default (same sliding
   * semantics). Without it, an overwrite keeps the TTL the entry had.
   */
  ttlMs?: number;
}

export interface DeleteOptions {
  /** Delete only if the key's current version is this one; then `delete` returns whether it deleted. */
  ifVersion: string | null;
}

export interface UpdateOptions {
  /** The entries' own idle TTL from now on (see {@link PutOptions.ttlMs}). */
  ttlMs?: number;
}
