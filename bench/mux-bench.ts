/**
 * `npm run bench`: our yamux against raw TCP, raw WebSocket and @libp2p/yamux,
 * all measured in this one run on 127.0.0.1, printed as a markdown table.
 *
 * Two forked peer processes do the work (one receives, one sends), so each end
 * has its own core; this process only coordinates. Every measurement is run
 * `runs` times, interleaved across systems so drift in machine load hits them
 * alike, after one smaller warm-up run. The table shows the MEDIAN run of each
 * figure (a single lucky run on a shared machine cannot make a row pass), and
 * each ratio is the median of the per-round ratios (the two runs of a round
 * ran back to back, so slow drifts in machine load cancel out). The best run,
 * every run and the CPU cost of both processes (which other load disturbs far
 * less than wall-clock) are printed under the table.
 *
 * Flags:
 *   --quick           small sizes, one run (CI checks the bench works)
 *   --runs=N          runs per measurement (default 7; quick: 1)
 *   --only=TEXT       only rows whose title contains TEXT (repeatable)
 *   --systems=a,b     only these systems: raw, ours, libp2p
 *   --profile         run the peers with --cpu-prof into bench/profiles/
 *   --peer-arg=ARG    extra node flag for the peers (repeatable), e.g. --peer-arg=--trace-gc
 */
import { mkdirSync } from 'node:fs';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeMachine, formatRuns, formatTable, summarise, type FigureUnit, type Measured, type ReportRow } from './bench-report.js';
import type { BenchSetup, BenchSystem, ChannelHandlerKind, RunResult, Workload } from './bench-types.js';
import { PeerProcess } from './peer-process.js';

const KIB = 1024;
const MIB = 1024 * KIB;

interface RowSpec {
  title: string;
  unit: FigureUnit;
  target: number;
  workload: Workload;
  handler: ChannelHandlerKind;
  ours: BenchSetup;
  baseline: BenchSetup;
  baselineLabel: string;
  libp2p: BenchSetup;
}

interface Sizes {
  bulkBytes: number;
  requests: number;
}

const FULL_SIZES: Sizes = { bulkBytes: 512 * MIB, requests: 10_000 };
const QUICK_SIZES: Sizes = { bulkBytes: 64 * MIB, requests: 2_000 };
const CHUNK_BYTES = 64 * KIB;
const REQUEST_BYTES = 1 * KIB;
const REQUEST_CONCURRENCY = 32;
const STREAMS = 100;

function rowSpecs(s: Sizes): RowSpec[] {
  const bulk: Workload = { kind: 'bulk', totalBytes: s.bulkBytes, channels: 1, chunkBytes: CHUNK_BYTES };
  const multi: Workload = { kind: 'bulk', totalBytes: s.bulkBytes, channels: STREAMS, chunkBytes: CHUNK_BYTES };
  const rr: Workload = { kind: 'rr', requests: s.requests, concurrency: REQUEST_CONCURRENCY, requestBytes: REQUEST_BYTES };
  const tcp = (system: BenchSystem, windowBytes = 256 * KIB): BenchSetup => ({ system, link: 'tcp', windowBytes });
  const ws = (system: BenchSystem, windowBytes = 256 * KIB): BenchSetup => ({ system, link: 'ws', windowBytes });
  const mib = (n: number) => `${n / MIB} MiB`;
  return [
    {
      title: `1 stream bulk ${mib(s.bulkBytes)}, 256 KiB window, TCP`,
      unit: 'MiB/s',
      target: 0.85,
      workload: bulk,
      handler: 'sink',
      ours: tcp('ours'),
      baseline: tcp('raw'),
      baselineLabel: '(1 TCP conn)',
      libp2p: tcp('libp2p'),
    },
    {
      title: `1 stream bulk ${mib(s.bulkBytes)}, 4 MiB window, TCP`,
      unit: 'MiB/s',
      target: 0.9,
      workload: bulk,
      handler: 'sink',
      ours: tcp('ours', 4 * MIB),
      baseline: tcp('raw'),
      baselineLabel: '(1 TCP conn)',
      libp2p: tcp('libp2p', 4 * MIB),
    },
    {
      title: `${STREAMS} concurrent streams bulk ${mib(s.bulkBytes)} total, 256 KiB window, TCP`,
      unit: 'MiB/s',
      target: 0.8,
      workload: multi,
      handler: 'sink',
      ours: tcp('ours'),
      baseline: tcp('raw'),
      baselineLabel: `(${STREAMS} TCP conns)`,
      libp2p: tcp('libp2p'),
    },
    {
      title: `fresh stream per 1 KiB request/response, ${REQUEST_CONCURRENCY} in flight, TCP`,
      unit: 'req/s',
      target: 2,
      workload: rr,
      handler: 'echo',
      ours: tcp('ours'),
      baseline: tcp('raw'),
      baselineLabel: '(fresh TCP conn each)',
      libp2p: tcp('libp2p'),
    },
    {
      title: `1 stream bulk ${mib(s.bulkBytes)}, 256 KiB window, WebSocket`,
      unit: 'MiB/s',
      target: 0.8,
      workload: bulk,
      handler: 'sink',
      ours: ws('ours'),
      baseline: ws('raw'),
      baselineLabel: '(raw ws, 64 KiB msgs)',
      libp2p: ws('libp2p'),
    },
    {
      title: `1 stream bulk ${mib(s.bulkBytes)}, 4 MiB window, WebSocket`,
      unit: 'MiB/s',
      target: 0.8,
      workload: bulk,
      handler: 'sink',
      ours: ws('ours', 4 * MIB),
      baseline: ws('raw'),
      baselineLabel: '(raw ws, 64 KiB msgs)',
      libp2p: ws('libp2p', 4 * MIB),
    },
  ];
}

/** One thing to measure: a setup under a workload (shared by rows that need the same figure). */
interface Measurement {
  key: string;
  label: string;
  setup: BenchSetup;
  workload: Workload;
  handler: ChannelHandlerKind;
  results: RunResult[];
  error?: string;
}

function setupLabel(s: BenchSetup): string {
  const name = s.system === 'raw' ? `raw ${s.link}` : `${s.system === 'ours' ? 'ours' : '@libp2p/yamux'} over ${s.link}`;
  return s.system === 'raw' ? name : `${name}, window ${s.windowBytes / KIB} KiB`;
}

function workloadLabel(w: Workload): string {
  return w.kind === 'bulk'
    ? `bulk ${w.totalBytes / MIB} MiB over ${w.channels} channel(s)`
    : `${w.requests} x ${w.requestBytes} B request/response, ${w.concurrency} in flight`;
}

/** Scales a workload down for the warm-up run. */
function warmUpOf(w: Workload): Workload {
  return w.kind === 'bulk' ? { ...w, totalBytes: Math.max(w.channels * w.chunkBytes, Math.floor(w.totalBytes / 8)) } : { ...w, requests: Math.ceil(w.requests / 8) };
}

const RUN_TIMEOUT_MS = 180_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      only: { type: 'string', multiple: true },
      systems: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'peer-arg': { type: 'string', multiple: true },
    },
  });
  const quick = values.quick === true;
  const runs = values.runs !== undefined ? Number.parseInt(values.runs, 10) : quick ? 1 : 7;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer (got: ${values.runs})`);
  const systems = new Set((values.systems ?? 'raw,ours,libp2p').split(',').map((s) => s.trim()));
  const only = values.only ?? [];
  const rows = rowSpecs(quick ? QUICK_SIZES : FULL_SIZES).filter((r) => only.length === 0 || only.some((o) => r.title.includes(o)));

  const execArgv: string[] = [...(values['peer-arg'] ?? [])];
  if (values.profile === true) {
    const dir = fileURLToPath(new URL('./profiles/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }

  // Collect the distinct measurements, grouped by workload so each group's systems run interleaved.
  const measurements = new Map<string, Measurement>();
  const want = (setup: BenchSetup, row: RowSpec): void => {
    if (!systems.has(setup.system)) return;
    const key = JSON.stringify([setup, row.workload]);
    if (!measurements.has(key)) {
      measurements.set(key, { key, label: `${setupLabel(setup)}: ${workloadLabel(row.workload)}`, setup, workload: row.workload, handler: row.handler, results: [] });
    }
  };
  for (const row of rows) {
    want(row.baseline, row);
    want(row.ours, row);
    want(row.libp2p, row);
  }
  const groups = new Map<string, Measurement[]>();
  for (const m of measurements.values()) {
    const key = JSON.stringify(m.workload);
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }

  console.log(`# visiona-tunnel mux benchmark${quick ? ' (--quick: sizes too small for meaningful figures; checks that the harness works)' : ''}\n`);
  console.log(describeMachine());
  console.log(`- method: loopback 127.0.0.1, sender and receiver in two separate processes, ${runs} run(s) per figure after one warm-up run, median shown, ratios = median of per-round ratios (best and all runs below); writes of ${CHUNK_BYTES / KIB} KiB\n`);

  const startedMs = Date.now();
  let receiver = new PeerProcess('receiver', execArgv);
  let sender = new PeerProcess('sender', execArgv);
  const restartPeers = (): void => {
    receiver.kill();
    sender.kill();
    receiver = new PeerProcess('receiver', execArgv);
    sender = new PeerProcess('sender', execArgv);
  };

  for (const group of groups.values()) {
    const ports = new Map<Measurement, number>();
    const runOnce = async (m: Measurement, workload: Workload): Promise<RunResult | undefined> => {
      if (m.error !== undefined) return undefined;
      try {
        let port = ports.get(m);
        if (port === undefined) {
          port = (await receiver.request({ op: 'listen', setup: m.setup, handler: m.handler }, 10_000)).port as number;
          ports.set(m, port);
        }
        const cpuBefore = (await receiver.request({ op: 'cpu' }, 10_000)).cpuMs as number;
        const result = (await sender.request({ op: 'run', setup: m.setup, port, workload }, RUN_TIMEOUT_MS)).result as RunResult;
        const cpuAfter = (await receiver.request({ op: 'cpu' }, 10_000)).cpuMs as number;
        return { ...result, receiverCpuMs: cpuAfter - cpuBefore };
      } catch (err) {
        m.error = err instanceof Error ? err.message : String(err);
        process.stderr.write(`  ${m.label}: ${m.error.split('\n')[0]}\n`);
        restartPeers();
        ports.clear();
        return undefined;
      }
    };
    for (const m of group) await runOnce(m, warmUpOf(m.workload));
    for (let i = 0; i < runs; i++) {
      // Alternate the order so no system always runs first (or right after the same one).
      for (const m of i % 2 === 0 ? group : [...group].reverse()) {
        const result = await runOnce(m, m.workload);
        if (result !== undefined) m.results.push(result);
      }
    }
    for (const port of ports.values()) await receiver.request({ op: 'unlisten', port }, 10_000).catch(() => {});
    process.stderr.write(`  measured: ${workloadLabel(group[0]?.workload as Workload)}\n`);
  }
  await Promise.all([receiver.stop(), sender.stop()]);

  const measuredOf = (setup: BenchSetup, row: RowSpec): Measured => {
    const m = measurements.get(JSON.stringify([setup, row.workload]));
    return m === undefined ? undefined : summarise(m.results, row.unit, m.error);
  };
  const reportRows: ReportRow[] = rows.map((row) => ({
    title: row.title,
    unit: row.unit,
    target: row.target,
    ours: measuredOf(row.ours, row),
    baseline: measuredOf(row.baseline, row),
    baselineLabel: row.baselineLabel,
    libp2p: measuredOf(row.libp2p, row),
  }));
  console.log(formatTable(reportRows));
  // The 100-stream row's other possible baseline: the same bytes over one TCP connection.
  const multiRow = rows.find((r) => r.workload.kind === 'bulk' && r.workload.channels > 1);
  const singleRaw = rows.find((r) => r.workload.kind === 'bulk' && r.workload.channels === 1 && r.baseline.link === 'tcp');
  if (multiRow !== undefined && singleRaw !== undefined && multiRow.workload.kind === 'bulk' && singleRaw.workload.kind === 'bulk' && multiRow.workload.totalBytes === singleRaw.workload.totalBytes) {
    const ours = measuredOf(multiRow.ours, multiRow);
    const one = measuredOf(singleRaw.baseline, singleRaw);
    if (ours !== undefined && one !== undefined && !('error' in ours) && !('error' in one)) {
      // Different workload groups ran at different times: a ratio of medians, not of rounds.
      console.log(`\n${STREAMS} streams against ONE raw TCP connection moving the same bytes: ${(ours.median / one.median).toFixed(2)}x (ratio of medians; measured at different times).`);
    }
  }
  console.log('\nAll runs:\n');
  const unitOf = (m: Measurement): FigureUnit => (m.workload.kind === 'bulk' ? 'MiB/s' : 'req/s');
  console.log(
    formatRuns(
      [...measurements.values()].map((m) => ({
        label: m.label,
        unit: unitOf(m),
        measured: summarise(m.results, unitOf(m), m.error),
      })),
    ),
  );
  console.log(`\nTotal time: ${((Date.now() - startedMs) / 1000).toFixed(1)} s; load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // Figures below target are reported, not failed. A run of ours or of a raw
  // baseline that broke is an error; @libp2p/yamux breaking is only reported.
  const failed = [...measurements.values()].some((m) => m.error !== undefined && m.setup.system !== 'libp2p');
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
