/**
 * The shard's side of `Dict.watch`: a watcher asks for a dict's changes in some partitions
 * after its positions there, and gets what the partitions' histories hold (change-history.ts),
 * or, with nothing to show yet, its request is parked until a change is acknowledged or
 * `waitMs` runs out (then it is answered with how far it looked, so its positions keep up
 * with the history even when nothing it watches changes).
 *
 * A shard keeps nothing per watcher between requests: a watcher that stops asking costs it
 * nothing, and one that asks again after the history moved past its position is told so
 * (`reset`). Parked requests are bounded in number, and answered at once when the partition
 * table changes, so a watcher follows its partitions to their new owners without waiting.
 */
import { RetryableError, WireCode } from "../errors.js";
import type { FrameOf } from "../protocol/frames.js";
import type { WatchReply } from "../protocol/replies.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { PartitionStore } from "../store/partition-store.js";
import type { Change } from "../store/change-history.js";
import { latin1Bytes, latin1String } from "../encoding/latin1-bytes.js";
import { Tag } from "../protocol/key-tags.js";

/** Parked watch requests a node holds at most: past it, a new one is refused (retryable). */
export const MAX_PARKED_WATCHES = 10_000;
/**
 * Partitions named by parked requests, over all of them (each costs a small record while
 * parked): bounds what many whole-dict watchers can make a node hold to tens of MB.
 */
export const MAX_PARKED_PARTITIONS = 500_000;
/** Changes one answer carries by default. */
const DEFAULT_EVENTS = 1_000;
/** Bytes of keys and values one answer carries at most (one change more if a single one is larger). */
export const WATCH_REPLY_BYTES = 4 * 1024 * 1024;

type WatchFrame = FrameOf<"watch">;

/** One partition of a poll: where it was asked from, where it has read to, and what it found. */
interface PartState {
  part: number;
  store: PartitionStore;
  asked: number | null;
  pos: number;
  reset: boolean;
  found: Change[];
}

interface Parked {
  dict: string;
  states: PartState[];
  match: (c: Change) => boolean;
  maxEvents: number;
  resolve(reply: WatchReply): void;
  timer: TimerHandle | undefined;
}

/** Which changes a watch wants: of its dict, and of its keys or prefix if it named any. */
export function changeFilter(dict: string, keys: readonly Uint8Array[] | undefined, prefix: string | undefined): (c: Change) => boolean {
  if (keys !== undefined) {
    const ks = new Set(keys.map((k) => latin1String(k)));
    return (c) => c.dict === dict && (c.k === undefined || ks.has(c.k));
  }
  if (prefix !== undefined) {
    // A string key's canonical bytes: its tag, its UTF-8 length (a varint), its UTF-8 bytes.
    const want = latin1String(Buffer.from(prefix, "utf8"));
    return (c) => {
      if (c.dict !== dict) return false;
      const k = c.k;
      if (k === undefined) return true;
      if (k.charCodeAt(0) !== Tag.String) return false;
      let at = 1;
      while (at < k.length && (k.charCodeAt(at) & 0x80) !== 0) at++;
      return k.startsWith(want, at + 1);
    };
  }
  return (c) => c.dict === dict;
}

export class WatchPolls {
  private readonly parked = new Set<Parked>();
  /** Parked polls per store, and the store's history callback while it has any. */
  private readonly byStore = new Map<PartitionStore, Set<Parked>>();

  constructor(
    private readonly clock: Clock,
    private readonly limits = { requests: MAX_PARKED_WATCHES, partitions: MAX_PARKED_PARTITIONS },
  ) {}

  get size(): number {
    return this.parked.size;
  }

  /**
   * Answer a watch request: `store(part)` is the store of a partition this node leads (the
   * caller checked), `version` its sequence.
   */
  poll(frame: WatchFrame, store: (part: number) => PartitionStore): WatchReply | Promise<WatchReply> {
    const match = changeFilter(frame.dict, frame.keys, frame.prefix);
    const maxEvents = frame.maxEvents ?? DEFAULT_EVENTS;
    const states: PartState[] = frame.parts.map(({ part, after }) => {
      const s = store(part);
      // From now: after everything shown (an unacknowledged change is shown once it is:
      // it was concurrent with the watch's start). A position no longer kept: reset.
      if (after === null) return { part, store: s, asked: null, pos: s.history.acked, reset: false, found: [] };
      const resumable = after >= s.history.floor && after <= Math.max(s.version, s.history.acked);
      return { part, store: s, asked: after, pos: resumable ? after : s.history.acked, reset: !resumable, found: [] };
    });
    if (this.read(states, match, maxEvents) || frame.waitMs <= 0) return reply(states);
    if (this.parked.size >= this.limits.requests || this.parkedParts + states.length > this.limits.partitions) {
      throw new RetryableError(WireCode.Unavailable, `this node holds as many parked watch requests as it may (${this.parked.size} requests, ${this.parkedParts} partitions)`);
    }
    return new Promise<WatchReply>((resolve) => {
      const p: Parked = { dict: frame.dict, states, match, maxEvents, resolve, timer: undefined };
      this.park(p);
      p.timer = this.clock.setTimer(() => this.settle(p), frame.waitMs);
    });
  }

  /**
   * Read every partition's history after its position; true when something must be
   * answered now (changes found, or a position that could not be resumed).
   */
  private read(states: PartState[], match: (c: Change) => boolean, maxEvents: number, only?: PartitionStore): boolean {
    let events = 0;
    let bytes = 0;
    let any = false;
    for (const st of states) {
      // Woken by one partition: the others have not moved since they were read.
      if (only !== undefined && st.store !== only) continue;
      if (st.reset) any = true;
      if (events >= maxEvents || bytes >= WATCH_REPLY_BYTES) break;
      const r = st.store.history.read(st.pos, st.store.version, match, maxEvents - events, WATCH_REPLY_BYTES - bytes);
      if (r === undefined) {
        // The history moved past this position while the request was parked.
        st.reset = true;
        st.pos = st.store.history.acked;
        any = true;
        continue;
      }
      st.pos = r.pos;
      for (const c of r.changes) {
        st.found.push(c);
        bytes += (c.k?.length ?? 0) + (c.value?.length ?? 0);
      }
      events += r.changes.length;
      if (r.changes.length > 0) any = true;
    }
    return any;
  }

  private parkedParts = 0;

  private park(p: Parked): void {
    this.parked.add(p);
    this.parkedParts += p.states.length;
    for (const st of p.states) {
      let set = this.byStore.get(st.store);
      if (!set) {
        const s = st.store;
        this.byStore.set(s, (set = new Set()));
        s.history.onAcked = () => this.acked(s);
      }
      set.add(p);
    }
  }

  private settle(p: Parked): void {
    if (!this.parked.delete(p)) return;
    this.parkedParts -= p.states.length;
    p.timer?.cancel();
    for (const st of p.states) {
      const set = this.byStore.get(st.store);
      if (!set) continue;
      set.delete(p);
      if (set.size === 0) {
        this.byStore.delete(st.store);
        st.store.history.onAcked = undefined;
      }
    }
    p.resolve(reply(p.states));
  }

  /** Changes became visible in `store`: look once the mutation that told is complete. */
  private acked(store: PartitionStore): void {
    const set = this.byStore.get(store);
    if (!set || this.pendingLook.has(store)) return;
    this.pendingLook.add(store);
    queueMicrotask(() => {
      this.pendingLook.delete(store);
      for (const p of [...(this.byStore.get(store) ?? [])]) if (this.read(p.states, p.match, p.maxEvents, store)) this.settle(p);
    });
  }

  private readonly pendingLook = new Set<PartitionStore>();

  /** Answer every parked request now (the table changed: some partitions may have moved). */
  wakeAll(): void {
    for (const p of [...this.parked]) this.settle(p);
  }
}

/**
 * The answer: every partition asked "from now" (its starting position) or with something to
 * say (changes, a position moved, a reset); a partition left out stays where it was asked
 * from (a watcher of many partitions is not sent them all for a change in one).
 */
function reply(states: PartState[]): WatchReply {
  return {
    parts: states.filter((st) => st.asked === null || st.reset || st.pos !== st.asked || st.found.length > 0).map((st) => ({
      part: st.part,
      pos: st.pos,
      ...(st.reset && { reset: true as const }),
      ev: st.found.map((c) => ({
        s: c.seq,
        t: c.kind,
        ...(c.k !== undefined && { k: latin1Bytes(c.k) }),
        ...(c.value !== undefined && { v: latin1Bytes(c.value) }),
        ...(c.cid !== undefined && { c: c.cid }),
      })),
    })),
  };
}
