/**
 * `npm run bench:cluster`: three relay nodes of our CLI (compiled), each on
 * its own 127.0.0.x address, on one throwaway PostgreSQL, measured in one
 * run: (b) many idle agents over the nodes, (c) kill -9 of one node until
 * its agents are reachable again through the others, (a) visitor traffic
 * through the node holding the agent against another node (one peer hop)
 * and the origin directly, (d) revocation propagation across nodes.
 * Figures and targets are printed (markdown); the run fails only when the
 * harness does.
 *
 *   npm run bench:cluster                  # 30 000 idle agents, 3 x 10 s GET runs, 1 GiB downloads (several minutes)
 *   npm run bench:cluster -- --quick       # 300 agents, short runs: checks the harness (under a minute after the build)
 *   npm run bench:cluster -- --agents=9000 --no-build
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openRelayStore, type RelayStore } from '../../src/relay/store/index.js';
import { startPostgres, type PostgresServer } from '../../test/helpers/postgres-server.js';
import { machineDescription } from '../agents/machine.js';
import { nodeFlagsOfCli } from '../cli-node-flags.js';
import { ManagedProcess, parseJsonLine } from '../e2e/managed-process.js';
import { buildOurCli } from '../e2e/targets.js';
import { fmt, pollUntil, visit, type BenchCluster, type ClusterBenchPlan } from './bench-cluster.js';
import { ClusterNode, NodeStartError, type NodeSpec } from './cluster-node.js';
import { createPublicAgents, insertPublicAgents, TransactionCounter } from './cluster-store.js';
import { measureIdleAgents, reportIdleAgents, type IdleAgents } from './idle-agents.js';
import { measureNodeFailover, reportNodeFailover } from './node-failover.js';
import { measureRevocations, reportRevocations } from './revocation-propagation.js';
import { HELLO_BODY, measureVisitorThroughput, reportVisitorThroughput } from './visitor-throughput.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOMAIN = 'tunnel.test';
const VISITOR_AGENT = 'visitor';
const NODE_HOSTS = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
/** Steady-state KiB per idle agent of one relay with 10 000 agents (bench/README.md, "Scale of one relay", commit 4966cd2). */
const SINGLE_NODE_KIB_PER_AGENT = 14.0;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    agents: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'keep-logs': { type: 'boolean', default: false },
    /** Phases to run, of a,b,c,d (c needs b). */
    phases: { type: 'string', default: 'a,b,c,d' },
  },
});
const phases = new Set(values.phases.split(','));
if (phases.has('c') && !phases.has('b')) throw new Error('--phases: c (kill -9 of a node) needs b (its idle agents)');

const plan: ClusterBenchPlan = values.quick
  ? { quick: true, idleAgents: 300, agentsPerLoadGenerator: 10_000, httpConnections: 50, httpSeconds: 3, httpRounds: 1, downloadBytes: 64 * 1024 ** 2, downloadRounds: 1, settleSeconds: 2, steadySeconds: 5, revocations: 4 }
  : { quick: false, idleAgents: 30_000, agentsPerLoadGenerator: 10_000, httpConnections: 50, httpSeconds: 10, httpRounds: 3, downloadBytes: 1024 ** 3, downloadRounds: 3, settleSeconds: 10, steadySeconds: 30, revocations: 10 };
if (values.agents !== undefined) plan.idleAgents = Number(values.agents);

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  const runStartedMs = Date.now();
  const loadAtStart = loadavg();
  const goOrigin = join(REPO_ROOT, '.interop-bin', 'ref-origin');
  if (!existsSync(goOrigin)) throw new Error(`${goOrigin} is missing: REF_BIN_DIR=$PWD/.interop-bin bash /work/shared/interop/go/build.sh (or test/interop's build)`);
  const workDir = mkdtempSync(join(tmpdir(), 'vt-bench-cluster-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  let failed = true;
  // Interrupted: still stop the nodes, the load generators and PostgreSQL.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`bench:cluster: ${signal}, stopping everything it started`);
      void (async () => {
        for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
        process.exit(130);
      })();
    });
  }
  try {
    let cli = join(REPO_ROOT, 'bin', 'visiona-tunnel.js');
    if (values['no-build'] !== true) {
      log('building our CLI (tsc) ...');
      cli = buildOurCli(REPO_ROOT);
    }
    const nodeFlags = nodeFlagsOfCli(cli);

    log('starting PostgreSQL ...');
    const pg: PostgresServer = await startPostgres();
    cleanups.push(() => pg.destroy());
    const dbUrl = await pg.createDatabase('bench_cluster');
    const store: RelayStore = await openRelayStore(dbUrl);
    cleanups.push(() => store.close());
    const transactions = await TransactionCounter.open(pg.url('postgres'), new URL(dbUrl).pathname.slice(1));
    cleanups.push(() => transactions.close());

    const setupStartedMs = Date.now();
    const [visitorAgent] = await createPublicAgents(store, [VISITOR_AGENT]);
    const revocationAgents = await createPublicAgents(store, Array.from({ length: plan.revocations }, (_, i) => `revoke-${i + 1}`));
    const idleAgents = await insertPublicAgents(dbUrl, Array.from({ length: plan.idleAgents }, (_, i) => `idle-${String(i + 1).padStart(5, '0')}`));
    log(`created ${revocationAgents.length + 1} agents through the store and ${idleAgents.length} in bulk, with tokens and public access, in ${fmt((Date.now() - setupStartedMs) / 1000)} s`);

    const secretFile = join(workDir, 'cluster.secret');
    writeFileSync(secretFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    const adminToken = randomBytes(24).toString('base64url');
    const origin = ManagedProcess.start({ name: 'ref-origin', command: goOrigin, args: ['-listen', '127.0.0.1:0'], logFile: join(workDir, 'origin.log') });
    cleanups.push(() => origin.stop());
    const originAddr = await origin.waitForLine((l) => {
      const e = parseJsonLine(l);
      return e?.event === 'listening' && typeof e.addr === 'string' ? e.addr : undefined;
    }, 30_000);

    const nodeSpec = (k: number): NodeSpec => ({ cli, nodeFlags, nodeId: `n${k + 1}`, host: NODE_HOSTS[k] as string, dbUrl, secretFile, adminToken, domain: DOMAIN, workDir });
    const nodes: ClusterNode[] = [];
    cleanups.push(() => Promise.all(nodes.map((n) => n.kill())));
    for (let k = 0; k < NODE_HOSTS.length; k++) nodes.push(await ClusterNode.start(nodeSpec(k)));
    for (const n of nodes) {
      if (!(await pollUntil(async () => (await fetch(`http://${n.addresses.admin}/readyz`)).status === 200, 30_000))) throw new Error(`${n.nodeId} never ready`);
    }
    log(`nodes ${nodes.map((n) => `${n.nodeId} ${n.addresses.agent}`).join(', ')} ready`);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const rss0 = new Map(nodes.map((n) => [n, n.sample()?.rssBytes ?? 0]));

    const cluster: BenchCluster = { plan, nodes, store, transactions, domain: DOMAIN, originAddr, workDir, log };
    const [n1, n2, n3] = nodes as [ClusterNode, ClusterNode, ClusterNode];

    // The visitor agent: a real `visiona-tunnel agent` on n1 alone (one --relay, so one session: an agent
    // given several holds HA links on several nodes), in front of the origin.
    const agentProcess = ManagedProcess.start({
      name: 'agent',
      command: process.execPath,
      args: [...nodeFlags, cli, 'agent', '--relay', n1.addresses.agentUrl, '--local', originAddr],
      env: { ...process.env, VISIONA_TUNNEL_TOKEN: visitorAgent!.token, VISIONA_TUNNEL_LOG_LEVEL: 'warn' },
      logFile: join(workDir, 'agent.log'),
    });
    cleanups.push(() => agentProcess.stop());
    for (const n of nodes) {
      const reached = await pollUntil(async () => (await visit(n.addresses.public, DOMAIN, VISITOR_AGENT, '/hello')).body === HELLO_BODY, 30_000);
      if (!reached) throw new Error(`the visitor agent is not reachable through ${n.nodeId}`);
    }

    const sections: string[] = [];
    if (phases.has('b')) {
      log(`(b) ${plan.idleAgents} idle agents ...`);
      const idle: IdleAgents = await measureIdleAgents(cluster, idleAgents, rss0);
      cleanups.push(() => Promise.all(idle.loadGenerators.map((lg) => lg.stop())));
      sections.push('### (b) Idle agents over the cluster', '', ...reportIdleAgents(idle, plan, SINGLE_NODE_KIB_PER_AGENT), '');
      if (phases.has('c')) {
        log(`(c) kill -9 of ${n3.nodeId} ...`);
        const failover = await measureNodeFailover(cluster, idle, n3, [n1, n2], VISITOR_AGENT, HELLO_BODY);
        await Promise.all(idle.loadGenerators.map((lg) => lg.stop()));
        const restartStartedMs = Date.now();
        nodes[2] = await startWhenLeaseFree(nodeSpec(2));
        const restartWaitMs = Date.now() - restartStartedMs;
        log(`  ${nodes[2].nodeId} restarted at ${nodes[2].addresses.agent} after ${fmt(restartWaitMs / 1000)} s (its id is refused while its lease is current); idle agents stopped`);
        sections.push(
          '### (c) kill -9 of one node',
          '',
          ...reportNodeFailover(failover),
          `Restarting the killed node with its node id: accepted ${fmt(restartWaitMs / 1000)} s after the agents were back (a second process with a current lease is refused, exit code 2, until the lease of 10 s runs out).`,
          '',
        );
      }
      await Promise.all(idle.loadGenerators.map((lg) => lg.stop()));
    }
    if (phases.has('a')) {
      log('(a) visitor traffic: owning node, non-owning node, direct ...');
      const throughput = await measureVisitorThroughput(cluster, VISITOR_AGENT, n1, n2, agentProcess);
      sections.unshift('### (a) Visitor traffic: owning node vs non-owning node (one peer hop) vs direct', '', ...reportVisitorThroughput(throughput, plan), '');
    }
    if (phases.has('d')) {
      log(`(d) ${plan.revocations} revocations ...`);
      sections.push('### (d) Revocation across nodes', '', ...reportRevocations(await measureRevocations(cluster, revocationAgents)), '');
    }

    const out = [
      `## bench:cluster${plan.quick ? ' --quick' : ''} (3 nodes, one PostgreSQL; ${fmt((Date.now() - runStartedMs) / 1000)} s)`,
      '',
      machineDescription(),
      `- load average at start: ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
      `- nodes: our CLI compiled (node ${nodeFlags.join(' ')}), ${NODE_HOSTS.join(', ')}, agents and visitors on 127.0.0.x, PostgreSQL ${(await pg.query<{ server_version: string }>('postgres', 'SHOW server_version'))[0]?.server_version ?? '?'} (fsync off, on the same 2 cores)`,
      '',
      ...sections,
    ];
    process.stdout.write(out.join('\n'));
    failed = false;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => log(`cleanup: ${String(err)}`));
    if (failed || values['keep-logs'] === true) log(`logs kept in ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

/** Starts a node whose id may still hold a lease (a node killed a moment ago): retries while the CLI refuses it (exit code 2). */
async function startWhenLeaseFree(spec: NodeSpec, timeoutMs = 60_000): Promise<ClusterNode> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await ClusterNode.start(spec);
    } catch (err) {
      if (Date.now() > deadline || !(err instanceof NodeStartError) || err.exitCode !== 2) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench:cluster failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
