/**
 * A Prometheus histogram cheap enough for every request: an observation is a short scan of
 * the bucket bounds and three array writes (prom-client's `observe` costs ~250 ns: label
 * hashing and object updates). It is registered in a prom-client registry as a metric of its
 * own, formatted by prom-client when scraped.
 */
import type { Metric, Registry } from "prom-client";

interface Series {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative), one more for +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class FastHistogram {
  readonly type = "histogram";
  private readonly series: Series[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** A series for one set of label values, made once and kept by the caller. */
  child(labels: Record<string, string>): { observe(v: number): void } {
    const s: Series = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
    this.series.push(s);
    const bounds = this.bounds;
    return {
      observe(v: number): void {
        let i = 0;
        while (i < bounds.length && v > (bounds[i] as number)) i++;
        s.counts[i] = (s.counts[i] as number) + 1;
        s.sum += v;
        s.count++;
      },
    };
  }

  /**
   * Every series added up: observations per bucket (not cumulative, one more for +Inf),
   * their sum and count, over the series `include` takes (all by default). Costs a pass over
   * the series; nothing on the hot path.
   */
  totals(include: (labels: Record<string, string>) => boolean = () => true): { counts: number[]; sum: number; count: number } {
    const counts = new Array<number>(this.bounds.length + 1).fill(0);
    let sum = 0;
    let count = 0;
    for (const s of this.series) {
      if (!include(s.labels)) continue;
      for (let i = 0; i < counts.length; i++) counts[i] = (counts[i] as number) + (s.counts[i] as number);
      sum += s.sum;
      count += s.count;
    }
    return { counts, sum, count };
  }

  /** What prom-client's registry formats (the shape of its own histograms' `get()`). */
  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.series) {
      if (s.count === 0) continue;
      let acc = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        acc += s.counts[i] as number;
        values.push({ labels: { ...s.labels, le: i < this.bounds.length ? (this.bounds[i] as number) : "+Inf" }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: "sum", values };
  }
}
