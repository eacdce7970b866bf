/**
 * The Prometheus text exposition format (version 0.0.4) for the relay's own
 * metrics: counters, gauges and fixed-bucket histograms kept in plain numbers,
 * written out only when scraped. Written here rather than with `prom-client`
 * so that a relay loads that package only for process metrics: it costs about
 * 2 MiB of idle memory. Output is the same as `prom-client`'s (escaping,
 * `+Inf`, cumulative buckets, series in first-seen order).
 */

/** `Content-Type` of the text format. */
export const PROMETHEUS_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label names to values of one series. */
export type MetricLabels = Readonly<Record<string, string>>;

/** One metric family: its `# HELP` / `# TYPE` header and its sample lines. */
export interface MetricFamily {
  readonly name: string;
  /** Appends the family's lines (without a trailing newline) to `out`. */
  write(out: string[]): void;
}

/** Values of one counter or gauge family, by label set. */
abstract class ValueFamily implements MetricFamily {
  readonly #type: string;
  readonly #help: string;
  readonly #series = new Map<string, { labels: MetricLabels; value: number }>();

  constructor(
    readonly name: string,
    help: string,
    type: 'counter' | 'gauge',
    isLabelled: boolean,
  ) {
    this.#help = help;
    this.#type = type;
    // A family without labels always has its one series, starting at 0.
    if (!isLabelled) this.#series.set('', { labels: {}, value: 0 });
  }

  protected add(labels: MetricLabels, delta: number): void {
    this.#seriesOf(labels).value += delta;
  }

  protected assign(labels: MetricLabels, value: number): void {
    this.#seriesOf(labels).value = value;
  }

  protected clear(): void {
    this.#series.clear();
  }

  write(out: string[]): void {
    out.push(familyHeader(this.name, this.#help, this.#type));
    for (const { labels, value } of this.#series.values()) out.push(sampleLine(this.name, labels, value));
  }

  #seriesOf(labels: MetricLabels): { labels: MetricLabels; value: number } {
    const key = seriesKey(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels: { ...labels }, value: 0 };
      this.#series.set(key, series);
    }
    return series;
  }
}

/** A counter family: values only go up. */
export class CounterFamily extends ValueFamily {
  constructor(name: string, help: string, isLabelled = false) {
    super(name, help, 'counter', isLabelled);
  }

  /** Adds `delta` (default 1) to the series of `labels`. */
  inc(labels: MetricLabels = {}, delta = 1): void {
    this.add(labels, delta);
  }
}

/** A gauge family whose values are read at scrape time. */
export class GaugeFamily extends ValueFamily {
  readonly #isLabelled: boolean;
  readonly #read: (set: (labels: MetricLabels, value: number) => void) => void;

  /**
   * `read` is called on each `write()` and sets the current values; a
   * labelled family shows only the series `read` set in that call.
   */
  constructor(name: string, help: string, isLabelled: boolean, read: (set: (labels: MetricLabels, value: number) => void) => void) {
    super(name, help, 'gauge', isLabelled);
    this.#isLabelled = isLabelled;
    this.#read = read;
  }

  override write(out: string[]): void {
    if (this.#isLabelled) this.clear();
    this.#read((labels, value) => this.assign(labels, value));
    super.write(out);
  }
}

/** A counter family whose values are kept elsewhere and read at scrape time (they only go up). */
export class ReadCounterFamily extends ValueFamily {
  readonly #read: (set: (labels: MetricLabels, value: number) => void) => void;

  constructor(name: string, help: string, isLabelled: boolean, read: (set: (labels: MetricLabels, value: number) => void) => void) {
    super(name, help, 'counter', isLabelled);
    this.#read = read;
  }

  override write(out: string[]): void {
    this.#read((labels, value) => this.assign(labels, value));
    super.write(out);
  }
}

/** A histogram without labels, with fixed upper bounds (in the observed unit). */
export class HistogramFamily implements MetricFamily {
  readonly #help: string;
  readonly #upperBounds: readonly number[];
  /** Observations per bucket (not cumulative); values above every bound count only in `#count`. */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(
    readonly name: string,
    help: string,
    upperBounds: readonly number[],
  ) {
    this.#help = help;
    this.#upperBounds = [...upperBounds];
    this.#counts = new Float64Array(upperBounds.length);
  }

  /** Counts one observation. */
  observe(value: number): void {
    const bounds = this.#upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (this.#counts[i] as number) += 1;
        break;
      }
    }
    this.#sum += value;
    this.#count += 1;
  }

  write(out: string[]): void {
    out.push(familyHeader(this.name, this.#help, 'histogram'));
    let cumulative = 0;
    this.#upperBounds.forEach((bound, i) => {
      cumulative += this.#counts[i] as number;
      out.push(sampleLine(`${this.name}_bucket`, { le: String(bound) }, cumulative));
    });
    out.push(sampleLine(`${this.name}_bucket`, { le: '+Inf' }, this.#count));
    out.push(sampleLine(`${this.name}_sum`, {}, this.#sum));
    out.push(sampleLine(`${this.name}_count`, {}, this.#count));
  }
}

/** The text of `families`, in order, as `prom-client`'s `Registry.metrics()` writes it. */
export function writeMetricFamilies(families: readonly MetricFamily[]): string {
  const blocks = families.map((family) => {
    const lines: string[] = [];
    family.write(lines);
    return lines.join('\n');
  });
  return `${blocks.join('\n\n')}\n`;
}

function familyHeader(name: string, help: string, type: string): string {
  return `# HELP ${name} ${escapeText(help)}\n# TYPE ${name} ${type}`;
}

function sampleLine(name: string, labels: MetricLabels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeText(v).replace(/"/g, '\\"')}"`);
  return `${name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''} ${formatValue(value)}`;
}

function seriesKey(labels: MetricLabels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k] as string}`)
    .join('\u0001');
}

function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}
