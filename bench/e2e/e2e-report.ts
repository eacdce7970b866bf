/**
 * The end-to-end benchmark's one table (figures, ratios to direct, each of
 * our launch paths against the Go pair, the spread of the launch paths) and
 * the check of issue 16's targets.
 */
import type { Measured } from './transfer-workloads.js';
import { OUR_TARGETS, TARGET_LABELS, TARGET_NAMES, type TargetName } from './targets.js';

/** Rows of the table, in order. */
export const METRIC_IDS = [
  'get1Rps',
  'get1RpsCold',
  'get1P50',
  'get1P50Cold',
  'get1P99',
  'get50Rps',
  'get50RpsCold',
  'get50P50',
  'get50P99',
  'relayCpuPer1k',
  'agentCpuPer1k',
  'download',
  'downloadCold',
  'relayCpuPerGiBDownload',
  'agentCpuPerGiBDownload',
  'upload',
  'uploadCold',
  'concurrent',
  'concurrentCold',
  'wsPingPong',
  'wsPingPongCold',
  'relayRssIdle',
  'agentRssIdle',
  'relayRssAfter',
  'agentRssAfter',
  'relayRssSettled',
  'agentRssSettled',
  'relayRssPeak',
  'agentRssPeak',
] as const;
/** The rows measured cold (first run of the workload after a start, no warm-up), each with its warm row. */
export const COLD_OF = {
  get1Rps: 'get1RpsCold',
  get1P50: 'get1P50Cold',
  get50Rps: 'get50RpsCold',
  download: 'downloadCold',
  upload: 'uploadCold',
  concurrent: 'concurrentCold',
  wsPingPong: 'wsPingPongCold',
} as const satisfies Partial<Record<MetricId, MetricId>>;
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
  /** A cold row: its ratio is to direct's figure of this (warm) row; direct itself has no cold figure. */
  warmOf?: MetricId;
}

/** Labels depend on the sizes of the run (quick mode uses small ones). */
export interface RunSizes {
  getConnectionsMany: number;
  downloadBytes: number;
  uploadBytes: number;
  concurrentCount: number;
  concurrentBytes: number;
  wsMessageBytes: number;
  /** When the settled RSS is read, in seconds after the load. */
  afterLoadS: number;
}

/** Row descriptions for the run's sizes. */
export function metricInfo(sizes: RunSizes): Record<MetricId, MetricInfo> {
  const c = sizes.getConnectionsMany;
  const rate = (label: string, unit: string): MetricInfo => ({ label, unit, higherIsBetter: true, vsDirect: true, decimals: 0 });
  const lat = (label: string): MetricInfo => ({ label, unit: 'ms', higherIsBetter: false, vsDirect: true, decimals: 3 });
  const own = (label: string, unit: string, decimals = 0): MetricInfo => ({ label, unit, higherIsBetter: false, vsDirect: false, decimals });
  const warmInfo: Record<Exclude<MetricId, (typeof COLD_OF)[keyof typeof COLD_OF]>, MetricInfo> = {
    get1Rps: rate('small GET, 1 connection', 'req/s'),
    get1P50: lat('  p50'),
    get1P99: lat('  p99'),
    get50Rps: rate(`small GET, ${c} connections`, 'req/s'),
    get50P50: lat('  p50'),
    get50P99: lat('  p99'),
    relayCpuPer1k: own(`relay CPU per 1 000 requests (${c} conn)`, 'ms'),
    agentCpuPer1k: own(`agent CPU per 1 000 requests (${c} conn)`, 'ms'),
    download: rate(`${size(sizes.downloadBytes)} download`, 'MiB/s'),
    relayCpuPerGiBDownload: own('  relay CPU per GiB of that download', 'ms'),
    agentCpuPerGiBDownload: own('  agent CPU per GiB of that download', 'ms'),
    upload: rate(`${size(sizes.uploadBytes)} upload, echoed back`, 'MiB/s'),
    concurrent: rate(`${sizes.concurrentCount} concurrent ${size(sizes.concurrentBytes)} downloads`, 'MiB/s'),
    wsPingPong: rate(`WebSocket ${size(sizes.wsMessageBytes)} ping-pong`, 'msg/s'),
    relayRssIdle: own('relay RSS, idle after start', 'MiB', 1),
    agentRssIdle: own('agent RSS, idle after start', 'MiB', 1),
    relayRssAfter: own('relay RSS, right after the load', 'MiB', 1),
    agentRssAfter: own('agent RSS, right after the load', 'MiB', 1),
    relayRssSettled: own(`relay RSS, ${sizes.afterLoadS} s after the load`, 'MiB', 1),
    agentRssSettled: own(`agent RSS, ${sizes.afterLoadS} s after the load`, 'MiB', 1),
    relayRssPeak: own('relay RSS, peak', 'MiB', 1),
    agentRssPeak: own('agent RSS, peak', 'MiB', 1),
  };
  const cold = (warm: keyof typeof COLD_OF, label: string): MetricInfo => ({ ...warmInfo[warm], label: `  cold: ${label}`, warmOf: warm });
  return {
    ...warmInfo,
    get1RpsCold: cold('get1Rps', 'req/s, first after a start'),
    get1P50Cold: cold('get1P50', 'p50, first after a start'),
    get50RpsCold: cold('get50Rps', 'req/s, first after a start'),
    downloadCold: cold('download', 'first transfer after a start'),
    uploadCold: cold('upload', 'first transfer after a start'),
    concurrentCold: cold('concurrent', 'first transfer after a start'),
    wsPingPongCold: cold('wsPingPong', 'first after a start'),
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

/** Our launch paths among `columns`. */
function ourColumns(columns: readonly TargetName[]): TargetName[] {
  return OUR_TARGETS.filter((t) => columns.includes(t));
}

/** Renders the table. `targets` are the columns that ran. */
export function renderTable(results: Results, targets: readonly TargetName[], sizes: RunSizes, skipped: ReadonlyMap<TargetName, string>): string {
  const info = metricInfo(sizes);
  const columns = TARGET_NAMES.filter((t) => targets.includes(t) || skipped.has(t));
  const ours = ourColumns(columns.filter((t) => !skipped.has(t)));
  const pairs: Array<[TargetName, TargetName]> = [];
  for (const t of ours) if (columns.includes('go')) pairs.push([t, 'go']);
  if (columns.includes('baseline')) pairs.push(['ours', 'baseline']);
  const short = (t: TargetName): string => (t === 'go' ? 'Go' : t === 'ours' ? 'cmd' : t === 'ours-node' ? 'node' : t === 'ours-lib' ? 'lib' : t);
  const spread = ours.length >= 2;
  const header = ['', 'unit', ...columns.map((t) => TARGET_LABELS[t]), ...pairs.map(([a, b]) => `${short(a)} / ${short(b)}`), ...(spread ? ['launch spread'] : [])];
  const rows: string[][] = [];
  for (const id of METRIC_IDS) {
    const m = info[id];
    const cellOf = (t: TargetName): Cell => (skipped.has(t) ? { skip: 'skipped' } : reduceCell(results.get(t)?.get(id)));
    const direct = valueOf(skipped.has('direct') ? undefined : reduceCell(results.get('direct')?.get(m.warmOf ?? id)));
    const row = [m.label, m.unit];
    for (const t of columns) {
      const cell = cellOf(t);
      if (cell === undefined) row.push(t === 'direct' && (!m.vsDirect || m.warmOf !== undefined) ? '-' : 'n/a');
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
    if (spread) {
      const vs = ours.map((t) => valueOf(cellOf(t))).filter((x): x is number => x !== undefined && x > 0);
      row.push(vs.length >= 2 ? `${((Math.max(...vs) / Math.min(...vs) - 1) * 100).toFixed(0)} %` : '');
    }
    rows.push(row);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string =>
    '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ') + ' |';
  const sep = '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  const out = [line(header), sep, ...rows.map(line)];
  out.push(
    '',
    'Ratios in parentheses are to direct (same run; a cold row to direct\'s warm figure). "cmd / Go" divides the figure of our installed command by the Go pair\'s',
    '(likewise node = `node bin/visiona-tunnel.js`, lib = the library in a plain Node process); "launch spread": how much the best of our launch paths is above the worst.',
  );
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

/** One target of issue 16 and whether this run met it. */
export interface TargetCheck {
  text: string;
  verdict: 'met' | 'NOT met' | 'n/a';
  detail: string;
}

/** Rows that compare transfers with the two-bare-Node-pipes floor. */
const TRANSFER_ROWS = ['download', 'upload', 'concurrent', 'wsPingPong'] as const;

/**
 * Checks issue 16's targets, for each of our launch paths that ran.
 * `bareNodeRssMiB`: RSS of an idle bare Node process in the same run.
 */
export function checkTargets(results: Results, sizes: RunSizes, bareNodeRssMiB: number | undefined): TargetCheck[] {
  const v = (t: TargetName, id: MetricId): number | undefined => valueOf(reduceCell(results.get(t)?.get(id)));
  const info = metricInfo(sizes);
  const checks: TargetCheck[] = [];
  const f = (x: number, d = 0): string => formatNumber(x, d);
  const ours = OUR_TARGETS.filter((t) => results.has(t));
  const verdict = (measured: number, misses: string[]): TargetCheck['verdict'] => (measured === 0 ? 'n/a' : misses.length === 0 ? 'met' : 'NOT met');
  const better = (id: MetricId, a: number, b: number): boolean => (info[id].higherIsBetter ? a > b : a < b);
  for (const t of ours) {
    const who = TARGET_LABELS[t];
    for (const peer of ['go', 'localtunnel'] as const) {
      const behind: string[] = [];
      let n = 0;
      for (const id of METRIC_IDS) {
        const a = v(t, id);
        const b = v(peer, id);
        if (a === undefined || b === undefined) continue;
        n += 1;
        if (!better(id, a, b)) behind.push(`${id} ${f(a, info[id].decimals)} vs ${f(b, info[id].decimals)}`);
      }
      checks.push({ text: `${who}: ahead of ${TARGET_LABELS[peer]} on every row`, verdict: verdict(n, behind), detail: n === 0 ? 'not measured' : behind.length === 0 ? `${n} rows` : `behind on ${behind.join(', ')}` });
    }
    {
      const misses: string[] = [];
      const seen: string[] = [];
      for (const id of TRANSFER_ROWS) {
        const a = v(t, id);
        const p = v('pipes', id);
        if (a === undefined || p === undefined) continue;
        seen.push(`${id} ${(a / p).toFixed(2)}x`);
        if (a < 0.9 * p) misses.push(id);
      }
      checks.push({ text: `${who}: transfers at least 0.9x of 2 Node pipes`, verdict: verdict(seen.length, misses), detail: seen.length === 0 ? 'not measured' : seen.join(', ') });
    }
    {
      const a = v(t, 'get1P50');
      const p = v('proxies', 'get1P50');
      checks.push(
        a === undefined || p === undefined
          ? { text: `${who}: 1-conn p50 at most 1.15x of 2 Node HTTP proxies`, verdict: 'n/a', detail: 'not measured' }
          : { text: `${who}: 1-conn p50 at most 1.15x of 2 Node HTTP proxies`, verdict: a <= 1.15 * p ? 'met' : 'NOT met', detail: `${f(a, 3)} vs ${f(p, 3)} ms = ${(a / p).toFixed(2)}x` },
      );
    }
    for (const id of ['relayCpuPer1k', 'agentCpuPer1k'] as const) {
      const a = v(t, id);
      const p = v('proxies', id);
      const text = `${who}: ${id === 'relayCpuPer1k' ? 'relay' : 'agent'} CPU per 1 000 GETs at most 1.1x of an HTTP proxy hop`;
      checks.push(a === undefined || p === undefined ? { text, verdict: 'n/a', detail: 'not measured' } : { text, verdict: a <= 1.1 * p ? 'met' : 'NOT met', detail: `${f(a)} vs ${f(p)} ms = ${(a / p).toFixed(2)}x` });
    }
    {
      const misses: string[] = [];
      const seen: string[] = [];
      for (const [warm, coldId] of Object.entries(COLD_OF) as Array<[MetricId, MetricId]>) {
        const w = v(t, warm);
        const c = v(t, coldId);
        if (w === undefined || c === undefined || w <= 0 || c <= 0) continue;
        const r = info[warm].higherIsBetter ? c / w : w / c;
        seen.push(`${warm} ${r.toFixed(2)}x`);
        if (r < 0.8) misses.push(warm);
      }
      checks.push({ text: `${who}: cold within 0.8x of warm`, verdict: verdict(seen.length, misses), detail: seen.length === 0 ? 'not measured' : seen.join(', ') });
    }
    for (const side of ['relay', 'agent'] as const) {
      const idle = v(t, `${side}RssIdle`);
      const settled = v(t, `${side}RssSettled`);
      const text1 = `${who}: ${side} idle RSS at most 8 MiB above a bare Node process`;
      checks.push(
        idle === undefined || bareNodeRssMiB === undefined
          ? { text: text1, verdict: 'n/a', detail: 'not measured' }
          : { text: text1, verdict: idle <= bareNodeRssMiB + 8 ? 'met' : 'NOT met', detail: `${f(idle, 1)} vs ${f(bareNodeRssMiB, 1)} MiB (+${f(idle - bareNodeRssMiB, 1)})` },
      );
      const text2 = `${who}: ${side} RSS ${sizes.afterLoadS} s after the load at most 1.5x idle`;
      checks.push(
        idle === undefined || settled === undefined
          ? { text: text2, verdict: 'n/a', detail: 'not measured' }
          : { text: text2, verdict: settled <= 1.5 * idle ? 'met' : 'NOT met', detail: `${f(settled, 1)} vs ${f(idle, 1)} MiB = ${(settled / idle).toFixed(2)}x` },
      );
    }
  }
  if (ours.length >= 2) {
    const misses: string[] = [];
    let n = 0;
    for (const id of METRIC_IDS) {
      const vs = ours.map((t) => v(t, id)).filter((x): x is number => x !== undefined && x > 0);
      if (vs.length < 2) continue;
      n += 1;
      const r = Math.max(...vs) / Math.min(...vs);
      if (r > 1.1) misses.push(`${id} ${((r - 1) * 100).toFixed(0)} %`);
    }
    checks.push({ text: 'the launch paths within 10 % of each other on every row', verdict: verdict(n, misses), detail: n === 0 ? 'not measured' : misses.length === 0 ? `${n} rows` : misses.join(', ') });
  }
  return checks;
}

/** Renders the target checks. */
export function renderTargetChecks(checks: TargetCheck[]): string {
  const w = Math.max(...checks.map((c) => c.text.length));
  return checks.map((c) => `  ${c.verdict.padEnd(7)}  ${c.text.padEnd(w)}  ${c.detail}`).join('\n');
}
