/**
 * Phase (a) of `bench:cluster`: visitor traffic to one agent (a real
 * `visiona-tunnel agent` in front of ref-origin) through the node that holds
 * its session ("owning") and through another node, which forwards every
 * request over its peer link ("non-owning"), next to the origin reached
 * directly, all in one run: small GETs under closed-loop load (wrk), and a
 * large download (curl). Runs are interleaved round by round, order rotating.
 */
import { execFile } from 'node:child_process';
import type { ManagedProcess } from '../e2e/managed-process.js';
import { runHttpLoad, type LoadResult } from '../e2e/http-load.js';
import { fmt, medianOf, type BenchCluster } from './bench-cluster.js';
import type { ClusterNode } from './cluster-node.js';

/** The origin's `/hello` body. */
export const HELLO_BODY = 'hello from origin\n';

type PathName = 'direct' | 'owning' | 'non-owning';
const PATHS: readonly PathName[] = ['direct', 'owning', 'non-owning'];

/** One GET load run and the CPU the relay nodes and the agent spent on it. */
interface GetRun {
  load: LoadResult;
  /** CPU ms of both nodes plus the agent during the run. */
  tunnelCpuMs: number;
}

/** What the phase measured, per path. */
export interface VisitorThroughput {
  gets: Record<PathName, GetRun[]>;
  /** MiB/s of each download. */
  downloads: Record<PathName, number[]>;
  generator: string;
}

/** Runs the phase; `owner` holds the visitor agent's session, `other` does not. */
export async function measureVisitorThroughput(
  cluster: BenchCluster,
  agentName: string,
  owner: ClusterNode,
  other: ClusterNode,
  agentProcess: ManagedProcess,
): Promise<VisitorThroughput> {
  const { plan } = cluster;
  const target = (path: PathName): { url: string; host: string | undefined } =>
    path === 'direct'
      ? { url: `http://${cluster.originAddr}`, host: undefined }
      : { url: `http://${(path === 'owning' ? owner : other).addresses.public}`, host: `${agentName}.${cluster.domain}` };
  const cpuNow = (): number => (owner.sample()?.cpuMs ?? 0) + (other.sample()?.cpuMs ?? 0) + (agentProcess.sample()?.cpuMs ?? 0);
  const gets: Record<PathName, GetRun[]> = { direct: [], owning: [], 'non-owning': [] };
  const downloads: Record<PathName, number[]> = { direct: [], owning: [], 'non-owning': [] };
  let generator = 'wrk';
  if (!(await owner.holdsAgent(agentName))) {
    const views = await Promise.all(cluster.nodes.map(async (n) => `${n.nodeId}: ${await (await n.admin('GET', `/api/agents/${agentName}`)).text()}`));
    throw new Error(`${owner.nodeId} does not hold ${agentName}'s session; the nodes' views: ${views.join('; ')}`);
  }
  if (await other.holdsAgent(agentName)) throw new Error(`${other.nodeId} holds a session of ${agentName} too`);
  // Warm-up (JIT, buffers, the peer link), not measured.
  for (const path of PATHS) {
    const { url, host } = target(path);
    await runHttpLoad({ url: `${url}/hello`, host, connections: plan.httpConnections, durationMs: 1000, expectStatus: 200, expectBodyBytes: HELLO_BODY.length });
    await download(`${url}/bytes?n=${16 * 1024 ** 2}`, host, 16 * 1024 ** 2);
  }
  for (let round = 0; round < plan.httpRounds; round++) {
    for (const path of rotate(PATHS, round)) {
      const { url, host } = target(path);
      const cpuBefore = cpuNow();
      const load = await runHttpLoad({ url: `${url}/hello`, host, connections: plan.httpConnections, durationMs: plan.httpSeconds * 1000, expectStatus: 200, expectBodyBytes: HELLO_BODY.length });
      generator = load.generator;
      if (load.bad > 0) throw new Error(`GET via ${path}: ${load.bad} bad answers (first: ${load.firstBad})`);
      gets[path].push({ load, tunnelCpuMs: cpuNow() - cpuBefore });
      cluster.log(`  GET via ${path}: ${fmt(load.requestsPerSecond)} req/s, p50 ${fmt(load.p50Ms)} ms, p99 ${fmt(load.p99Ms)} ms`);
    }
  }
  for (let round = 0; round < plan.downloadRounds; round++) {
    for (const path of rotate(PATHS, round)) {
      const { url, host } = target(path);
      const mibPerSecond = await download(`${url}/bytes?n=${plan.downloadBytes}`, host, plan.downloadBytes);
      downloads[path].push(mibPerSecond);
      cluster.log(`  download ${fmt(plan.downloadBytes / 1024 ** 2)} MiB via ${path}: ${fmt(mibPerSecond)} MiB/s`);
    }
  }
  return { gets, downloads, generator };
}

function rotate<T>(items: readonly T[], by: number): T[] {
  return items.map((_, i) => items[(i + by) % items.length] as T);
}

/** Downloads `url` with curl into /dev/null; MiB/s, checked against the expected size and a 200. */
function download(url: string, host: string | undefined, expectBytes: number): Promise<number> {
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', ...(host === undefined ? [] : ['-H', `Host: ${host}`]), url];
  return new Promise((resolve, reject) => {
    execFile('curl', args, { encoding: 'utf8', timeout: 600_000 }, (err, stdout) => {
      if (err !== null) return reject(new Error(`curl ${url}: ${err.message}`));
      const [code, size, seconds] = stdout.trim().split(' ').map(Number) as [number, number, number];
      if (code !== 200 || size !== expectBytes) return reject(new Error(`curl ${url}: status ${code}, ${size} of ${expectBytes} bytes`));
      resolve(size / 1024 ** 2 / seconds);
    });
  });
}

/** The phase's markdown tables. */
export function reportVisitorThroughput(r: VisitorThroughput, plan: BenchCluster['plan']): string[] {
  const rps = (p: PathName): number => medianOf(r.gets[p].map((g) => g.load.requestsPerSecond));
  const ratioOfMedians = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
  const out = [
    `Small GETs (\`/hello\`, ${HELLO_BODY.length} B body), ${plan.httpConnections} connections, ${plan.httpSeconds} s per run, ${plan.httpRounds} round(s), load generator ${r.generator}; medians of the runs:`,
    '',
    '| path | req/s | p50 ms | p99 ms | / owning | / direct | CPU us/req (both nodes + agent) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const p of PATHS) {
    const runs = r.gets[p];
    const cpu = p === 'direct' ? 'n/a' : fmt(medianOf(runs.map((g) => (g.tunnelCpuMs * 1000) / Math.max(1, g.load.good))));
    out.push(
      `| ${p} | ${fmt(rps(p))} | ${fmt(medianOf(runs.map((g) => g.load.p50Ms)))} | ${fmt(medianOf(runs.map((g) => g.load.p99Ms)))} | ${p === 'direct' ? 'n/a' : ratioOfMedians(rps(p), rps('owning'))} | ${ratioOfMedians(rps(p), rps('direct'))} | ${cpu} |`,
    );
  }
  const mibs = (p: PathName): number => medianOf(r.downloads[p]);
  out.push(
    '',
    `Download of ${fmt(plan.downloadBytes / 1024 ** 2)} MiB (\`/bytes\`, curl), ${plan.downloadRounds} round(s), median MiB/s:`,
    '',
    '| path | MiB/s | / owning | / direct | runs |',
    '| --- | ---: | ---: | ---: | --- |',
  );
  for (const p of PATHS) {
    out.push(`| ${p} | ${fmt(mibs(p))} | ${p === 'direct' ? 'n/a' : ratioOfMedians(mibs(p), mibs('owning'))} | ${ratioOfMedians(mibs(p), mibs('direct'))} | ${r.downloads[p].map((v) => fmt(v)).join(', ')} |`);
  }
  out.push(
    '',
    `Targets (issue 15): non-owning / owning >= 0.75x req/s: ${target(rps('non-owning') / rps('owning'), 0.75)}; >= 0.8x download: ${target(mibs('non-owning') / mibs('owning'), 0.8)}.`,
  );
  return out;
}

function target(ratio: number, atLeast: number): string {
  return `${ratio.toFixed(2)}x, ${ratio >= atLeast ? 'met' : 'MISSED'}`;
}
