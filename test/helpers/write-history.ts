/**
 * A recorded write workload for crash tests: several writers, each owning its own keys and
 * writing them one request at a time, so for every key the order of writes is known. Each
 * write records whether it was acknowledged, failed, or never answered.
 */
import { Dict, type Client } from "../../src/index.js";
import { mulberry32 } from "./prng.js";

export type Outcome = "ok" | "failed" | "pending";

export interface WriteRecord {
  key: string;
  value: string;
  outcome: Outcome;
}

export interface Workload {
  /** Stop issuing writes; resolves when every writer has stopped. */
  stop(): Promise<void>;
  acked(): number;
  history(): WriteRecord[];
}

/**
 * Start `clients.length` writers on dict `name`: each loops over its own `keysPerWriter`
 * keys with `put` (70%) or `update` of three keys (30%), chosen by a seeded PRNG.
 */
export function startWriters(clients: Client[], name: string, opts: { keysPerWriter?: number; seed?: number } = {}): Workload {
  const keysPerWriter = opts.keysPerWriter ?? 20;
  const records: WriteRecord[] = [];
  let stopping = false;
  let acked = 0;
  const loops = clients.map(async (client, w) => {
    const rand = mulberry32((opts.seed ?? 1) * 1000 + w);
    const d = Dict.fromName(name, { client });
    for (let seq = 0; !stopping; seq++) {
      const pick = () => `w${w}-k${Math.floor(rand() * keysPerWriter)}`;
      const isUpdate = rand() < 0.3;
      const keys = isUpdate ? [...new Set([pick(), pick(), pick()])] : [pick()];
      const batch = keys.map((key) => ({ key, value: `w${w}-s${seq}-${key}`, outcome: "pending" as Outcome }));
      records.push(...batch);
      try {
        if (isUpdate) await d.update(Object.fromEntries(batch.map((r) => [r.key, r.value])));
        else await d.put(batch[0]!.key, batch[0]!.value);
        for (const r of batch) r.outcome = "ok";
        acked += batch.length;
      } catch {
        for (const r of batch) r.outcome = "failed";
        // After a failure the cluster may be down: keep trying, the test decides when to stop.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
    acked: () => acked,
    history: () => records,
  };
}

/**
 * Check the dict's final state against the history: for each key, the value read must be
 * the last acknowledged value or one written after it whose outcome is unknown (failed or
 * never answered); absent only if no write of it was acknowledged. Returns the violations.
 */
export async function verifyHistory(d: Dict, history: readonly WriteRecord[]): Promise<string[]> {
  const byKey = new Map<string, WriteRecord[]>();
  for (const r of history) {
    let list = byKey.get(r.key);
    if (!list) byKey.set(r.key, (list = []));
    list.push(r);
  }
  const problems: string[] = [];
  for (const [key, writes] of byKey) {
    let lastOk = -1;
    writes.forEach((w, i) => {
      if (w.outcome === "ok") lastOk = i;
    });
    const allowed = new Set<string | undefined>();
    if (lastOk >= 0) allowed.add(writes[lastOk]!.value);
    else allowed.add(undefined);
    for (let i = lastOk + 1; i < writes.length; i++) allowed.add(writes[i]!.value);
    const got = (await d.get(key)) as string | undefined;
    if (!allowed.has(got)) {
      const everWritten = writes.some((w) => w.value === got);
      problems.push(
        `${key}: read ${JSON.stringify(got)}${everWritten ? "" : " (never written!)"}, allowed ${JSON.stringify([...allowed])}; last acknowledged #${lastOk} of ${writes.length}`,
      );
    }
  }
  return problems;
}
