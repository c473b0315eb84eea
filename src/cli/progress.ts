/** A progress bar with rate and ETA on stderr when it is a terminal; nothing when piped. */
import cliProgress from "cli-progress";

export interface Progress {
  add(n: number): void;
  stop(): void;
}

export function progress(label: string, total: number): Progress {
  if (!process.stderr.isTTY) return { add() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} {bar} {percentage}% | {value}/{total} entries | {rate}/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let done = 0;
  bar.start(Math.max(total, 1), 0, { rate: 0 });
  return {
    add(n) {
      done += n;
      if (done > total) bar.setTotal(done);
      bar.update(done, { rate: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)) });
    },
    stop() {
      bar.stop();
    },
  };
}
