/**
 * The end-to-end benchmark's one table (figures, ratios to direct, ours
 * against the Go pair) and the check of issue 7's targets.
 */
import type { Measured } from './transfer-workloads.js';
import { TARGET_LABELS, TARGET_NAMES, type TargetName } from './targets.js';

/** Rows of the table, in order. */
export const METRIC_IDS = [
  'get1Rps',
  'get1P50',
  'get1P99',
  'get50Rps',
  'get50P50',
  'get50P99',
  'relayCpuPer1k',
  'agentCpuPer1k',
  'download',
  'upload',
  'concurrent',
  'wsPingPong',
  'relayRssIdle',
  'agentRssIdle',
  'relayRssAfter',
  'agentRssAfter',
  'relayRssPeak',
  'agentRssPeak',
] as const;
/** One row of the table. */
export type MetricId = (typeof METRIC_IDS)[number];

/** How a row is labelled and compared. */
interface MetricInfo {
  label: string;
  unit: string;
  higherIsBetter: boolean;
  /** Shown with a ratio to direct (only rows direct has). */
  vsDirect: boolean;
  decimals: number;
}

/** Labels depend on the sizes of the run (quick mode uses small ones). */
export interface RunSizes {
  getConnectionsMany: number;
  downloadBytes: number;
  uploadBytes: number;
  concurrentCount: number;
  concurrentBytes: number;
  wsMessageBytes: number;
}

/** Row descriptions for the run's sizes. */
export function metricInfo(sizes: RunSizes): Record<MetricId, MetricInfo> {
  const c = sizes.getConnectionsMany;
  const rate = (label: string, unit: string): MetricInfo => ({ label, unit, higherIsBetter: true, vsDirect: true, decimals: 0 });
  const lat = (label: string): MetricInfo => ({ label, unit: 'ms', higherIsBetter: false, vsDirect: true, decimals: 3 });
  const own = (label: string, unit: string, decimals = 0): MetricInfo => ({ label, unit, higherIsBetter: false, vsDirect: false, decimals });
  return {
    get1Rps: rate('small GET, 1 connection', 'req/s'),
    get1P50: lat('  p50'),
    get1P99: lat('  p99'),
    get50Rps: rate(`small GET, ${c} connections`, 'req/s'),
    get50P50: lat('  p50'),
    get50P99: lat('  p99'),
    relayCpuPer1k: own(`relay CPU per 1 000 requests (${c} conn)`, 'ms'),
    agentCpuPer1k: own(`agent CPU per 1 000 requests (${c} conn)`, 'ms'),
    download: rate(`${size(sizes.downloadBytes)} download`, 'MiB/s'),
    upload: rate(`${size(sizes.uploadBytes)} upload, echoed back`, 'MiB/s'),
    concurrent: rate(`${sizes.concurrentCount} concurrent ${size(sizes.concurrentBytes)} downloads`, 'MiB/s'),
    wsPingPong: rate(`WebSocket ${size(sizes.wsMessageBytes)} ping-pong`, 'msg/s'),
    relayRssIdle: own('relay RSS, idle after start', 'MiB', 1),
    agentRssIdle: own('agent RSS, idle after start', 'MiB', 1),
    relayRssAfter: own('relay RSS, after the load', 'MiB', 1),
    agentRssAfter: own('agent RSS, after the load', 'MiB', 1),
    relayRssPeak: own('relay RSS, peak', 'MiB', 1),
    agentRssPeak: own('agent RSS, peak', 'MiB', 1),
  };
}

function size(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3} GiB`;
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** A cell: a figure, a failure, or nothing (not applicable / not run). */
export type Cell = Measured | { skip: string } | undefined;

/** Results by target and row (one value per round, reduced to the median). */
export type Results = Map<TargetName, Map<MetricId, Measured[]>>;

/** Median of the rounds; any failed round makes the cell a failure. */
export function reduceCell(values: Measured[] | undefined): Cell {
  if (values === undefined || values.length === 0) return undefined;
  const fail = values.find((v): v is { fail: string } => 'fail' in v);
  if (fail !== undefined) return fail;
  const sorted = values.map((v) => (v as { value: number }).value).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { value: median };
}

function valueOf(cell: Cell): number | undefined {
  return cell !== undefined && 'value' in cell ? cell.value : undefined;
}

function formatNumber(v: number, decimals: number): string {
  const s = v.toFixed(decimals);
  const [int, frac] = s.split('.');
  const grouped = (int as string).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

function ratioText(r: number): string {
  return r >= 10 ? `${r.toFixed(0)}x` : r >= 1 ? `${r.toFixed(2)}x` : `${r.toFixed(2)}x`;
}

/** Renders the table. `targets` are the columns that ran. */
export function renderTable(results: Results, targets: readonly TargetName[], sizes: RunSizes, skipped: ReadonlyMap<TargetName, string>): string {
  const info = metricInfo(sizes);
  const columns = TARGET_NAMES.filter((t) => targets.includes(t) || skipped.has(t));
  const pairs: Array<[TargetName, TargetName]> = [['ours', 'go']];
  if (columns.includes('pipes')) pairs.push(['ours', 'pipes']);
  if (columns.includes('proxies')) pairs.push(['ours', 'proxies']);
  if (columns.includes('baseline')) pairs.push(['ours', 'baseline']);
  const header = ['', 'unit', ...columns.map((t) => TARGET_LABELS[t]), ...pairs.map(([a, b]) => `${a} / ${b === 'go' ? 'Go' : b}`)];
  const rows: string[][] = [];
  for (const id of METRIC_IDS) {
    const m = info[id];
    const cellOf = (t: TargetName): Cell => (skipped.has(t) ? { skip: 'skipped' } : reduceCell(results.get(t)?.get(id)));
    const direct = valueOf(cellOf('direct'));
    const row = [m.label, m.unit];
    for (const t of columns) {
      const cell = cellOf(t);
      if (cell === undefined) row.push(t === 'direct' && !m.vsDirect ? '-' : 'n/a');
      else if ('skip' in cell) row.push(cell.skip);
      else if ('fail' in cell) row.push('FAIL');
      else {
        let text = formatNumber(cell.value, m.decimals);
        if (m.vsDirect && t !== 'direct' && direct !== undefined && direct > 0) text += ` (${ratioText(cell.value / direct)})`;
        row.push(text);
      }
    }
    for (const [a, b] of pairs) {
      const va = valueOf(cellOf(a));
      const vb = valueOf(cellOf(b));
      row.push(va !== undefined && vb !== undefined && vb > 0 ? ratioText(va / vb) : '');
    }
    rows.push(row);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string =>
    '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ') + ' |';
  const sep = '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  const out = [line(header), sep, ...rows.map(line)];
  out.push('', 'Ratios in parentheses are to direct (same run); "ours / Go" divides our figure by the Go pair\'s (and "ours / baseline" by our own at the baseline commit).');
  return out.join('\n');
}

/** Lists every failed cell with its reason. */
export function listFailures(results: Results): string[] {
  const out: string[] = [];
  for (const [t, byMetric] of results) {
    for (const [id, values] of byMetric) {
      for (const v of values) if ('fail' in v) out.push(`${TARGET_LABELS[t]} / ${id}: ${v.fail}`);
    }
  }
  return out;
}

/** One target of issue 7 and whether this run met it. */
export interface TargetCheck {
  text: string;
  verdict: 'met' | 'NOT met' | 'n/a';
  detail: string;
}

/** Checks issue 7's targets against the run's figures. */
export function checkTargets(results: Results, sizes: RunSizes): TargetCheck[] {
  const v = (t: TargetName, id: MetricId): number | undefined => valueOf(reduceCell(results.get(t)?.get(id)));
  const checks: TargetCheck[] = [];
  const f = (x: number, d = 0): string => formatNumber(x, d);
  // The same figure for two bare Node TCP pipes in series, when that column ran: the floor of a two-Node-process design,
  // and for two minimal Node HTTP proxies: the floor of a design that parses HTTP at both ends with Node's HTTP code.
  const floorNote = (id: MetricId | undefined, d: number): string => {
    if (id === undefined) return '';
    const notes: string[] = [];
    for (const t of ['pipes', 'proxies'] as const) {
      const x = v(t, id);
      if (x === undefined) continue;
      const direct = v('direct', id);
      const ratio = direct !== undefined && metricInfo(sizes)[id].vsDirect ? ` = ${(x / direct).toFixed(2)}x` : '';
      notes.push(`${TARGET_LABELS[t]}: ${f(x, d)}${ratio}`);
    }
    return notes.length === 0 ? '' : `  (${notes.join('; ')})`;
  };
  const add = (
    text: string,
    a: number | undefined,
    b: number | undefined,
    ok: (a: number, b: number) => boolean,
    detail: (a: number, b: number) => string,
    floor?: { id: MetricId; digits: number },
  ): void => {
    if (a === undefined || b === undefined) checks.push({ text, verdict: 'n/a', detail: 'not measured' });
    else checks.push({ text, verdict: ok(a, b) ? 'met' : 'NOT met', detail: detail(a, b) + floorNote(floor?.id, floor?.digits ?? 0) });
  };
  add('GETs at 50 connections: at least 3x the Go pair\'s req/s', v('ours', 'get50Rps'), v('go', 'get50Rps'), (a, b) => a >= 3 * b, (a, b) => `${f(a)} vs ${f(b)} req/s = ${(a / b).toFixed(2)}x`, { id: 'get50Rps', digits: 0 });
  add('GETs at 50 connections: p99 no worse than the Go pair\'s', v('ours', 'get50P99'), v('go', 'get50P99'), (a, b) => a <= b, (a, b) => `${f(a, 2)} vs ${f(b, 2)} ms`);
  add('relay CPU per 1 000 requests at most 80 ms', v('ours', 'relayCpuPer1k'), 80, (a, b) => a <= b, (a) => `${f(a)} ms`, { id: 'relayCpuPer1k', digits: 0 });
  add('agent CPU per 1 000 requests at most 80 ms', v('ours', 'agentCpuPer1k'), 80, (a, b) => a <= b, (a) => `${f(a)} ms`, { id: 'agentCpuPer1k', digits: 0 });
  add('one-connection GET p50 at most 0.25 ms', v('ours', 'get1P50'), 0.25, (a, b) => a <= b, (a) => `${f(a, 3)} ms`, { id: 'get1P50', digits: 3 });
  const vsDirect = (id: MetricId, min: number, what: string): void =>
    add(`${what} at least ${min}x direct`, v('ours', id), v('direct', id), (a, b) => a >= min * b, (a, b) => `${f(a)} vs ${f(b)} = ${(a / b).toFixed(2)}x`, { id, digits: 0 });
  vsDirect('download', 0.8, `${size(sizes.downloadBytes)} download`);
  vsDirect('upload', 0.85, `${size(sizes.uploadBytes)} upload`);
  vsDirect('concurrent', 0.75, `${sizes.concurrentCount} concurrent ${size(sizes.concurrentBytes)} downloads`);
  vsDirect('wsPingPong', 0.5, 'WebSocket ping-pong');
  add('relay idle RSS at most 50 MiB', v('ours', 'relayRssIdle'), 50, (a, b) => a <= b, (a) => `${f(a, 1)} MiB`, { id: 'relayRssIdle', digits: 1 });
  add('agent idle RSS at most 40 MiB', v('ours', 'agentRssIdle'), 40, (a, b) => a <= b, (a) => `${f(a, 1)} MiB`, { id: 'agentRssIdle', digits: 1 });
  const info = metricInfo(sizes);
  const behind: string[] = [];
  let compared = 0;
  for (const id of METRIC_IDS) {
    const a = v('ours', id);
    const b = v('localtunnel', id);
    if (a === undefined || b === undefined) continue;
    compared += 1;
    if (info[id].higherIsBetter ? a <= b : a >= b) behind.push(id);
  }
  checks.push(
    compared === 0
      ? { text: 'ahead of localtunnel on every row', verdict: 'n/a', detail: 'localtunnel not measured' }
      : { text: 'ahead of localtunnel on every row', verdict: behind.length === 0 ? 'met' : 'NOT met', detail: behind.length === 0 ? `${compared} rows compared` : `behind on ${behind.join(', ')}` },
  );
  return checks;
}

/** Renders the target checks. */
export function renderTargetChecks(checks: TargetCheck[]): string {
  const w = Math.max(...checks.map((c) => c.text.length));
  return checks.map((c) => `  ${c.verdict.padEnd(7)}  ${c.text.padEnd(w)}  ${c.detail}`).join('\n');
}
