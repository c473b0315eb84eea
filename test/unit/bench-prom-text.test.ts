/**
 * The bench's reading of `/metrics` pages (scripts/bench/measure.ts): sums by name, by one
 * label's value, and a shard's log rounds by phase.
 */
import { describe, expect, it } from "vitest";
import { logRounds, promSum } from "../../scripts/bench/measure.js";

const PAGE = [
  "# HELP shardict_log_round_seconds_total The log engine's wall time by phase.",
  "# TYPE shardict_log_round_seconds_total counter",
  'shardict_log_round_seconds_total{phase="idle"} 1.5',
  'shardict_log_round_seconds_total{phase="turn"} 0.25',
  'shardict_log_round_seconds_total{phase="linger"} 0.5',
  'shardict_log_round_seconds_total{phase="write"} 0.125',
  'shardict_log_round_seconds_total{phase="sync"} 2',
  'shardict_log_round_seconds_total{node="x",phase="sync"} 1',
  'shardict_log_round_seconds_total{phase="syncing"} 100',
  "shardict_log_rounds_total 40",
  "shardict_log_rounds_total_extra 7",
].join("\n");

describe("the bench's Prometheus text", () => {
  it("sums a metric over every label set, or over those with one label's value, and no other metric", () => {
    expect(promSum(PAGE, "shardict_log_rounds_total")).toBe(40);
    expect(promSum(PAGE, "shardict_log_round_seconds_total")).toBe(105.375);
    expect(promSum(PAGE, "shardict_log_round_seconds_total", { name: "phase", value: "sync" })).toBe(3);
    expect(promSum(PAGE, "shardict_log_rounds_total", { name: "phase", value: "sync" })).toBe(0);
    expect(promSum(PAGE, "shardict_missing_total")).toBe(0);
  });

  it("reads a shard's log rounds by phase", () => {
    expect(logRounds(PAGE)).toEqual({ rounds: 40, seconds: { idle: 1.5, turn: 0.25, linger: 0.5, write: 0.125, sync: 3 } });
    expect(logRounds("")).toEqual({ rounds: 0, seconds: { idle: 0, turn: 0, linger: 0, write: 0, sync: 0 } });
  });
});
