/**
 * What a client token may do (README, "Security"). A `clientTokens` entry is a string (a
 * token that may do everything) or `{ token, env?, dicts?, ops }`: the environment it is
 * held to, the dict names or name prefixes (`"jobs-*"`) it reaches, and which of `read`,
 * `write` and `admin` (create and delete dicts) it may do. Ephemeral dicts have no name:
 * a scoped token reaches only those its own client made.
 *
 * The checks are pure functions of a scope and a dict's facts (which never change for an
 * id), so both the coordinator (registry requests) and the shards (the data path) use them.
 */
import { createHash } from "node:crypto";

export type TokenOp = "read" | "write" | "admin";

/** A `clientTokens` entry as the config holds it. */
export type ClientTokenEntry = string | { token: string; env?: string; dicts?: string[]; ops: TokenOp[] };

export interface TokenScope {
  /** The only environment the token reaches (undefined: every one). */
  readonly env: string | undefined;
  /** Dict names and name prefixes (`"jobs-*"`) it reaches (undefined: every named dict). */
  readonly dicts: readonly string[] | undefined;
  readonly ops: ReadonlySet<TokenOp>;
  /**
   * Who the token is, where an ephemeral dict records its maker: a digest, so the token
   * itself is stored nowhere and a record read from disk does not give it away.
   */
  readonly principal: string;
}

/** A token the cluster accepts, and its scope (undefined: everything). */
export interface ClientGrant {
  readonly token: string;
  readonly scope: TokenScope | undefined;
}

/** What the checks need to know of a dict: fixed for its id, so it can be kept. */
export interface DictFacts {
  id: string;
  name: string | null;
  env: string;
  /** An ephemeral dict's owning client id (its hello), and the principal of the token that made it. */
  owner: string | null;
  ownerKey: string | null;
}

export function tokenOf(entry: ClientTokenEntry): string {
  return typeof entry === "string" ? entry : entry.token;
}

/** The tokens alone (for redacting logs and for checks that grant no more than "a known token"). */
export function tokenSecrets(entries: readonly ClientTokenEntry[]): string[] {
  return entries.map(tokenOf);
}

export function principalOf(token: string): string {
  return `tk-${createHash("sha256").update(`shardict-token\u0000${token}`).digest("base64url").slice(0, 22)}`;
}

/** Grants made so far, by config entry: a handshake finds its scope made once, not digested again. */
const grants = new Map<ClientTokenEntry, ClientGrant>();

export function grantOf(entry: ClientTokenEntry): ClientGrant {
  let grant = grants.get(entry);
  if (grant === undefined) {
    grant =
      typeof entry === "string"
        ? { token: entry, scope: undefined }
        : { token: entry.token, scope: { env: entry.env, dicts: entry.dicts, ops: new Set(entry.ops), principal: principalOf(entry.token) } };
    // Entries come from the config: a handful, for the life of the process.
    grants.set(entry, grant);
  }
  return grant;
}

/** Does `name` match a `dicts` pattern: the name itself, or a prefix ending in `*`. */
export function nameMatches(pattern: string, name: string): boolean {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

function describe(dict: { name: string | null; env: string; id?: string }): string {
  return dict.name === null ? `ephemeral dict ${dict.id ?? ""}`.trimEnd() : `dict "${dict.name}" in environment "${dict.env}"`;
}

/** Why a named dict (existing or not) is out of the scope's reach, whatever the op, or undefined. */
export function nameRefusal(scope: TokenScope, name: string, env: string): string | undefined {
  if (scope.env !== undefined && env !== scope.env) return `this token is limited to environment "${scope.env}", so it cannot reach dict "${name}" in environment "${env}"`;
  if (scope.dicts !== undefined && !scope.dicts.some((p) => nameMatches(p, name))) {
    return `this token may not reach dict "${name}" (it reaches ${scope.dicts.map((p) => `"${p}"`).join(", ") || "no named dict"})`;
  }
  return undefined;
}

/** Why the scope may not do `op` on a dict, or undefined when it may. */
export function opRefusal(scope: TokenScope, op: TokenOp, dict: { name: string | null; env: string; id?: string }): string | undefined {
  if (scope.ops.has(op)) return undefined;
  const what = op === "admin" ? "create or delete" : op;
  return `this token may not ${what} ${describe(dict)} (its ops: ${[...scope.ops].join(", ") || "none"})`;
}

/**
 * Why a client holding `scope`, whose hello named `clientId`, may not do `op` on an
 * existing dict, or undefined when it may. An ephemeral dict is reached only by the client
 * that made it, with the same token.
 */
export function dictRefusal(scope: TokenScope, op: TokenOp, dict: DictFacts, clientId: string | undefined): string | undefined {
  if (dict.name === null) {
    if (scope.env !== undefined && dict.env !== scope.env) return `this token is limited to environment "${scope.env}", so it cannot reach ${describe(dict)}`;
    if (dict.owner === null || dict.owner !== clientId || dict.ownerKey !== scope.principal) {
      return `${describe(dict)} belongs to another client: a scoped token reaches only the ephemeral dicts its own client made`;
    }
    // Its maker deletes it when done, as a write of its own data.
    return opRefusal(scope, op === "admin" ? "write" : op, dict);
  }
  return nameRefusal(scope, dict.name, dict.env) ?? opRefusal(scope, op, dict);
}

/** Either op will do (reading a dict's info, which reading or writing it needs first). */
export function anyAccessRefusal(scope: TokenScope, dict: DictFacts, clientId: string | undefined): string | undefined {
  const read = dictRefusal(scope, "read", dict, clientId);
  return read === undefined ? undefined : dictRefusal(scope, "write", dict, clientId) === undefined ? undefined : read;
}
