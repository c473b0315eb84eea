/**
 * The fault table: each fault is injected, lasts a while, and heals. Names are what the
 * summary reports.
 *
 * Membership faults (a shard joins and leaves, a member leaves and rejoins, a process is
 * killed in the middle of a partition move) leave the cluster with the members it had before
 * once healed, so that every fault starts from the same membership: the config's shards, all
 * of them serving.
 */
import type { ChaosCluster } from "./chaos-cluster.js";
import { waitUntil } from "../helpers/wait.js";

export interface FaultContext {
  /** Seeded randomness for the choices a fault makes itself. */
  rand: () => number;
  log: (line: string) => void;
}

export interface Injected {
  heal(): Promise<void>;
  /** What the fault ended up acting on, when it picked that itself. */
  target?: string;
}

export interface Fault {
  readonly name: string;
  /**
   * What it acts on: a current member the runner picks ("shard"), the coordinator, or
   * targets the fault picks itself ("self").
   */
  readonly on: "shard" | "coordinator" | "self";
  /** Whether it can be injected now on `target` (else the runner picks another fault). */
  canInject?(c: ChaosCluster, target: string): boolean;
  inject(c: ChaosCluster, target: string, ctx: FaultContext): Promise<Injected>;
}

/** Members the cluster keeps at least (the suite runs with replication factor 2). */
const MIN_MEMBERS = 2;

/** The i-th of `xs` for a random number in [0, 1). */
function pick<T>(xs: readonly T[], r: number): T {
  return xs[Math.min(xs.length - 1, Math.floor(r * xs.length))] as T;
}

/**
 * A member that was asked to leave is started again, and is waited for until it has its
 * share again, so that the next fault finds every member serving.
 */
async function rejoin(c: ChaosCluster, id: string): Promise<void> {
  await c.rejoin(id);
  await c.waitServing(id);
}

export const FAULTS: readonly Fault[] = [
  {
    name: "kill -9 shard, restart",
    on: "shard",
    async inject(c, shard) {
      await c.cluster.kill(shard, "SIGKILL");
      return { heal: () => c.startShard(shard) };
    },
  },
  {
    name: "SIGSTOP shard, SIGCONT",
    on: "shard",
    async inject(c, shard) {
      await c.cluster.kill(shard, "SIGSTOP");
      return { heal: () => c.cluster.kill(shard, "SIGCONT") };
    },
  },
  {
    name: "partition shard | coordinator",
    on: "shard",
    async inject(c, shard) {
      c.coordinatorLinks.get(shard)?.blackhole();
      return { heal: async () => c.coordinatorLinks.get(shard)?.heal() };
    },
  },
  {
    name: "partition shard | clients",
    on: "shard",
    async inject(c, shard) {
      c.clientLinks.get(shard)?.cut();
      return { heal: async () => c.clientLinks.get(shard)?.heal() };
    },
  },
  {
    name: "blackhole shard | clients",
    on: "shard",
    async inject(c, shard) {
      c.clientLinks.get(shard)?.blackhole();
      return { heal: async () => c.clientLinks.get(shard)?.heal() };
    },
  },
  {
    name: "slow, flaky shard links",
    on: "shard",
    async inject(c, shard) {
      const link = c.clientLinks.get(shard);
      link?.delay(30, 20);
      link?.dropConnections(0.02);
      return { heal: async () => link?.heal() };
    },
  },
  {
    // Its syncs fail: it stops serving at once (fail-stop), exits, and the launcher restarts
    // it, again and again with backoff while the disk keeps failing; its partitions fail over.
    name: "fsync EIO on shard",
    on: "shard",
    canInject: (c) => c.canFailSyncs,
    async inject(c, shard) {
      c.failSyncs(shard, true);
      return {
        heal: async () => {
          c.failSyncs(shard, false);
          await c.waitBack(shard);
        },
      };
    },
  },
  {
    name: "kill -9 coordinator, restart",
    on: "coordinator",
    async inject(c) {
      await c.cluster.kill("coordinator", "SIGKILL");
      return { heal: () => c.restartCoordinator() };
    },
  },
  {
    // A new shard joins; it leaves again at heal, maybe before its moves are done.
    name: "join shard, then leave",
    on: "self",
    async inject(c, _target, { log }) {
      const id = c.freshShardId();
      await c.addShard(id);
      log(`chaos: ${id} joins`);
      return {
        target: id,
        heal: async () => {
          log(`chaos: ${id} leaves`);
          await c.leave(id);
        },
      };
    },
  },
  {
    // A member leaves (SIGTERM); it is started again at heal and rejoins under its id.
    name: "leave shard, rejoin",
    on: "shard",
    canInject: (c) => c.shardIds.length > MIN_MEMBERS,
    async inject(c, shard) {
      const leaving = c.startLeaving(shard);
      leaving.catch(() => {});
      return {
        heal: async () => {
          const code = await leaving;
          if (code !== 0) throw new Error(`${shard} left with exit code ${String(code)}`);
          await rejoin(c, shard);
        },
      };
    },
  },
  {
    // A shard joins, or a member leaves; once a partition is being copied, the source or
    // the destination of that copy is killed. Healing restarts it, then restores the
    // membership: a shard that joined leaves, and one that left rejoins.
    name: "kill -9 mid-move",
    on: "self",
    async inject(c, _target, { rand, log }) {
      // Every choice is drawn up front: the same seed draws the same numbers.
      const [byJoin, whichMember, delay, whichMove, whichEnd, whenRestart] = [rand(), rand(), rand(), rand(), rand(), rand()];
      // Sometimes restarted at once, before the coordinator declares it dead: a shard that was
      // leaving then comes back still handing off.
      const restartAtOnce = whenRestart < 0.3;
      const join = byJoin < 0.5 || c.shardIds.length <= MIN_MEMBERS;
      let mover: string;
      let leaving: Promise<number | null> | undefined;
      if (join) {
        mover = c.freshShardId();
        await c.addShard(mover);
        log(`chaos: ${mover} joins`);
      } else {
        mover = pick(c.shardIds, whichMember);
        leaving = c.startLeaving(mover);
        leaving.catch(() => {});
        log(`chaos: ${mover} leaves`);
      }
      const copyingNow = async () => {
        const moves = (await c.status()).moves.filter((m) => m.phase === "copying" && m.from !== "" && m.to !== "");
        return moves.length > 0 && moves.sort((a, b) => a.part - b.part || a.to.localeCompare(b.to));
      };
      let copying = await waitUntil(copyingNow, { what: "a partition being copied", timeoutMs: 10_000, intervalMs: 20 }).catch(() => undefined);
      if (copying) {
        // A little later (a copy takes some 100 ms), so that some kills land further in.
        await new Promise((r) => setTimeout(r, Math.floor(delay * 150)));
        copying = (await copyingNow().catch(() => undefined)) || copying;
      }
      let victim = mover;
      if (copying) {
        const move = pick(copying, whichMove);
        victim = whichEnd < 0.5 ? move.from : move.to;
        log(`chaos: partition ${move.part} is being copied from ${move.from} to ${move.to} (${move.done}/${move.total}): kill -9 ${victim}`);
      } else {
        log(`chaos: no partition seen being copied: kill -9 ${victim}`);
      }
      await c.cluster.kill(victim, "SIGKILL");
      if (restartAtOnce) {
        log(`chaos: ${victim} restarts at once`);
        await c.startShard(victim);
      }
      return {
        target: victim,
        heal: async () => {
          if (!restartAtOnce) await c.startShard(victim);
          if (join) {
            log(`chaos: ${mover} leaves`);
            await c.leave(mover);
            return;
          }
          const code = await (leaving as Promise<number | null>);
          // Killed itself, it did not finish leaving: restarted, it may hand off the rest
          // and exit on its own, or be taken back; either way it ends up rejoining.
          if (victim !== mover && code !== 0) throw new Error(`${mover} left with exit code ${String(code)}`);
          log(`chaos: ${mover} rejoins`);
          await rejoin(c, mover);
        },
      };
    },
  },
];
