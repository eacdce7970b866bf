/**
 * `npm run bench:e2e`: end-to-end benchmark of the tunnel against direct
 * access, the Go original and localtunnel, all in front of the same origin
 * (`ref-origin`), measured in one run so the ratios hold on a shared machine.
 *
 *   node --import tsx bench/e2e/run.ts [--quick] [--rounds=N] [--targets=direct,go,localtunnel,ours]
 *       [--only=get1,get50,download,upload,concurrent,ws] [--profile] [--log-level=LEVEL]
 *       [--agent-config=JSON] [--relay-config=JSON] [--baseline=GIT_REF] [--node-args="FLAGS"] [--baseline-node-args="FLAGS"] [--baseline-agent-config=JSON] [--no-build] [--node-load] [--json=FILE]
 *
 * --quick: tiny sizes and one-second runs, to check the harness in CI (< 60 s).
 * --profile: our relay and agent run with `node --cpu-prof` (files in bench/profiles/e2e/).
 * --baseline=REF: also runs our CLI as of git REF (column "ours (baseline)"), for A/B in one run.
 * Exit code 1 when any answer was wrong or a target could not start.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkTargets,
  listFailures,
  renderTable,
  renderTargetChecks,
  type MetricId,
  type Results,
  type RunSizes,
} from './e2e-report.js';
import { nodeFlagsOfCli } from '../cli-node-flags.js';
import { hasWrk, runHttpLoad, type LoadResult } from './http-load.js';
import type { ManagedProcess } from './managed-process.js';
import {
  HELLO_BODY,
  TARGET_LABELS,
  TARGET_NAMES,
  buildBaselineCli,
  buildOurCli,
  findLocaltunnel,
  startOrigin,
  startTarget,
  type Target,
  type TargetContext,
  type TargetName,
} from './targets.js';
import {
  measureConcurrentDownloads,
  measureDownload,
  measureUpload,
  measureWebSocketPingPong,
  type Measured,
} from './transfer-workloads.js';

const WORKLOADS = ['get1', 'get50', 'download', 'upload', 'concurrent', 'ws'] as const;
type Workload = (typeof WORKLOADS)[number];

const MIB = 1024 * 1024;
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Plan extends RunSizes {
  quick: boolean;
  warmupMs: number;
  /** Run each transfer workload once, smaller, before measuring it (JIT, pooled local connections). */
  warmupTransfers: boolean;
  get1Ms: number;
  get50Ms: number;
  wsMs: number;
  transferTimeoutMs: number;
  settleMs: number;
}

const FULL: Plan = {
  quick: false,
  warmupMs: 2000,
  warmupTransfers: true,
  get1Ms: 5000,
  get50Ms: 10_000,
  getConnectionsMany: 50,
  downloadBytes: 1024 * MIB,
  uploadBytes: 256 * MIB,
  concurrentCount: 100,
  concurrentBytes: MIB,
  wsMessageBytes: 1024,
  wsMs: 5000,
  transferTimeoutMs: 180_000,
  settleMs: 1000,
};

const QUICK: Plan = {
  quick: true,
  warmupMs: 0,
  warmupTransfers: false,
  get1Ms: 1000,
  get50Ms: 1000,
  getConnectionsMany: 50,
  downloadBytes: 16 * MIB,
  uploadBytes: 8 * MIB,
  concurrentCount: 100,
  concurrentBytes: 64 * 1024,
  wsMessageBytes: 1024,
  wsMs: 500,
  transferTimeoutMs: 30_000,
  settleMs: 200,
};

function parseJsonOption(name: string, text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new Error(`--${name} must be a JSON object, got ${text}`);
}

function listOption<T extends string>(name: string, text: string | undefined, all: readonly T[]): T[] {
  if (text === undefined) return [...all];
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const item of items) if (!all.includes(item as T)) throw new Error(`--${name}: unknown ${item} (one of ${all.join(', ')})`);
  return items as T[];
}

function machineDescription(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  let commit = 'unknown commit';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    if (dirty !== '') commit += ' (src/ modified)';
  } catch {
    // not a git checkout
  }
  return `${model}, ${cpus().length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB; Node ${process.version}; commit ${commit}`;
}

function record(results: Results, target: TargetName, id: MetricId, m: Measured): void {
  let byMetric = results.get(target);
  if (byMetric === undefined) {
    byMetric = new Map();
    results.set(target, byMetric);
  }
  const list = byMetric.get(id) ?? [];
  list.push(m);
  byMetric.set(id, list);
}

function mib(bytes: number | undefined): Measured | undefined {
  return bytes === undefined ? undefined : { value: bytes / MIB };
}

function loadCells(r: LoadResult): { rps: Measured; p50: Measured; p99: Measured } {
  if (r.bad > 0) {
    const fail = { fail: `${r.bad} wrong of ${r.good + r.bad}: ${r.firstBad ?? ''}` };
    return { rps: fail, p50: fail, p99: fail };
  }
  if (r.good === 0) {
    const fail = { fail: 'no answer at all' };
    return { rps: fail, p50: fail, p99: fail };
  }
  return { rps: { value: r.requestsPerSecond }, p50: { value: r.p50Ms }, p99: { value: r.p99Ms } };
}

function cpuPer1k(p: ManagedProcess | undefined, beforeMs: number | undefined, requests: number): Measured | undefined {
  if (p === undefined || beforeMs === undefined) return undefined;
  const after = p.sample();
  if (after === undefined) return { fail: `${p.name} exited` };
  return { value: ((after.cpuMs - beforeMs) * 1000) / Math.max(1, requests) };
}

async function measureTarget(target: Target, plan: Plan, only: readonly Workload[], results: Results, forceNode: boolean, log: (s: string) => void): Promise<void> {
  const t = target.name;
  const endpoint = { baseUrl: target.baseUrl, hostHeader: target.hostHeader };
  const put = (id: MetricId, m: Measured | undefined): void => {
    if (m !== undefined) record(results, t, id, m);
  };
  const idle = (p: ManagedProcess | undefined): number | undefined => p?.sample()?.rssBytes;
  await new Promise((resolve) => setTimeout(resolve, plan.settleMs));
  put('relayRssIdle', mib(idle(target.relay)));
  put('agentRssIdle', mib(idle(target.agent)));

  const hello = { url: `${target.baseUrl}/hello`, host: target.hostHeader, expectStatus: 200, expectBodyBytes: Buffer.byteLength(HELLO_BODY) };
  if (plan.warmupMs > 0 && (only.includes('get1') || only.includes('get50'))) {
    await runHttpLoad({ ...hello, connections: plan.getConnectionsMany, durationMs: plan.warmupMs }, forceNode);
  }
  if (only.includes('get1')) {
    log(`  ${t}: GET, 1 connection`);
    const c = loadCells(await runHttpLoad({ ...hello, connections: 1, durationMs: plan.get1Ms }, forceNode));
    put('get1Rps', c.rps);
    put('get1P50', c.p50);
    put('get1P99', c.p99);
  }
  if (only.includes('get50')) {
    log(`  ${t}: GET, ${plan.getConnectionsMany} connections`);
    const relayBefore = target.relay?.sample()?.cpuMs;
    const agentBefore = target.agent?.sample()?.cpuMs;
    const r = await runHttpLoad({ ...hello, connections: plan.getConnectionsMany, durationMs: plan.get50Ms }, forceNode);
    const c = loadCells(r);
    put('get50Rps', c.rps);
    put('get50P50', c.p50);
    put('get50P99', c.p99);
    if (r.bad === 0) {
      put('relayCpuPer1k', cpuPer1k(target.relay, relayBefore, r.good));
      put('agentCpuPer1k', cpuPer1k(target.agent, agentBefore, r.good));
    }
  }
  if (only.includes('download')) {
    log(`  ${t}: download`);
    if (plan.warmupTransfers) await measureDownload(endpoint, 64 * MIB, plan.transferTimeoutMs);
    put('download', await measureDownload(endpoint, plan.downloadBytes, plan.transferTimeoutMs));
  }
  if (only.includes('upload')) {
    log(`  ${t}: upload`);
    if (plan.warmupTransfers) await measureUpload(endpoint, 32 * MIB, plan.transferTimeoutMs);
    put('upload', await measureUpload(endpoint, plan.uploadBytes, plan.transferTimeoutMs));
  }
  if (only.includes('concurrent')) {
    log(`  ${t}: concurrent downloads`);
    if (plan.warmupTransfers) await measureConcurrentDownloads(endpoint, plan.concurrentCount, plan.concurrentBytes, plan.transferTimeoutMs);
    put('concurrent', await measureConcurrentDownloads(endpoint, plan.concurrentCount, plan.concurrentBytes, plan.transferTimeoutMs));
  }
  if (only.includes('ws')) {
    log(`  ${t}: WebSocket ping-pong`);
    if (plan.warmupTransfers) await measureWebSocketPingPong(endpoint, plan.wsMessageBytes, 1000);
    put('wsPingPong', await measureWebSocketPingPong(endpoint, plan.wsMessageBytes, plan.wsMs));
  }
  for (const [p, after, peak] of [
    [target.relay, 'relayRssAfter', 'relayRssPeak'],
    [target.agent, 'agentRssAfter', 'agentRssPeak'],
  ] as const) {
    const s = p?.sample();
    put(after, mib(s?.rssBytes));
    put(peak, mib(s?.peakRssBytes));
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      targets: { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'log-level': { type: 'string' },
      'agent-config': { type: 'string' },
      'baseline-agent-config': { type: 'string' },
      'relay-config': { type: 'string' },
      baseline: { type: 'string' },
      'node-args': { type: 'string' },
      'baseline-node-args': { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'node-load': { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help === true) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]?.replace(/^\/\*\*|^ \* ?/gm, '') ?? '');
    return 0;
  }
  const plan = values.quick === true ? QUICK : FULL;
  const rounds = Number.parseInt(values.rounds ?? '1', 10);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  const targets = listOption('targets', values.targets, TARGET_NAMES).filter((t) => t !== 'baseline' || values.baseline !== undefined);
  if (values.baseline !== undefined && !targets.includes('baseline')) targets.push('baseline');
  const only = listOption('only', values.only, WORKLOADS);
  const log = (s: string): void => void process.stderr.write(`${s}\n`);

  const goBinDir = process.env.VT_BENCH_GO_BIN_DIR ?? join(REPO_ROOT, '.interop-bin');
  const workDir = mkdtempSync(join(tmpdir(), 'vt-bench-e2e-'));
  const skipped = new Map<TargetName, string>();
  const localtunnel = findLocaltunnel();
  if (targets.includes('localtunnel') && localtunnel === undefined) skipped.set('localtunnel', 'not installed');
  for (const t of ['go', 'direct', 'ours', 'baseline'] as const) {
    try {
      readFileSync(join(goBinDir, t === 'go' ? 'ref-relay' : 'ref-origin'));
    } catch {
      if (targets.includes(t)) skipped.set(t, 'no Go peers');
    }
  }
  const running = targets.filter((t) => !skipped.has(t));
  const forceNode = values['node-load'] === true;
  const generator = !forceNode && hasWrk() ? 'wrk (1 thread)' : 'in-process Node generator (wrk not installed)';
  const profileDir = join(REPO_ROOT, 'bench', 'profiles', 'e2e');
  if (values.profile === true) mkdirSync(profileDir, { recursive: true });

  log(`bench:e2e ${plan.quick ? '(quick) ' : ''}${machineDescription()}`);
  log(`load generator: ${generator}; load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  let ourCli = join(REPO_ROOT, 'bin', 'visiona-tunnel.js');
  if (running.includes('ours') && values['no-build'] !== true) {
    log('building our CLI (tsc) into bench/e2e/.build ...');
    ourCli = buildOurCli(REPO_ROOT);
  }
  const ourCliNodeFlags = nodeFlagsOfCli(ourCli);
  let baselineCli: string | undefined;
  if (running.includes('baseline') && values.baseline !== undefined) {
    log(`building our CLI at ${values.baseline} (baseline) ...`);
    baselineCli = buildBaselineCli(REPO_ROOT, values.baseline);
  }

  const results: Results = new Map();
  const startFailures: string[] = [];
  let origin: Awaited<ReturnType<typeof startOrigin>> | undefined;
  try {
    if (running.length > 0) origin = await startOrigin({ goBinDir, workDir });
    const ctx: TargetContext = {
      repoRoot: REPO_ROOT,
      workDir,
      originAddr: origin?.addr ?? '',
      goBinDir,
      ourCli,
      baselineCli,
      ourCliNodeFlags,
      ourNodeArgs: [
        ...(values.profile === true ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
        ...(values['node-args'] ?? '').split(' ').filter((a) => a !== ''),
      ],
      baselineNodeArgs:
        values['baseline-node-args'] === undefined
          ? undefined
          : values['baseline-node-args'].split(' ').filter((a) => a !== ''),
      ourLogLevel: values['log-level'],
      ourAgentConfig: parseJsonOption('agent-config', values['agent-config']),
      baselineAgentConfig:
        values['baseline-agent-config'] === undefined ? undefined : parseJsonOption('baseline-agent-config', values['baseline-agent-config']),
      ourRelayConfig: parseJsonOption('relay-config', values['relay-config']),
      localtunnel,
    };
    for (let round = 1; round <= rounds; round++) {
      // Alternate the order each round, so no system always runs on a warmer (or busier) machine.
      const order = round % 2 === 1 ? running : [...running].reverse();
      for (const name of order) {
        log(`round ${round}/${rounds}: ${TARGET_LABELS[name]}`);
        let target: Target | undefined;
        try {
          target = await startTarget(name, ctx, round);
          await measureTarget(target, plan, only, results, forceNode, log);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          startFailures.push(`${TARGET_LABELS[name]}: ${message}`);
          log(`  ${name} failed: ${message}`);
        } finally {
          await target?.stop();
        }
      }
    }
  } finally {
    await origin?.process.stop();
  }

  const out: string[] = [];
  out.push(`# bench:e2e${plan.quick ? ' --quick' : ''}, ${rounds} round${rounds === 1 ? '' : 's'} (median)`);
  out.push(`# ${machineDescription()}`);
  out.push(`# load generator: ${generator}; load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const cliFlags = ourCliNodeFlags.join(' ');
  out.push(`# node flags of bin/visiona-tunnel.js (ours and the two Node floors): ${cliFlags === '' ? 'none' : cliFlags}`);
  if (ctxNote(values)) out.push(`# ours: ${ctxNote(values)}`);
  out.push('');
  out.push(renderTable(results, running, plan, skipped));
  out.push('');
  out.push(plan.quick ? 'Targets of issue 7 (quick mode: tiny sizes and no warm-up, so these verdicts only show the harness works):' : 'Targets of issue 7:');
  out.push(renderTargetChecks(checkTargets(results, plan)));
  const failures = [...startFailures, ...listFailures(results)];
  if (failures.length > 0) {
    out.push('', 'Failures:', ...failures.map((f) => `  ${f}`));
  }
  process.stdout.write(out.join('\n') + '\n');
  if (values.json !== undefined) {
    const plain: Record<string, Record<string, Measured[]>> = {};
    for (const [t, m] of results) plain[t] = Object.fromEntries(m);
    writeFileSync(values.json, JSON.stringify({ machine: machineDescription(), plan, rounds, generator, results: plain, failures }, null, 2));
  }
  if (failures.length === 0) rmSync(workDir, { recursive: true, force: true });
  else log(`logs kept in ${workDir}`);
  return failures.length === 0 ? 0 : 1;
}

function ctxNote(values: Record<string, unknown>): string {
  const parts: string[] = [];
  if (values['log-level'] !== undefined) parts.push(`log level ${String(values['log-level'])}`);
  if (values['agent-config'] !== undefined) parts.push(`agent config ${String(values['agent-config'])}`);
  if (values['baseline-agent-config'] !== undefined) parts.push(`baseline agent config ${String(values['baseline-agent-config'])}`);
  if (values['relay-config'] !== undefined) parts.push(`relay config ${String(values['relay-config'])}`);
  if (values.baseline !== undefined) parts.push(`baseline: our CLI at ${String(values.baseline)}`);
  if (values.profile === true) parts.push('profiled (--cpu-prof)');
  if (values['node-args'] !== undefined) parts.push(`node ${String(values['node-args'])}`);
  if (values['baseline-node-args'] !== undefined) parts.push(`baseline node ${String(values['baseline-node-args'])}`);
  if (values['no-build'] === true) parts.push('run from sources through tsx');
  return parts.join('; ');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench:e2e failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
