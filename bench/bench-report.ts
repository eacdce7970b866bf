/**
 * Figures and the printed report: medians, ratios, the markdown table, and
 * the machine description that goes with it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import type { RunResult } from './bench-types.js';

const MIB = 1024 * 1024;

/** How a row's figure is computed from a run. */
export type FigureUnit = 'MiB/s' | 'req/s';

/** The figure of one run in `unit`. */
export function figureOf(result: RunResult, unit: FigureUnit): number {
  const seconds = result.elapsedMs / 1000;
  return unit === 'MiB/s' ? result.bytes / MIB / seconds : result.ops / seconds;
}

/** Median of `values` (mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** CPU cost per unit of work: seconds per GiB moved, or microseconds per request. */
export function cpuCostOf(cpuMs: number, result: RunResult, unit: FigureUnit): number {
  return unit === 'MiB/s' ? cpuMs / 1000 / (result.bytes / 1024 ** 3) : (cpuMs * 1000) / result.ops;
}

/** Label of `cpuCostOf`'s unit. */
export function cpuCostUnit(unit: FigureUnit): string {
  return unit === 'MiB/s' ? 'CPU s/GiB' : 'CPU us/req';
}

/** A measured figure: best and median of the runs, every run, CPU cost (median); or the error that stopped it. */
export type Measured =
  | { runs: number[]; best: number; median: number; senderCpu: number; receiverCpu: number }
  | { error: string }
  | undefined;

/** Summarises the runs of one measurement in `unit`. */
export function summarise(results: RunResult[], unit: FigureUnit, error: string | undefined): Measured {
  if (error !== undefined || results.length === 0) return { error: error ?? 'no result' };
  const runs = results.map((r) => figureOf(r, unit));
  return {
    runs,
    best: Math.max(...runs),
    median: median(runs),
    senderCpu: median(results.map((r) => cpuCostOf(r.senderCpuMs, r, unit))),
    receiverCpu: median(results.map((r) => cpuCostOf(r.receiverCpuMs, r, unit))),
  };
}

/** One line of the table. */
export interface ReportRow {
  title: string;
  unit: FigureUnit;
  target: number;
  ours: Measured;
  baseline: Measured;
  baselineLabel: string;
  libp2p: Measured;
}

function formatNumber(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(n >= 10 ? 1 : 2);
}

function formatFigure(m: Measured): string {
  if (m === undefined) return 'n/a';
  if ('error' in m) return 'error';
  return formatNumber(m.median);
}

/**
 * `a` against `b`: the median of the per-round ratios when both have the same
 * rounds (runs interleaved, so each pair ran back to back under the same
 * machine load), else the ratio of the medians.
 */
export function ratioOf(a: Measured, b: Measured): number | undefined {
  if (a === undefined || b === undefined || 'error' in a || 'error' in b || b.median === 0) return undefined;
  if (a.runs.length !== b.runs.length || b.runs.some((v) => v === 0)) return a.median / b.median;
  return median(a.runs.map((v, i) => v / (b.runs[i] as number)));
}

function verdict(ratio: number | undefined, target: number, strictlyAbove: boolean): string {
  if (ratio === undefined) return '-';
  return (strictlyAbove ? ratio > target : ratio >= target) ? 'PASS' : 'FAIL';
}

/** The markdown table (medians of the runs; ratios are medians of per-round ratios): ours, the raw baseline, the ratio against its target, and @libp2p/yamux. */
export function formatTable(rows: ReportRow[]): string {
  const lines = [
    '| workload | ours | raw baseline | ours / raw | target | | @libp2p/yamux | ours / libp2p | |',
    '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const vsRaw = ratioOf(r.ours, r.baseline);
    const vsLibp2p = ratioOf(r.ours, r.libp2p);
    lines.push(
      `| ${r.title} (${r.unit}) | ${formatFigure(r.ours)} | ${formatFigure(r.baseline)} ${r.baselineLabel} | ` +
        `${vsRaw === undefined ? '-' : `${vsRaw.toFixed(2)}x`} | >= ${r.target}x | ${verdict(vsRaw, r.target, false)} | ` +
        `${formatFigure(r.libp2p)} | ${vsLibp2p === undefined ? '-' : `${vsLibp2p.toFixed(2)}x`} | ${verdict(vsLibp2p, 1, true)} |`,
    );
  }
  return lines.join('\n');
}

/** Every run of every measurement, with median and CPU cost, for the record. */
export function formatRuns(entries: Array<{ label: string; unit: FigureUnit; measured: Measured }>): string {
  return entries
    .map(({ label, unit, measured }) => {
      if (measured === undefined) return `- ${label}: not run`;
      if ('error' in measured) return `- ${label}: ERROR ${measured.error.split('\n')[0]}`;
      return (
        `- ${label}: ${measured.runs.map(formatNumber).join(', ')} ${unit} ` +
        `(best ${formatNumber(measured.best)}, median ${formatNumber(measured.median)}; ` +
        `${cpuCostUnit(unit)} sender ${formatNumber(measured.senderCpu)}, receiver ${formatNumber(measured.receiverCpu)})`
      );
    })
    .join('\n');
}

/** Machine, runtime and commit, one line each. */
export function describeMachine(): string {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    cpu = os.cpus()[0]?.model ?? cpu;
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src/mux', 'src/transport', 'src/shared', 'bench'], {
      encoding: 'utf8',
    }).trim();
    if (dirty !== '') commit += ' (with uncommitted changes in src/mux, src/transport, src/shared or bench/)';
  } catch {
    // not a git checkout
  }
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  return [
    `- machine: ${os.availableParallelism()} CPUs, ${cpu}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}`,
    `- runtime: node ${process.version}`,
    `- commit: ${commit}`,
    `- load average at start: ${load}`,
  ].join('\n');
}
