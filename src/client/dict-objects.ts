/**
 * `Dict.objects`: creating, listing and deleting named dicts (requests to the coordinator).
 */
import { InvalidError } from "../errors.js";
import type { DictInfoData, Outgoing } from "../protocol/frames.js";
import { clientOf, type Client } from "./cluster-client.js";
import type { Dict } from "./dict.js";
import { checkEnvironment, checkName } from "./names.js";

/** The API of `Dict.objects`, making handles with `fromInfo` (the `Dict` constructor is private). */
export function dictObjects(fromInfo: (info: DictInfoData, client: Client | undefined) => Dict) {
  return {
    /**
     * Create a named dict; {@link AlreadyExistsError} if it exists, unless `allowExisting`.
     *
     * @example
     * ```ts
     * await Dict.objects.create("jobs", { allowExisting: true });
     * ```
     */
    async create(name: string, opts: { allowExisting?: boolean; environmentName?: string; client?: Client } = {}): Promise<Dict> {
      const n = checkName(name);
      const env = checkEnvironment(opts.environmentName);
      const client = clientOf(opts.client);
      const info = await client.coordinatorRequest({ type: "dict.create", name: n, env, allowExisting: opts.allowExisting ?? false });
      return fromInfo(info, opts.client);
    },

    /**
     * Named dicts of an environment, newest first.
     *
     * @example
     * ```ts
     * const recent = await Dict.objects.list({ maxObjects: 10 });
     * ```
     */
    async list(opts: { maxObjects?: number; createdBefore?: Date | string; environmentName?: string; client?: Client } = {}): Promise<Dict[]> {
      const env = checkEnvironment(opts.environmentName);
      if (opts.maxObjects !== undefined && (!Number.isInteger(opts.maxObjects) || opts.maxObjects < 0)) {
        throw new InvalidError(`maxObjects must be a non-negative integer, got ${String(opts.maxObjects)}`);
      }
      let before: number | undefined;
      if (opts.createdBefore !== undefined) {
        before = (opts.createdBefore instanceof Date ? opts.createdBefore : new Date(opts.createdBefore)).getTime();
        if (Number.isNaN(before)) throw new InvalidError(`createdBefore is not a valid date: ${String(opts.createdBefore)}`);
      }
      const client = clientOf(opts.client);
      const frame: Outgoing<"dict.list"> = { type: "dict.list", env };
      if (opts.maxObjects !== undefined) frame.max = opts.maxObjects;
      if (before !== undefined) frame.createdBefore = before;
      const infos = await client.coordinatorRequest(frame);
      return infos.map((info) => fromInfo(info, opts.client));
    },

    /**
     * Delete a named dict and its entries, irreversibly; existing handles then fail with
     * {@link NotFoundError}. {@link NotFoundError} if missing, unless `allowMissing`.
     *
     * @example
     * ```ts
     * await Dict.objects.delete("jobs", { allowMissing: true });
     * ```
     */
    async delete(name: string, opts: { allowMissing?: boolean; environmentName?: string; client?: Client } = {}): Promise<void> {
      const n = checkName(name);
      const env = checkEnvironment(opts.environmentName);
      const client = clientOf(opts.client);
      await client.coordinatorRequest({ type: "dict.delete", name: n, env, allowMissing: opts.allowMissing ?? false });
    },
  };
}
