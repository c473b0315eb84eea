/**
 * The redis side of the `cas` workload: the classic optimistic loop WATCH key / GET / MULTI /
 * SET / EXEC through ioredis, EXEC answering null when another client wrote the key after the
 * WATCH (a conflict), retried with the same attempts and jittered backoff as `Dict.modify`
 * (./contention.ts) so that the comparison is fair. One connection per contender, without
 * auto-pipelining (a WATCH belongs to its connection). WATCH and GET go out in one pipeline
 * and MULTI / SET / EXEC in another: two round trips per attempt, as modify's getEntry + put
 * ifVersion.
 */
import { Redis } from "ioredis";
import { CAS_ATTEMPTS, casBackoff, type Contender } from "./contention.js";

export async function redisContenders(port: number, n: number): Promise<Contender[]> {
  const conns = Array.from({ length: n }, () => new Redis({ host: "127.0.0.1", port, db: 0, maxRetriesPerRequest: 0 }));
  await Promise.all(conns.map((r) => r.ping()));
  return conns.map((r) => ({
    increment: async (key) => {
      for (let attempt = 1; attempt <= CAS_ATTEMPTS; attempt++) {
        const read = await r.pipeline().watch(key).get(key).exec();
        const err = read?.find(([e]) => e !== null)?.[0];
        if (err) throw err;
        const current = read?.[1]?.[1];
        const next = (current == null ? 0 : Number(current)) + 1;
        if ((await r.multi().set(key, String(next)).exec()) !== null) return { ok: true, attempts: attempt };
        if (attempt < CAS_ATTEMPTS) await casBackoff(attempt);
      }
      return { ok: false, attempts: CAS_ATTEMPTS };
    },
    close: () => r.disconnect(),
  }));
}
