/**
 * The watchers' part of a chaos run: which watchers (the whole dict; two register keys and
 * a counter key, one watcher each; the whole dict again, handed to a new process mid-run),
 * starting them before the load, the hand-off, catching them up at the end, the check and
 * the summary lines.
 *
 * Start: markers are written on the watched keys until every watcher has delivered one, and
 * the load starts after that, so every change the workload makes is after every watch's
 * start. End: once the cluster has settled and the final reads are taken, a final marker is
 * written on every key (after the final reads, so the stream replayed up to the final read
 * can be compared with it) and each watcher must deliver its keys' markers: then it has
 * everything before them. The start markers are part of the history every checker sees; the
 * final markers only of the watch check's (the final reads come before them).
 */
import { Dict } from "../../src/index.js";
import { mulberry32 } from "../helpers/prng.js";
import { waitUntil } from "../helpers/wait.js";
import { HistoryRecorder, type Op } from "./history.js";
import { checkWatchers, type WatchCheckInput, type WatcherCheck, type WatcherRecord, type WatchViolation } from "./watch-checker.js";
import { ChaosWatcher, untilStarted, writeMarker } from "./watchers.js";

/** A watch whose requests get no answer for this long ends (it is then resumed and counted). */
const WATCH_RETRY_BUDGET_MS = 30_000;
/** How long the watchers have to deliver the final markers. */
const CATCH_UP_MS = 60_000;

export interface WatchResult {
  checks: WatcherCheck[];
  /** Streams resumed after an error and child processes resumed after exiting on their own. */
  restarts: number;
  /** What was checked, for re-checking. */
  records: WatcherRecord[];
  input: WatchCheckInput;
}

export interface WatchRunOptions {
  url: string;
  dict: string;
  /** Every key of the workload, and which of them are counters. */
  keys: readonly string[];
  counters: ReadonlySet<string>;
  /** A client of the test's own (not a watcher's) for the start markers. */
  setup: Dict<unknown>;
  log: (line: string) => void;
}

export class WatchRun {
  /** The start markers (part of the run's history). */
  readonly startMarks = new HistoryRecorder();
  private readonly finalMarks = new HistoryRecorder();
  private finalReadAt = Infinity;

  private constructor(
    private readonly o: WatchRunOptions,
    readonly watchers: ChaosWatcher[],
  ) {}

  /** Start the watchers; resolves once every one has started. */
  static async start(o: WatchRunOptions): Promise<WatchRun> {
    const registers = o.keys.filter((k) => !o.counters.has(k));
    const counter = o.keys.find((k) => o.counters.has(k));
    const specs: { name: string; key?: string }[] = [
      { name: "dict" },
      ...registers.slice(0, 2).map((key) => ({ name: `key ${key}`, key })),
      ...(counter === undefined ? [] : [{ name: `counter ${counter}`, key: counter }]),
      { name: "dict, resumed in a new process" },
    ];
    const watchers: ChaosWatcher[] = [];
    for (const s of specs) watchers.push(await ChaosWatcher.start({ ...s, url: o.url, dict: o.dict, retryBudgetMs: WATCH_RETRY_BUDGET_MS, log: o.log }));
    const run = new WatchRun(o, watchers);
    const marked = specs.flatMap((s) => (s.key === undefined ? [] : [s.key]));
    await untilStarted(watchers, marked.length > 0 ? marked : o.keys.slice(0, 1), (key, round) => writeMarker(run.startMarks, o.setup, key, o.counters.has(key), `start${round}`));
    return run;
  }

  /**
   * While the load runs: at a seeded point within `durationMs`, close the last watcher's
   * stream and resume it from its last event's cursor in a new process a moment later.
   */
  handOff(seed: number, durationMs: number): Promise<void> {
    const rand = mulberry32(seed * 31 + 17);
    const at = durationMs * (0.2 + 0.4 * rand());
    const gap = 500 + 1_500 * rand();
    const mover = this.watchers.at(-1) as ChaosWatcher;
    return new Promise((r) => setTimeout(r, at)).then(() => mover.moveToChild(gap));
  }

  /**
   * After the final reads (all taken by `finalReadAt`): a final marker on every key, then
   * wait until every watcher has delivered its keys' markers (a laggard is left to the
   * check, which reports what it missed).
   */
  async catchUp(reader: Dict<unknown>, finalReadAt: number): Promise<void> {
    this.finalReadAt = finalReadAt;
    const markers = new Map<string, Op>();
    for (const key of this.o.keys) markers.set(key, await writeMarker(this.finalMarks, reader, key, this.o.counters.has(key), "final"));
    const t0 = performance.now();
    await waitUntil(() => this.watchers.every((w) => w.caughtUp(markers)), { timeoutMs: CATCH_UP_MS, intervalMs: 100 }).then(
      () => this.o.log(`chaos: watchers caught up in ${((performance.now() - t0) / 1000).toFixed(2)} s`),
      () => this.o.log(`chaos: watchers not caught up after ${CATCH_UP_MS} ms: ${this.watchers.filter((w) => !w.caughtUp(markers)).map((w) => w.o.name).join(", ")}`),
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.stop()));
  }

  /** Check every watcher against `history` (the run's, start markers included) and the final reads. */
  check(history: readonly Op[], finalState: ReadonlyMap<string, string | undefined>): WatchResult {
    const input: WatchCheckInput = { history: [...history, ...this.finalMarks.history()], keys: this.o.keys, final: { at: this.finalReadAt, state: finalState } };
    const records = this.watchers.map((w) => w.record());
    return { checks: checkWatchers(records, input), restarts: this.watchers.reduce((n, w) => n + w.restarts, 0), records, input };
  }
}

/** The summary's watch lines: watchers, events checked, resets per run, missed events. */
export function watchLines(runs: readonly { seed: number; watch: WatchResult }[]): string[] {
  const checks = runs.flatMap((r) => r.watch.checks);
  const sum = (f: (c: WatcherCheck) => number) => checks.reduce((a, c) => a + f(c), 0);
  const resets = runs.map((r) => r.watch.checks.reduce((a, c) => a + c.resets, 0));
  const names = runs[0]?.watch.checks.map((c) => c.watcher).join("; ") ?? "";
  return [
    `watchers: ${checks.length} (${names}), events checked ${sum((c) => c.events)}, resets ${sum((c) => c.resets)}${runs.length > 1 ? ` (per run: ${resets.join(", ")})` : ""}, restarted ${runs.reduce((a, r) => a + r.watch.restarts, 0)}`,
    `missed events: ${sum((c) => c.missed)}`,
  ];
}

export function watchViolations(w: WatchResult): WatchViolation[] {
  return w.checks.flatMap((c) => c.violations);
}
