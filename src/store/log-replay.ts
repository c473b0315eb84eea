/** Recovery's state machine: mutations read back from the log, replayed into what a shard rebuilds from. */
import { generationKey, type Mutation, type RecoveredState, type StoredEntry } from "./storage-engine.js";

interface PartDict {
  part: number;
  dict: string;
  gen: number;
  entries: Map<string, StoredEntry>;
}

/** Replays mutations into the state recovery hands back. */
export class Replay {
  private readonly slots = new Map<string, PartDict>();
  private readonly dicts = new Set<string>();
  private readonly versions = new Map<number, number>();

  /** Keep the highest version a partition's records carry, whatever happened to them since. */
  private saw(part: number, ver: number | undefined): void {
    if (ver !== undefined && ver > (this.versions.get(part) ?? 0)) this.versions.set(part, ver);
  }
  private readonly dedup = new Map<string, { id: string; at: number; answer: unknown; part?: number }>();

  private slot(part: number, dict: string): PartDict {
    const id = generationKey(part, dict);
    let s = this.slots.get(id);
    if (!s) this.slots.set(id, (s = { part, dict, gen: 0, entries: new Map() }));
    return s;
  }

  apply(m: Mutation): void {
    switch (m.op) {
      case "set": {
        this.saw(m.part, m.ver);
        const s = this.slot(m.part, m.dict);
        if (m.gen < s.gen) return;
        if (m.gen > s.gen) {
          s.gen = m.gen;
          s.entries.clear();
        }
        const key = Buffer.from(m.key);
        s.entries.set(key.toString("latin1"), { part: m.part, dict: m.dict, gen: m.gen, key, value: Buffer.from(m.value), deadline: m.deadline, ver: m.ver, ttl: m.ttl });
        return;
      }
      case "delete": {
        this.saw(m.part, m.ver);
        const s = this.slots.get(generationKey(m.part, m.dict));
        if (s && s.gen === m.gen) s.entries.delete(Buffer.from(m.key).toString("latin1"));
        return;
      }
      case "clear": {
        this.saw(m.part, m.ver);
        const s = this.slot(m.part, m.dict);
        if (m.gen > s.gen) {
          s.gen = m.gen;
          s.entries.clear();
        }
        return;
      }
      case "addDict":
        this.dicts.add(m.dict);
        return;
      case "dropDict":
        this.dicts.delete(m.dict);
        for (const [id, s] of this.slots) if (s.dict === m.dict) this.slots.delete(id);
        return;
      case "dedup":
        if (!m.memoryOnly) this.dedup.set(m.id, { id: m.id, at: m.at, answer: m.answer, ...(m.part !== undefined && { part: m.part }) });
        return;
    }
  }

  /**
   * Entries are kept whether or not their dict's creation was recorded here: only an
   * explicit drop removes them (a replica, or a shard whose disk was full when the dict was
   * created, may hold entries of a dict it has no record of).
   */
  state(): RecoveredState {
    const slots = [...this.slots.values()];
    function* entries(): Generator<StoredEntry> {
      for (const s of slots) yield* s.entries.values();
    }
    return {
      entries: entries(),
      generations: new Map(slots.map((s) => [generationKey(s.part, s.dict), s.gen])),
      versions: this.versions,
      dicts: [...this.dicts],
      dedup: [...this.dedup.values()].sort((a, b) => a.at - b.at),
    };
  }
}
