/**
 * The shardict side of the `cas` workload: `Dict.modify` (getEntry + put ifVersion, retried
 * with jitter, ConflictError after its attempts), one `connect()` per contender.
 */
import { ConflictError, Dict, connect } from "../../src/index.js";
import { CAS_ATTEMPTS, type Contender } from "./contention.js";

export async function shardictContenders(url: string, dictName: string, n: number): Promise<Contender[]> {
  const clients = await Promise.all(Array.from({ length: n }, () => connect({ url })));
  return Promise.all(
    clients.map(async (client): Promise<Contender> => {
      const d = await Dict.fromName<number>(dictName, { client }).hydrate();
      return {
        increment: async (key) => {
          let attempts = 0;
          const add = (v: number) => {
            attempts++;
            return v + 1;
          };
          try {
            await d.modify(key, add, { default: 0, maxAttempts: CAS_ATTEMPTS });
            return { ok: true, attempts };
          } catch (err) {
            if (err instanceof ConflictError) return { ok: false, attempts };
            throw err;
          }
        },
        close: () => client.close(),
      };
    }),
  );
}
