/** The options and results of the `Dict` API. */
import type { Client } from "./client.js";

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
}
