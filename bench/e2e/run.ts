/**
 * `npm run bench:e2e`: end-to-end benchmark of the tunnel against direct
 * access, the Go original and localtunnel, all in front of the same origin
 * (`ref-origin`), measured in one run so the ratios hold on a shared machine.
 *
 *   node --import tsx bench/e2e/run.ts [--quick] [--rounds=N] [--targets=direct,go,localtunnel,pipes,proxies,ours,ours-node,ours-lib]
 *       [--only=get1,get50,download,upload,concurrent,ws] [--profile] [--log-level=LEVEL]
 *       [--agent-config=JSON] [--relay-config=JSON] [--baseline=GIT_REF] [--node-args="FLAGS"] [--baseline-node-args="FLAGS"] [--baseline-agent-config=JSON] [--no-build] [--node-load] [--json=FILE]
 *
 * Our pair runs three ways, as users launch it: `ours` the installed command
 * (a symlink `visiona-tunnel` to the built bin, executed: its launcher line
 * applies), `ours-node` `node bin/visiona-tunnel.js` (no flag), `ours-lib`
 * our package imported by a plain Node process (bench/e2e/library-host.mjs).
 * Each row is measured cold (the workload first thing after a fresh start,
 * no warm-up) and warm.
 * --quick: tiny sizes and half-second runs, to check the harness in CI (about a minute; more on a busy machine).
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
import { ManagedProcess } from './managed-process.js';
import {
  HELLO_BODY,
  TARGET_LABELS,
  TARGET_NAMES,
  buildBaselineCli,
  buildOurCli,
  findLocaltunnel,
  installOurCommand,
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
  /** Run each transfer workload once, smaller, before measuring it warm (JIT, pooled local connections). */
  warmupTransfers: boolean;
  get1Ms: number;
  get50Ms: number;
  /** Length of the cold GET runs (the first seconds after a start are what differs). */
  coldGetMs: number;
  wsMs: number;
  transferTimeoutMs: number;
  settleMs: number;
  /**
   * Cold pass: a fresh start of the target before each workload (true), or
   * one start and every workload in turn, no warm-up (false: quick mode).
   */
  coldRestartEach: boolean;
}

const FULL: Plan = {
  quick: false,
  warmupMs: 2000,
  warmupTransfers: true,
  get1Ms: 5000,
  get50Ms: 10_000,
  coldGetMs: 2000,
  getConnectionsMany: 50,
  downloadBytes: 1024 * MIB,
  uploadBytes: 256 * MIB,
  concurrentCount: 100,
  concurrentBytes: MIB,
  wsMessageBytes: 1024,
  wsMs: 5000,
  transferTimeoutMs: 180_000,
  settleMs: 1000,
  afterLoadS: 30,
  coldRestartEach: true,
};

const QUICK: Plan = {
  quick: true,
  warmupMs: 0,
  warmupTransfers: false,
  get1Ms: 500,
  get50Ms: 500,
  coldGetMs: 300,
  getConnectionsMany: 50,
  downloadBytes: 16 * MIB,
  uploadBytes: 8 * MIB,
  concurrentCount: 100,
  concurrentBytes: 64 * 1024,
  wsMessageBytes: 1024,
  wsMs: 300,
  transferTimeoutMs: 30_000,
  settleMs: 200,
  afterLoadS: 0.5,
  coldRestartEach: false,
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
  return cpuPer(p, beforeMs, Math.max(1, requests) / 1000);
}

/** CPU time of `p` since `beforeMs`, divided by `units`. */
function cpuPer(p: ManagedProcess | undefined, beforeMs: number | undefined, units: number): Measured | undefined {
  if (p === undefined || beforeMs === undefined) return undefined;
  const after = p.sample();
  if (after === undefined) return { fail: `${p.name} exited` };
  return { value: (after.cpuMs - beforeMs) / units };
}

type Put = (id: MetricId, m: Measured | undefined) => void;

/** Runs workload `w` once against `target`: cold (no warm-up, `*Cold` rows) or warm (with the plan's warm-ups). */
async function runWorkload(target: Target, w: Workload, plan: Plan, cold: boolean, put: Put, forceNode: boolean, log: (s: string) => void): Promise<void> {
  const t = target.name;
  const endpoint = { baseUrl: target.baseUrl, hostHeader: target.hostHeader };
  const hello = { url: `${target.baseUrl}/hello`, host: target.hostHeader, expectStatus: 200, expectBodyBytes: Buffer.byteLength(HELLO_BODY) };
  const tag = cold ? ' (cold)' : '';
  const warm = !cold && plan.warmupTransfers;
  switch (w) {
    case 'get1': {
      log(`  ${t}: GET, 1 connection${tag}`);
      const c = loadCells(await runHttpLoad({ ...hello, connections: 1, durationMs: cold ? plan.coldGetMs : plan.get1Ms }, forceNode));
      if (cold) {
        put('get1RpsCold', c.rps);
        put('get1P50Cold', c.p50);
      } else {
        put('get1Rps', c.rps);
        put('get1P50', c.p50);
        put('get1P99', c.p99);
      }
      return;
    }
    case 'get50': {
      log(`  ${t}: GET, ${plan.getConnectionsMany} connections${tag}`);
      if (cold) {
        put('get50RpsCold', loadCells(await runHttpLoad({ ...hello, connections: plan.getConnectionsMany, durationMs: plan.coldGetMs }, forceNode)).rps);
        return;
      }
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
      return;
    }
    case 'download':
      log(`  ${t}: download${tag}`);
      if (warm) await measureDownload(endpoint, 64 * MIB, plan.transferTimeoutMs);
      if (cold) {
        put('downloadCold', await measureDownload(endpoint, plan.downloadBytes, plan.transferTimeoutMs));
        return;
      }
      {
        // CPU per GiB: steadier than MiB/s on a shared machine.
        const relayBefore = target.relay?.sample()?.cpuMs;
        const agentBefore = target.agent?.sample()?.cpuMs;
        const m = await measureDownload(endpoint, plan.downloadBytes, plan.transferTimeoutMs);
        put('download', m);
        if ('value' in m) {
          const gib = plan.downloadBytes / 1024 ** 3;
          put('relayCpuPerGiBDownload', cpuPer(target.relay, relayBefore, gib));
          put('agentCpuPerGiBDownload', cpuPer(target.agent, agentBefore, gib));
        }
      }
      return;
    case 'upload':
      log(`  ${t}: upload${tag}`);
      if (warm) await measureUpload(endpoint, 32 * MIB, plan.transferTimeoutMs);
      put(cold ? 'uploadCold' : 'upload', await measureUpload(endpoint, plan.uploadBytes, plan.transferTimeoutMs));
      return;
    case 'concurrent':
      log(`  ${t}: concurrent downloads${tag}`);
      if (warm) await measureConcurrentDownloads(endpoint, plan.concurrentCount, plan.concurrentBytes, plan.transferTimeoutMs);
      put(cold ? 'concurrentCold' : 'concurrent', await measureConcurrentDownloads(endpoint, plan.concurrentCount, plan.concurrentBytes, plan.transferTimeoutMs));
      return;
    case 'ws':
      log(`  ${t}: WebSocket ping-pong${tag}`);
      if (warm) await measureWebSocketPingPong(endpoint, plan.wsMessageBytes, 1000);
      put(cold ? 'wsPingPongCold' : 'wsPingPong', await measureWebSocketPingPong(endpoint, plan.wsMessageBytes, plan.wsMs));
      return;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One round over `order`, interleaved by workload so that every column of a
 * row is measured within a short time of the others (a shared machine's load
 * drifts over minutes):
 *
 * - cold pass: for each workload, each system in turn is started fresh, runs
 *   that workload first thing (no warm-up), and is stopped; in quick mode all
 *   systems are started once and run every workload cold in turn;
 * - warm pass: every system started (idle RSS read once all serve), then for
 *   each workload each system in turn, after its warm-ups (GETs before the
 *   first GET row, each transfer once smaller before it is measured); RSS
 *   right after the load and `afterLoadS` later, all systems alike.
 *
 * `direct` has no cold pass. A system that fails to start is left out of the
 * rest of the round, with the reason in `failures`.
 */
async function measureRound(
  order: readonly TargetName[],
  start: (name: TargetName) => Promise<Target>,
  plan: Plan,
  only: readonly Workload[],
  results: Results,
  failures: string[],
  forceNode: boolean,
  log: (s: string) => void,
): Promise<void> {
  const putFor =
    (name: TargetName): Put =>
    (id, m) => {
      if (m !== undefined) record(results, name, id, m);
    };
  const failed = new Set<TargetName>();
  const fail = (name: TargetName, err: unknown): void => {
    const message = err instanceof Error ? err.message : String(err);
    failures.push(`${TARGET_LABELS[name]}: ${message}`);
    log(`  ${name} failed: ${message}`);
    failed.add(name);
  };
  const startAll = async (names: readonly TargetName[]): Promise<Target[]> => {
    const started: Target[] = [];
    for (const name of names) {
      if (failed.has(name)) continue;
      try {
        started.push(await start(name));
      } catch (err) {
        fail(name, err);
      }
    }
    await sleep(plan.settleMs);
    return started;
  };
  const stopAll = async (targets: readonly Target[]): Promise<void> => {
    for (const t of targets) await t.stop();
  };
  const run = async (t: Target, w: Workload, cold: boolean): Promise<void> => {
    if (failed.has(t.name)) return;
    try {
      await runWorkload(t, w, plan, cold, putFor(t.name), forceNode, log);
    } catch (err) {
      fail(t.name, err);
    }
  };
  const coldNames = order.filter((n) => n !== 'direct');
  if (plan.coldRestartEach) {
    for (const w of only) {
      for (const name of coldNames) {
        const [t] = await startAll([name]);
        if (t === undefined) continue;
        try {
          await run(t, w, true);
        } finally {
          await t.stop();
        }
      }
    }
  }
  log(`  warm pass: starting ${order.join(', ')}`);
  const targets = await startAll(order);
  try {
    const rss = (t: Target, relayId: MetricId, agentId: MetricId): void => {
      putFor(t.name)(relayId, mib(t.relay?.sample()?.rssBytes));
      putFor(t.name)(agentId, mib(t.agent?.sample()?.rssBytes));
    };
    for (const t of targets) rss(t, 'relayRssIdle', 'agentRssIdle');
    if (!plan.coldRestartEach) for (const w of only) for (const t of targets) if (t.name !== 'direct') await run(t, w, true);
    const firstGet = only.find((w) => w === 'get1' || w === 'get50');
    for (const w of only) {
      for (const t of targets) {
        if (w === firstGet && plan.warmupMs > 0) {
          const hello = { url: `${t.baseUrl}/hello`, host: t.hostHeader, expectStatus: 200, expectBodyBytes: Buffer.byteLength(HELLO_BODY) };
          await runHttpLoad({ ...hello, connections: plan.getConnectionsMany, durationMs: plan.warmupMs }, forceNode);
        }
        await run(t, w, false);
      }
    }
    for (const t of targets) {
      rss(t, 'relayRssAfter', 'agentRssAfter');
      putFor(t.name)('relayRssPeak', mib(t.relay?.sample()?.peakRssBytes));
      putFor(t.name)('agentRssPeak', mib(t.agent?.sample()?.peakRssBytes));
    }
    log(`  RSS ${plan.afterLoadS} s after the load`);
    await sleep(plan.afterLoadS * 1000);
    for (const t of targets) rss(t, 'relayRssSettled', 'agentRssSettled');
  } finally {
    await stopAll(targets);
  }
}

/** RSS of an idle bare Node process (`node -e` with one timer), in MiB, after `settleMs`. */
async function bareNodeRss(workDir: string, settleMs: number): Promise<number | undefined> {
  const p = ManagedProcess.start({
    name: 'bare-node',
    command: process.execPath,
    args: ['-e', 'process.stdout.write("ready\\n"); setInterval(() => {}, 1 << 30)'],
    logFile: join(workDir, 'bare-node.log'),
  });
  try {
    await p.waitForLine((l) => (l === 'ready' ? true : undefined), 10_000);
    await sleep(settleMs);
    const rss = p.sample()?.rssBytes;
    return rss === undefined ? undefined : rss / MIB;
  } finally {
    await p.stop();
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
  for (const t of ['go', 'direct', 'ours', 'ours-node', 'ours-lib', 'baseline', 'pipes', 'proxies'] as const) {
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
  const oursRunning = running.some((t) => t.startsWith('ours'));
  if (oursRunning && values['no-build'] !== true) {
    log('building our package (tsc) into node_modules/.cache/visiona-tunnel-bench-e2e ...');
    ourCli = buildOurCli(REPO_ROOT);
  }
  const ourDist = join(dirname(ourCli), '..', 'dist');
  const ourCommand = installOurCommand(ourCli, join(workDir, 'prefix'));
  const ourCliNodeFlags = nodeFlagsOfCli(ourCli);
  let baselineCli: string | undefined;
  if (running.includes('baseline') && values.baseline !== undefined) {
    log(`building our CLI at ${values.baseline} (baseline) ...`);
    baselineCli = buildBaselineCli(REPO_ROOT, values.baseline);
  }

  const results: Results = new Map();
  const startFailures: string[] = [];
  let origin: Awaited<ReturnType<typeof startOrigin>> | undefined;
  const bareRssMiB = await bareNodeRss(workDir, plan.settleMs);
  try {
    if (running.length > 0) origin = await startOrigin({ goBinDir, workDir });
    const ctx: TargetContext = {
      repoRoot: REPO_ROOT,
      workDir,
      originAddr: origin?.addr ?? '',
      goBinDir,
      ourCli,
      ourCommand,
      ourDist,
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
      log(`round ${round}/${rounds}: ${order.map((n) => TARGET_LABELS[n]).join(', ')}`);
      await measureRound(order, (name) => startTarget(name, ctx, round), plan, only, results, startFailures, forceNode, log);
    }
  } finally {
    await origin?.process.stop();
  }

  const out: string[] = [];
  out.push(`# bench:e2e${plan.quick ? ' --quick' : ''}, ${rounds} round${rounds === 1 ? '' : 's'} (median)`);
  out.push(`# ${machineDescription()}`);
  out.push(`# load generator: ${generator}; load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const cliFlags = ourCliNodeFlags.join(' ');
  out.push(`# launcher line of bin/visiona-tunnel.js (ours (command) only): node ${cliFlags === '' ? 'with no flag' : cliFlags}; ours (node bin/), ours (library) and the two Node floors: node with no flag`);
  out.push(`# idle bare Node process (node -e with one timer): RSS ${bareRssMiB === undefined ? 'n/a' : bareRssMiB.toFixed(1)} MiB`);
  out.push(`# cold rows: ${plan.coldRestartEach ? 'each workload run first thing after its own fresh start of the system (no warm-up)' : 'all workloads in turn after one start, no warm-up (quick mode)'}; warm rows: after ${plan.warmupMs} ms of GETs${plan.warmupTransfers ? ', each transfer run once smaller before it is measured' : ''}`);
  if (ctxNote(values)) out.push(`# ours: ${ctxNote(values)}`);
  out.push('');
  out.push(renderTable(results, running, plan, skipped));
  out.push('');
  out.push(plan.quick ? 'Targets of issue 16 (quick mode: tiny sizes and no warm-up, so these verdicts only show the harness works):' : 'Targets of issue 16:');
  out.push(renderTargetChecks(checkTargets(results, plan, bareRssMiB)));
  const failures = [...startFailures, ...listFailures(results)];
  if (failures.length > 0) {
    out.push('', 'Failures:', ...failures.map((f) => `  ${f}`));
  }
  process.stdout.write(out.join('\n') + '\n');
  if (values.json !== undefined) {
    const plain: Record<string, Record<string, Measured[]>> = {};
    for (const [t, m] of results) plain[t] = Object.fromEntries(m);
    writeFileSync(values.json, JSON.stringify({ machine: machineDescription(), plan, rounds, generator, bareNodeRssMiB: bareRssMiB, results: plain, failures }, null, 2));
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
