/**
 * `npm run bench:agents`: how many idle agents one relay process holds, and
 * what they cost it. For each N, a load-generator process opens N agent
 * sessions (real WebSockets on 127.0.0.x, our mux in the client role,
 * keepalive every 10 s) to one relay process, and this orchestrator reports:
 *
 * - relay RSS per idle agent, (RSS_N - RSS_0) / N, after 30 s idle, after
 *   60 s, and at the end of the CPU window;
 * - keepalive CPU: relay utime + stime over an idle window, as % of one core;
 * - the time for all N to reconnect after the relay is killed (SIGKILL) and
 *   restarted on the same ports (the agents' own backoff with +/-20 % jitter);
 * - visitor requests served meanwhile (a visitor loop to one real
 *   `TunnelClient` whose local service is a tiny HTTP server).
 *
 * Usage: npm run bench:agents -- [--quick] [--n=1000,5000,10000] [--relay=ours|go|both]
 *        [--phases=30,60,60] [--heap-snapshot=DIR] [--live-heap] [--trace-gc] [--json=FILE] [--no-restart] [--tsx]
 *
 * Our relay runs as compiled JavaScript (tsc, as `npm run build` ships it);
 * `--tsx` runs it from the TypeScript sources instead. `--heap-snapshot`
 * stops the relay for seconds while it writes, `--live-heap` forces full
 * GCs to report live heap bytes per agent: diagnosis only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TunnelClient } from '../../src/agent/index.js';
import { nodeFlagsOfCli } from '../cli-node-flags.js';
import { machineDescription } from './machine.js';
import { prepareStore, VISITOR_AGENT_NAME } from './agent-fixtures.js';
import type { LoadGeneratorCommand, LoadGeneratorStatus } from './bench-agents-types.js';
import { ChildHandle } from './child-handle.js';
import { compileRelayProcess } from './compile-relay.js';
import { readCpuMs, readOpenFds, readRssByKind, readRssBytes } from './proc-stats.js';
import { startRelay, type RelayKind, type RelayUnderTest } from './relay-under-test.js';
import { VisitorLoop, type VisitorTally } from './visitor-loop.js';

const LOAD_GENERATOR_ENTRY = fileURLToPath(new URL('./load-generator.ts', import.meta.url));
const RELAY_SOURCE = fileURLToPath(new URL('./relay-process.ts', import.meta.url));

/** Targets of the issue ("Scale of one relay"). */
const TARGETS = Object.freeze({ kibPerAgent: 20, cpuPercent: 10, reconnectS: 60 });
/** Agents per source address (one address has ~28 000 ephemeral ports; a restart needs old + new). */
const AGENTS_PER_SOURCE_ADDRESS = 4_000;

interface Phases {
  settleMs: number;
  baselineCpuMs: number;
  firstIdleMs: number;
  secondIdleMs: number;
  cpuWindowMs: number;
  visitorsAroundRestartMs: number;
  reconnectTimeoutMs: number;
}

const FULL: Phases = {
  settleMs: 3_000,
  baselineCpuMs: 10_000,
  firstIdleMs: 30_000,
  secondIdleMs: 60_000,
  cpuWindowMs: 60_000,
  visitorsAroundRestartMs: 3_000,
  reconnectTimeoutMs: 180_000,
};
const QUICK: Phases = {
  settleMs: 1_000,
  baselineCpuMs: 2_000,
  firstIdleMs: 3_000,
  secondIdleMs: 6_000,
  cpuWindowMs: 5_000,
  visitorsAroundRestartMs: 1_500,
  reconnectTimeoutMs: 40_000,
};

interface Args {
  quick: boolean;
  counts: number[];
  relays: RelayKind[];
  heapSnapshotDir: string | undefined;
  /** Diagnosis: force GC at the start and the end to report the live heap per agent (disturbs RSS figures). */
  liveHeap: boolean;
  /** Overrides of the first idle mark, second idle mark and CPU window, in seconds (`--phases=30,60,60`). */
  phases: [number, number, number] | undefined;
  /** Diagnosis: the relay prints one line per GC (`--trace-gc-nvp`: promoted bytes per scavenge ...). */
  traceGc: boolean;
  jsonFile: string | undefined;
  restart: boolean;
  tsx: boolean;
}

function parsePhases(value: string | undefined): [number, number, number] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',').map(Number);
  if (parts.length !== 3 || parts.some((p) => !(p > 0)) || (parts[0] as number) >= (parts[1] as number)) {
    throw new Error('--phases=FIRST_IDLE_S,SECOND_IDLE_S,CPU_WINDOW_S with FIRST < SECOND');
  }
  return parts as [number, number, number];
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const quick = argv.includes('--quick');
  const counts = (get('n') ?? (quick ? '200' : '1000,5000,10000')).split(',').map((s) => Number(s));
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 15_000)) throw new Error('--n: agent counts from 1 to 15000');
  const relay = get('relay') ?? 'ours';
  const relays: RelayKind[] = relay === 'both' ? ['ours', 'go'] : [relay as RelayKind];
  if (!relays.every((r) => r === 'ours' || r === 'go')) throw new Error('--relay: ours, go or both');
  return { quick, counts, relays, heapSnapshotDir: get('heap-snapshot'), liveHeap: argv.includes('--live-heap'), traceGc: argv.includes('--trace-gc'), phases: parsePhases(get('phases')), jsonFile: get('json'), restart: !argv.includes('--no-restart'), tsx: argv.includes('--tsx') };
}

/** One row of results. */
interface RunResult {
  relay: RelayKind;
  agents: number;
  storeSetupMs: number;
  rampMs: number;
  rss0Bytes: number;
  baselineCpuPercent: number;
  rssFirstIdleBytes: number;
  rssSecondIdleBytes: number;
  rssAfterCpuWindowBytes: number;
  /** Mean and max of the once-a-second RSS samples from the first idle mark to the end of the CPU window. */
  rssSteadyMeanBytes: number;
  rssSteadyMaxBytes: number;
  heapUsedSecondIdleBytes: number | undefined;
  externalSecondIdleBytes: number | undefined;
  keepAliveCpuPercent: number;
  agentsAfterIdle: number;
  relayOpenFds: number;
  loadGeneratorRssBytes: number;
  restart?: RestartResult;
}

interface RestartResult {
  /** Kill to the first / the last agent noticing its session ended, ms. */
  firstDownMs: number | null;
  lastDownMs: number | null;
  /** Kill to the new relay listening, ms. */
  relayBackMs: number;
  /** Kill to all N agents back (and counted by the relay), ms; null when not within the timeout. */
  allBackMs: number | null;
  p50BackMs: number | null;
  p90BackMs: number | null;
  /** First to last agent back, ms (the jitter's spread). */
  spreadMs: number | null;
  dials: number;
  failedDials: number;
  visitorsBefore: VisitorTally;
  visitorsRelayDown: VisitorTally;
  visitorsReconnecting: VisitorTally;
  visitorsAfter: VisitorTally;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const sleepUntil = (atMs: number): Promise<void> => sleep(Math.max(0, atMs - Date.now()));
const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const kibPerAgent = (bytes: number, base: number, n: number): number => (bytes - base) / 1024 / n;
const log = (message: string): void => console.log(`[bench:agents ${new Date().toISOString().slice(11, 19)}] ${message}`);

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs: number, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The visitor agent's local service: answers `pong` to everything. */
async function startLocalService(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '4' });
    res.end('pong');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function cpuPercent(pid: number, fromCpuMs: number, fromMs: number): number {
  return ((readCpuMs(pid) - fromCpuMs) / (Date.now() - fromMs)) * 100;
}

async function measure(kind: RelayKind, n: number, phases: Phases, args: Args, relayEntry: string): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-agents-'));
  const cleanups: Array<() => Promise<void>> = [async () => rmSync(dir, { recursive: true, force: true })];
  try {
    const store = await prepareStore(dir, n);
    log(`${kind} relay, N=${n}: store with ${n + 1} agents and tokens in ${store.elapsedMs} ms`);
    const diagnosis = args.heapSnapshotDir !== undefined || args.liveHeap;
    // Our relay runs with the Node flags of bin/visiona-tunnel.js, as it ships.
    const execArgv = [
      ...(kind === 'ours' ? nodeFlagsOfCli(fileURLToPath(new URL('../../bin/visiona-tunnel.js', import.meta.url))) : []),
      ...(diagnosis ? ['--expose-gc'] : []),
      ...(args.traceGc ? ['--trace-gc-nvp'] : []),
    ];
    let relay: RelayUnderTest = await startRelay(kind, { dbPath: store.dbPath, agentPort: 0, publicPort: 0, entry: relayEntry, execArgv });
    cleanups.unshift(() => relay.stop());
    await sleep(phases.settleMs);
    const rss0Bytes = readRssBytes(relay.pid);
    const baselineFromMs = Date.now();
    const baselineFromCpu = readCpuMs(relay.pid);
    await sleep(phases.baselineCpuMs);
    const baselineCpuPercent = cpuPercent(relay.pid, baselineFromCpu, baselineFromMs);
    const liveHeap0Bytes = args.liveHeap ? (await relay.memory(true))?.usage.heapUsed : undefined;
    const byKind0 = readRssByKind(relay.pid);
    log(
      `relay pid ${relay.pid} up: RSS_0 ${mib(rss0Bytes)} MiB (malloc brk heap ${mib(byKind0.brkHeap)}, anonymous ${mib(byKind0.anonymous)}, ` +
        `files ${mib(byKind0.files)} MiB), CPU with no agent ${baselineCpuPercent.toFixed(2)} %`,
    );

    const relayUrl = `ws://127.0.0.1:${relay.agentPort}/tunnel/connect`;
    const local = await startLocalService();
    cleanups.unshift(local.close);
    const visitorAgent = new TunnelClient({ relayUrl, token: store.visitorToken, localAddr: `127.0.0.1:${local.port}` });
    visitorAgent.start();
    cleanups.unshift(() => visitorAgent.stop());
    await waitFor('the visitor agent', async () => (await relay.agents()) >= 1, 20_000);

    const sourceAddresses = Array.from({ length: Math.ceil(n / AGENTS_PER_SOURCE_ADDRESS) }, (_, i) => `127.0.0.${i + 2}`);
    const loadGenerator = new ChildHandle<LoadGeneratorCommand>('load-generator', LOAD_GENERATOR_ENTRY, {
      relayUrl,
      tokensFile: store.tokensFile,
      localAddresses: sourceAddresses,
      dialConcurrency: 100,
      keepAliveIntervalMs: 10_000,
    });
    cleanups.unshift(() => loadGenerator.stop());
    await loadGenerator.ready;
    const ramp = await loadGenerator.request({ op: 'connectAll', timeoutMs: 300_000 }, 310_000);
    const rampStatus = ramp.status as LoadGeneratorStatus;
    if (rampStatus.up !== n) throw new Error(`only ${rampStatus.up} of ${n} agent sessions came up`);
    await waitFor(`the relay to count ${n + 1} agents`, async () => (await relay.agents()) === n + 1, 30_000);
    const idleFromMs = Date.now();
    log(`${n} agents connected in ${ramp.rampMs as number} ms from ${sourceAddresses.join(', ')}; idling`);
    // RSS once a second from /proc (costs the relay nothing): the sawtooth of garbage collection is part of the steady state.
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(readRssBytes(relay.pid)), 1_000);
    cleanups.unshift(async () => clearInterval(sampler));

    await sleepUntil(idleFromMs + phases.firstIdleMs);
    const rssFirstIdleBytes = readRssBytes(relay.pid);
    const steadyFromSample = samples.length;
    log(`after ${phases.firstIdleMs / 1000} s idle: RSS ${mib(rssFirstIdleBytes)} MiB, ${kibPerAgent(rssFirstIdleBytes, rss0Bytes, n).toFixed(1)} KiB/agent`);
    await sleepUntil(idleFromMs + phases.secondIdleMs);
    const rssSecondIdleBytes = readRssBytes(relay.pid);
    const byKind = readRssByKind(relay.pid);
    const memory = await relay.memory();
    log(
      `after ${phases.secondIdleMs / 1000} s idle: RSS ${mib(rssSecondIdleBytes)} MiB, ${kibPerAgent(rssSecondIdleBytes, rss0Bytes, n).toFixed(1)} KiB/agent ` +
        `(malloc brk heap ${mib(byKind.brkHeap)}, anonymous ${mib(byKind.anonymous)}, files ${mib(byKind.files)} MiB)` +
        (memory === undefined
          ? ''
          : ` (heap used ${mib(memory.usage.heapUsed)} of ${mib(memory.usage.heapTotal)} MiB, external ${mib(memory.usage.external)} MiB; ` +
            Object.entries(memory.spaces)
              .filter(([, sp]) => sp.size > 1024 * 1024)
              .map(([name, sp]) => `${name} ${mib(sp.used)}/${mib(sp.size)}`)
              .join(', ') +
            ')'),
    );
    if (args.heapSnapshotDir !== undefined) {
      // Two snapshots one keepalive interval apart: what is new in the second is what idle sessions keep replacing.
      for (const name of ['a', 'b']) {
        if (name === 'b') await sleep(10_000);
        const path = await relay.heapSnapshot(join(args.heapSnapshotDir, `relay-${kind}-${n}-${name}.heapsnapshot`));
        if (path !== undefined) log(`heap snapshot: ${path}`);
      }
    }

    const cpuFromMs = Date.now();
    const cpuFromCpu = readCpuMs(relay.pid);
    await sleep(phases.cpuWindowMs);
    const keepAliveCpuPercent = cpuPercent(relay.pid, cpuFromCpu, cpuFromMs);
    const rssAfterCpuWindowBytes = readRssBytes(relay.pid);
    clearInterval(sampler);
    const steady = samples.slice(steadyFromSample);
    const rssSteadyMaxBytes = Math.max(...steady, rssAfterCpuWindowBytes);
    const rssSteadyMeanBytes = steady.length === 0 ? rssAfterCpuWindowBytes : steady.reduce((a, b) => a + b, 0) / steady.length;
    const agentsAfterIdle = await relay.agents();
    const relayOpenFds = readOpenFds(relay.pid);
    if (liveHeap0Bytes !== undefined) {
      const after = await relay.memory(true);
      if (after !== undefined) log(`live heap after a full GC: ${((after.usage.heapUsed - liveHeap0Bytes) / n).toFixed(0)} B/agent`);
    }
    log(
      `idle CPU ${keepAliveCpuPercent.toFixed(2)} % of one core over ${phases.cpuWindowMs / 1000} s; RSS now ${mib(rssAfterCpuWindowBytes)} MiB ` +
        `(${kibPerAgent(rssAfterCpuWindowBytes, rss0Bytes, n).toFixed(1)} KiB/agent), from ${phases.firstIdleMs / 1000} s on: ` +
        `mean ${kibPerAgent(rssSteadyMeanBytes, rss0Bytes, n).toFixed(1)}, max ${kibPerAgent(rssSteadyMaxBytes, rss0Bytes, n).toFixed(1)} KiB/agent; ` +
        `${agentsAfterIdle} agents; ${relayOpenFds} fds`,
    );
    log(
      `RSS per agent every 10 s from connect, KiB: ` +
        samples
          .filter((_, i) => i % 10 === 9)
          .map((b) => kibPerAgent(b, rss0Bytes, n).toFixed(1))
          .join(' '),
    );
    const loadGeneratorRssBytes = ((await loadGenerator.request({ op: 'status' })).status as LoadGeneratorStatus).rssBytes;

    const result: RunResult = {
      relay: kind,
      agents: n,
      storeSetupMs: store.elapsedMs,
      rampMs: ramp.rampMs as number,
      rss0Bytes,
      baselineCpuPercent,
      rssFirstIdleBytes,
      rssSecondIdleBytes,
      rssAfterCpuWindowBytes,
      rssSteadyMeanBytes,
      rssSteadyMaxBytes,
      heapUsedSecondIdleBytes: memory?.usage.heapUsed,
      externalSecondIdleBytes: memory?.usage.external,
      keepAliveCpuPercent,
      agentsAfterIdle,
      relayOpenFds,
      loadGeneratorRssBytes,
    };
    if (!args.restart) return result;

    // Relay restart: SIGKILL, start again on the same ports, wait for every agent.
    const visitors = new VisitorLoop(`http://127.0.0.1:${relay.publicPort}/a/${VISITOR_AGENT_NAME}/ping`, 'pong');
    cleanups.unshift(() => visitors.stop());
    const visitorsFromMs = Date.now();
    visitors.start();
    await sleep(phases.visitorsAroundRestartMs);
    await loadGenerator.request({ op: 'mark' });
    const killAtMs = Date.now();
    await relay.kill();
    relay = await startRelay(kind, { dbPath: store.dbPath, agentPort: relay.agentPort, publicPort: relay.publicPort, entry: relayEntry, execArgv });
    const relayBackAtMs = Date.now();
    log(`relay killed and restarted (listening again after ${relayBackAtMs - killAtMs} ms); waiting for ${n + 1} agents`);
    let status: LoadGeneratorStatus | undefined;
    let allBackAtMs: number | null = null;
    try {
      await waitFor(
        'every agent to reconnect',
        async () => {
          status = (await loadGenerator.request({ op: 'status' })).status as LoadGeneratorStatus;
          if (status.reconnectedSinceMark < n || status.up < n) return false;
          if ((await relay.agents()) !== n + 1) return false;
          allBackAtMs = Date.now();
          return true;
        },
        phases.reconnectTimeoutMs,
        100,
      );
    } catch (err) {
      log((err as Error).message);
    }
    const reconnectedAtMs: number = allBackAtMs ?? Date.now();
    await sleep(phases.visitorsAroundRestartMs);
    await visitors.stop();
    status = (await loadGenerator.request({ op: 'status' })).status as LoadGeneratorStatus;
    const restart: RestartResult = {
      firstDownMs: status.firstDownAtMs === null ? null : status.firstDownAtMs - killAtMs,
      lastDownMs: status.lastDownAtMs === null ? null : status.lastDownAtMs - killAtMs,
      relayBackMs: relayBackAtMs - killAtMs,
      // The last agent's session-up time (the relay's own count was checked to agree).
      allBackMs: allBackAtMs === null ? null : (status.lastUpAtMs ?? allBackAtMs) - killAtMs,
      p50BackMs: status.p50UpAfterMs,
      p90BackMs: status.p90UpAfterMs,
      spreadMs: status.firstUpAtMs === null || status.lastUpAtMs === null ? null : status.lastUpAtMs - status.firstUpAtMs,
      dials: status.dialsSinceMark,
      failedDials: status.failedDialsSinceMark,
      visitorsBefore: visitors.tally(visitorsFromMs, killAtMs),
      visitorsRelayDown: visitors.tally(killAtMs, relayBackAtMs),
      visitorsReconnecting: visitors.tally(relayBackAtMs, reconnectedAtMs),
      visitorsAfter: visitors.tally(reconnectedAtMs, Date.now()),
    };
    log(
      `reconnect: sessions seen down ${restart.firstDownMs}-${restart.lastDownMs} ms after the kill; all ${allBackAtMs === null ? 'NOT ' : ''}back ` +
        `${restart.allBackMs === null ? '' : `after ${restart.allBackMs} ms`} ` +
        `(50 % ${restart.p50BackMs} ms, 90 % ${restart.p90BackMs} ms), ${restart.dials} dials (${restart.failedDials} failed); ` +
        `visitors served while reconnecting: ${restart.visitorsReconnecting.served}, failures ${JSON.stringify({ ...restart.visitorsReconnecting.badStatus, ...restart.visitorsReconnecting.errors })}`,
    );
    result.restart = restart;
    return result;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
  }
}

function failures(t: VisitorTally): number {
  return Object.values(t.badStatus).reduce((a, b) => a + b, 0) + Object.values(t.errors).reduce((a, b) => a + b, 0);
}

function table(results: RunResult[]): string {
  const rows = [
    '| relay | N | RSS_0 MiB | KiB/agent 30 s | KiB/agent 60 s | KiB/agent steady mean / max | idle CPU % (no agents) | relay back s | all back s (50 % / 90 %) | dials (failed) | visitors served while reconnecting (failed) | longest visitor gap s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    const k = (b: number): string => kibPerAgent(b, r.rss0Bytes, r.agents).toFixed(1);
    const s = r.restart;
    const sec = (ms: number | null | undefined): string => (ms === null || ms === undefined ? 'n/a' : (ms / 1000).toFixed(1));
    rows.push(
      `| ${r.relay} | ${r.agents} | ${mib(r.rss0Bytes)} | ${k(r.rssFirstIdleBytes)} | ${k(r.rssSecondIdleBytes)} | ${k(r.rssSteadyMeanBytes)} / ${k(r.rssSteadyMaxBytes)} | ` +
        `${r.keepAliveCpuPercent.toFixed(1)} (${r.baselineCpuPercent.toFixed(1)}) | ` +
        (s === undefined
          ? 'n/a | n/a | n/a | n/a | n/a |'
          : `${sec(s.relayBackMs)} | ${sec(s.allBackMs)} (${sec(s.p50BackMs)} / ${sec(s.p90BackMs)}) | ${s.dials} (${s.failedDials}) | ` +
            `${s.visitorsReconnecting.served} (${failures(s.visitorsReconnecting)}) | ${sec(Math.max(s.visitorsReconnecting.longestGapMs, s.visitorsAfter.longestGapMs))} |`),
    );
  }
  return rows.join('\n');
}

function targetReport(results: RunResult[]): string[] {
  const lines: string[] = [];
  for (const r of results.filter((x) => x.relay === 'ours')) {
    // Steady state: the highest RSS seen from the first idle mark on (GC sawtooth included).
    const steady = kibPerAgent(r.rssSteadyMaxBytes, r.rss0Bytes, r.agents);
    const s = r.restart;
    const servedThroughout = s !== undefined && s.visitorsReconnecting.served + s.visitorsAfter.served > 0 && failures(s.visitorsReconnecting) + failures(s.visitorsAfter) === 0;
    const mark = (ok: boolean): string => (ok ? 'met' : 'MISSED');
    lines.push(
      `N=${r.agents}: all idle sessions held ${mark(r.agentsAfterIdle === r.agents + 1)}; ` +
        `<= ${TARGETS.kibPerAgent} KiB/agent steady ${mark(steady <= TARGETS.kibPerAgent)} (${steady.toFixed(1)}); ` +
        `keepalive CPU <= ${TARGETS.cpuPercent} % ${mark(r.keepAliveCpuPercent <= TARGETS.cpuPercent)} (${r.keepAliveCpuPercent.toFixed(1)}); ` +
        (s === undefined
          ? 'restart not measured'
          : `reconnected within ${TARGETS.reconnectS} s ${mark(s.allBackMs !== null && s.allBackMs <= TARGETS.reconnectS * 1000)}; ` +
            `visitors served once the relay was back ${mark(servedThroughout)}`),
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const base = args.quick ? QUICK : FULL;
  const phases: Phases =
    args.phases === undefined
      ? base
      : { ...base, firstIdleMs: args.phases[0] * 1000, secondIdleMs: args.phases[1] * 1000, cpuWindowMs: args.phases[2] * 1000 };
  // Our relay runs compiled by tsc, as it ships; --tsx runs it from the sources instead.
  const relayEntry = args.tsx ? RELAY_SOURCE : compileRelayProcess();
  const results: RunResult[] = [];
  for (const kind of args.relays) {
    for (const n of args.counts) results.push(await measure(kind, n, phases, args, relayEntry));
  }
  console.log('');
  console.log(machineDescription());
  console.log('');
  console.log(table(results));
  console.log('');
  for (const line of targetReport(results)) console.log(line);
  if (args.jsonFile !== undefined) writeFileSync(args.jsonFile, JSON.stringify({ machine: machineDescription(), phases, results }, null, 2));
  // The harness itself must work: every session up, held while idle, and back after the restart.
  const broken = results.filter((r) => r.agentsAfterIdle < r.agents + (r.relay === 'ours' ? 1 : 0) || (r.restart !== undefined && r.restart.allBackMs === null));
  if (broken.length > 0) {
    console.error(`bench:agents: harness check failed for ${broken.map((r) => `${r.relay} N=${r.agents}`).join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
