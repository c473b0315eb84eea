/**
 * The chaos run's watchers: each on its own client (its own connections and retry budget),
 * recording every event it receives with the time it got it (the history's clock), for
 * `watch-checker.ts`. One of them can be handed to a new process mid-run: its stream is
 * closed here and resumed from the cursor of the last event it delivered by a child process
 * (test/fixtures/chaos-watcher.mjs, importing the built package) that streams its events
 * back as JSON lines; the two halves are checked as one watcher.
 *
 * A watch that ends with an error (its retry budget ran out) is resumed from its last
 * cursor, as an application would, and counted: the guarantee holds across `after`.
 *
 * Markers: writes the runner makes (and records) so that it knows when watchers have started
 * (a watch has once it delivered anything) and, at the end, when they have caught up (each
 * key's last write delivered).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { Dict, connect, type Client, type WatchEvent } from "../../src/index.js";
import { fixturePath } from "../helpers/child.js";
import { waitUntil } from "../helpers/wait.js";
import type { HistoryRecorder, Op } from "./history.js";
import type { SeenEvent, SeenType, WatcherRecord } from "./watch-checker.js";
import { outcomeOf } from "./workload.js";

/** The `process` of markers in the history. */
export const MARKER_PROCESS = 100;

export interface WatcherOptions {
  name: string;
  url: string;
  dict: string;
  /** One key; undefined: the whole dict. */
  key?: string | undefined;
  retryBudgetMs: number;
  log: (line: string) => void;
}

/** A line the child prints: an event, or why its watch ended. */
type ChildLine = { error: string } | { type: SeenType; key?: string; value?: unknown; version?: string; cursor: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ChaosWatcher {
  readonly events: SeenEvent[] = [];
  /** Streams resumed after an error, and child processes resumed after exiting on their own. */
  restarts = 0;
  /** Child processes started. */
  processes = 0;
  /** The last value a put delivered, per key (for catching up). */
  private readonly latest = new Map<string, unknown>();
  private client: Client | undefined;
  private dict: Dict<unknown> | undefined;
  private stream: { close(): void } | undefined;
  private child: ChildProcess | undefined;
  /** Where to resume: the last event of this process's stream, or the child's last cursor. */
  private lastEvent: WatchEvent | undefined;
  private lastCursor: string | undefined;
  private running: Promise<void> = Promise.resolve();
  /** The whole watcher stops / only this process's stream does (handing over to a child). */
  private stopping = false;
  private pausing = false;

  private constructor(readonly o: WatcherOptions) {}

  static async start(o: WatcherOptions): Promise<ChaosWatcher> {
    const w = new ChaosWatcher(o);
    w.client = await connect({ url: o.url, retryBudgetMs: o.retryBudgetMs });
    // Hydrated, so that the watch's first requests leave as it is made.
    w.dict = await Dict.fromName<unknown>(o.dict, { client: w.client }).hydrate();
    w.running = w.inProcess();
    return w;
  }

  /** What the checker needs (the time it started: its first event). */
  record(): WatcherRecord {
    return { name: this.o.name, keys: this.o.key === undefined ? undefined : [this.o.key], startedAt: this.events[0]?.at ?? Infinity, events: this.events };
  }

  private cursor(): string | undefined {
    return this.lastEvent?.cursor ?? this.lastCursor;
  }

  private note(type: SeenType, key: unknown, value: unknown, version: string | undefined): void {
    const k = key === undefined ? undefined : typeof key === "string" ? key : JSON.stringify(key);
    this.events.push({ type, key: k, value, version, at: performance.now() });
    if (type === "put" && k !== undefined) this.latest.set(k, value);
  }

  private async inProcess(): Promise<void> {
    while (!this.stopping && !this.pausing) {
      const after = this.cursor();
      const stream = (this.dict as Dict<unknown>).watch({ ...(this.o.key !== undefined && { key: this.o.key }), ...(after !== undefined && { after }) });
      this.stream = stream;
      try {
        for await (const e of stream) {
          this.note(e.type, e.key, e.value, e.version);
          this.lastEvent = e;
        }
        return;
      } catch (err) {
        if (this.stopping || this.pausing) return;
        this.restarts++;
        this.o.log(`chaos: watcher ${this.o.name}: ${(err as Error).message}; resuming from its last cursor`);
        await sleep(500);
      }
    }
  }

  /** Close this process's stream, wait `gapMs`, and go on in a new process from the last event's cursor. */
  async moveToChild(gapMs: number): Promise<void> {
    this.pausing = true;
    this.stream?.close();
    await this.running;
    this.pausing = false;
    this.o.log(`chaos: watcher ${this.o.name} stopped after ${this.events.length} events; a new process resumes it in ${Math.round(gapMs)} ms`);
    await sleep(gapMs);
    if (!this.stopping) this.running = this.inChild();
  }

  private async inChild(): Promise<void> {
    while (!this.stopping) {
      const arg = JSON.stringify({ dict: this.o.dict, after: this.cursor(), key: this.o.key, retryBudgetMs: this.o.retryBudgetMs });
      const child = spawn(process.execPath, [fixturePath("chaos-watcher.mjs"), arg], { env: { ...process.env, SHARDICT_URL: this.o.url }, stdio: ["pipe", "pipe", "pipe"] });
      this.child = child;
      this.processes++;
      // Its stdin closing is how it is told to stop; it may be gone by then.
      child.stdin.on("error", () => {});
      let stderr = "";
      let error: string | undefined;
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const lines = createInterface({ input: child.stdout });
      lines.on("line", (line) => {
        const m = JSON.parse(line) as ChildLine;
        if ("error" in m) {
          error = m.error;
          return;
        }
        this.note(m.type, m.key, m.value, m.version);
        this.lastEvent = undefined;
        this.lastCursor = m.cursor;
      });
      const closed = new Promise((r) => lines.once("close", r));
      const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
      await closed;
      this.child = undefined;
      if (this.stopping) {
        if (code !== 0) this.o.log(`chaos: watcher ${this.o.name}: its process exited with ${String(code)} when told to stop: ${error ?? stderr.trim()}`);
        return;
      }
      this.restarts++;
      this.o.log(`chaos: watcher ${this.o.name}: its process exited (${String(code)}): ${error ?? stderr.trim()}; a new one resumes from its last cursor`);
      await sleep(500);
    }
  }

  /** Whether it has delivered each marker of its keys (a counter: a value at least the marker's). */
  caughtUp(markers: ReadonlyMap<string, Op>): boolean {
    for (const [key, op] of markers) {
      if (this.o.key !== undefined && key !== this.o.key) continue;
      const v = this.latest.get(key);
      if (op.op === "incr" ? !(typeof v === "number" && op.result !== undefined && v >= op.result) : op.op === "put" && v !== op.value) return false;
    }
    return true;
  }

  private stopped: Promise<void> | undefined;

  /** Stop watching (a child is told to, and killed if it has not exited within 10 s). */
  stop(): Promise<void> {
    this.stopped ??= this.stopNow();
    return this.stopped;
  }

  private async stopNow(): Promise<void> {
    this.stopping = true;
    this.stream?.close();
    const child = this.child;
    child?.stdin?.end();
    const killer = setTimeout(() => child?.kill("SIGKILL"), 10_000);
    await this.running;
    clearTimeout(killer);
    this.client?.close();
  }
}

/**
 * Write a marker on `key` and record it: a fresh value (`${tag}-${key}-${attempt}`) on a
 * register, an increment on a counter; tried again until one is acknowledged (every
 * attempt is in the history). Returns the acknowledged op.
 */
export async function writeMarker(recorder: HistoryRecorder, dict: Dict<unknown>, key: string, counter: boolean, tag: string): Promise<Op> {
  const deadline = performance.now() + 60_000;
  for (let attempt = 1; ; attempt++) {
    const op = counter ? recorder.invoke(MARKER_PROCESS, key, { op: "incr", delta: 1 }) : recorder.invoke(MARKER_PROCESS, key, { op: "put", value: `${tag}-${key}-${attempt}` });
    try {
      if (op.op === "incr") recorder.ok(op, await dict.incr(key));
      else {
        await dict.put(key, op.value);
        recorder.ok(op);
      }
      return op;
    } catch (e) {
      if (outcomeOf(e) === "failed") recorder.fail(op);
      else recorder.indeterminate(op);
    }
    if (performance.now() > deadline) throw new Error(`could not write a marker on ${key} within 60 s`);
    await sleep(200);
  }
}

/**
 * Write markers on `keys` until every watcher has delivered an event: a watch delivers
 * nothing before it has started, so from then on it shows every change. Each round writes
 * fresh markers: a watch that started after a round's marker was written waits for the next.
 */
export async function untilStarted(watchers: readonly ChaosWatcher[], keys: readonly string[], mark: (key: string, round: number) => Promise<unknown>): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (let round = 1; ; round++) {
    for (const key of keys) await mark(key, round);
    const started = await waitUntil(() => watchers.every((w) => w.events.length > 0), { timeoutMs: 2_000 }).then(
      () => true,
      () => false,
    );
    if (started) return;
    if (performance.now() > deadline) throw new Error(`watchers ${watchers.filter((w) => w.events.length === 0).map((w) => w.o.name).join(", ")} delivered nothing within 60 s`);
  }
}
