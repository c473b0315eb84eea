/**
 * Which registry requests a scoped client token may make (README, "Security"): finding a
 * dict needs read or write on it, making or deleting a named one `admin`, an ephemeral one
 * `write` (it is the client's own, and vanishes with it), and only its maker deletes it.
 * Listing is not refused: it shows only what the token reaches (dict-service.ts).
 */
import type { RequestFrame } from "../protocol/frames.js";
import { anyAccessRefusal, dictRefusal, nameRefusal, opRefusal, type TokenScope } from "../net/token-scope.js";
import { factsOf, type DictRegistry } from "./dict-registry.js";

/** Why `scope` may not make this request, or undefined. */
export function scopeRefusal(registry: DictRegistry, frame: RequestFrame, clientId: string, scope: TokenScope): string | undefined {
  switch (frame.type) {
    case "dict.lookup": {
      const reach = nameRefusal(scope, frame.name, frame.env);
      if (reach !== undefined) return reach;
      const found = registry.getByName(frame.name, frame.env);
      if (found !== undefined) return anyAccessRefusal(scope, factsOf(found), clientId);
      // Missing: "not found" for a token that may not create it either way, unless it asked to create.
      return frame.createIfMissing ? opRefusal(scope, "admin", { name: frame.name, env: frame.env }) : anyOp(scope, frame.name, frame.env);
    }
    case "dict.create":
      return nameRefusal(scope, frame.name, frame.env) ?? opRefusal(scope, "admin", { name: frame.name, env: frame.env });
    case "dict.delete":
      return nameRefusal(scope, frame.name, frame.env) ?? opRefusal(scope, "admin", { name: frame.name, env: frame.env });
    case "dict.get": {
      const rec = registry.getById(frame.id);
      return rec === undefined ? undefined : anyAccessRefusal(scope, factsOf(rec), clientId);
    }
    case "dict.deleteId": {
      const rec = registry.getById(frame.id);
      return rec === undefined ? undefined : dictRefusal(scope, "admin", factsOf(rec), clientId);
    }
    case "ephemeral.create":
      if (scope.env !== undefined && frame.env !== scope.env) return `this token is limited to environment "${scope.env}", so it cannot make an ephemeral dict in "${frame.env}"`;
      return scope.ops.has("write") ? undefined : `this token may not make an ephemeral dict: that needs "write" (its ops: ${[...scope.ops].join(", ") || "none"})`;
    default:
      return undefined;
  }
}

function anyOp(scope: TokenScope, name: string, env: string): string | undefined {
  const dict = { name, env };
  const read = opRefusal(scope, "read", dict);
  return read === undefined || opRefusal(scope, "write", dict) === undefined ? undefined : read;
}
