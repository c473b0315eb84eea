/**
 * Scoped client tokens on the data path (README, "Security"): whether a connection's token
 * may read or write the dict a request names, decided before the request touches anything.
 *
 * A dict's name, environment and (ephemeral) owner never change for its id, so the facts
 * asked of the coordinator once are kept, and so is each connection's verdict per dict:
 * after the first request, a check is two map lookups. Connections with a token that may
 * do everything (and clusters without tokens) skip all of it.
 */
import { AuthError, RetryableError, WireCode } from "../errors.js";
import type { Session } from "../net/session.js";
import { dictRefusal, type DictFacts } from "../net/token-scope.js";
import type { RequestFrame } from "../protocol/frames.js";

/** Facts kept at most (ids of dicts scoped tokens used); past it the oldest half goes. */
const MAX_FACTS = 100_000;
/** Verdicts one connection keeps at most; past it they are worked out again. */
const MAX_VERDICTS_PER_CONNECTION = 10_000;

/** The requests that only read. Everything else a client sends a shard changes data. */
const READS: ReadonlySet<RequestFrame["type"]> = new Set(["get", "contains", "len", "scan", "getEntry", "awaitChange", "exportPage", "watch", "hotKeys"]);

/** A connection's refusals per dict: [read, write], undefined where allowed. */
type Verdict = readonly [string | undefined, string | undefined];

export class DictAccess {
  private readonly facts = new Map<string, DictFacts>();
  private readonly asking = new Map<string, Promise<DictFacts | undefined>>();
  private readonly verdicts = new WeakMap<Session, Map<string, Verdict>>();

  /** `ask` answers a dict's facts, or undefined when there is no such dict. */
  constructor(private readonly ask: (id: string) => Promise<DictFacts | undefined>) {}

  /**
   * Nothing when the connection may make this request of `dict` (at once when known),
   * a promise of that once the dict's facts are in, or an {@link AuthError}.
   */
  check(session: Session, type: RequestFrame["type"], dict: string): void | Promise<void> {
    const scope = session.scope;
    if (scope === undefined) return;
    const op = READS.has(type) ? 0 : 1;
    const known = this.verdicts.get(session)?.get(dict);
    if (known !== undefined) return refuse(known[op]);
    const facts = this.facts.get(dict);
    if (facts !== undefined) return refuse(this.decide(session, facts)[op]);
    return this.factsOf(dict).then((f) => {
      // No such dict: the request goes on, and is answered "not found" like any other's.
      if (f !== undefined) refuse(this.decide(session, f)[op]);
    });
  }

  private decide(session: Session, facts: DictFacts): Verdict {
    const scope = session.scope;
    if (scope === undefined) return [undefined, undefined];
    const verdict: Verdict = [dictRefusal(scope, "read", facts, session.clientId), dictRefusal(scope, "write", facts, session.clientId)];
    let mine = this.verdicts.get(session);
    if (mine === undefined) this.verdicts.set(session, (mine = new Map()));
    if (mine.size >= MAX_VERDICTS_PER_CONNECTION) mine.clear();
    mine.set(facts.id, verdict);
    return verdict;
  }

  private factsOf(id: string): Promise<DictFacts | undefined> {
    let q = this.asking.get(id);
    if (q === undefined) {
      q = this.ask(id).then(
        (f) => {
          if (f !== undefined) this.keep(f);
          return f;
        },
        (err: unknown) => {
          throw new RetryableError(WireCode.Unavailable, `cannot check this token's access to dict ${id}: ${(err as Error).message}`);
        },
      );
      q.finally(() => this.asking.delete(id)).catch(() => {});
      this.asking.set(id, q);
    }
    return q;
  }

  private keep(f: DictFacts): void {
    if (this.facts.size >= MAX_FACTS) {
      let drop = MAX_FACTS / 2;
      for (const id of this.facts.keys()) {
        if (drop-- <= 0) break;
        this.facts.delete(id);
      }
    }
    this.facts.set(f.id, f);
  }
}

function refuse(reason: string | undefined): void {
  if (reason !== undefined) throw new AuthError(reason);
}
