/**
 * Fixtures of the cluster suite, all real processes on loopback: one
 * throwaway PostgreSQL server per test file (a fresh database per test),
 * relay nodes started through the CLI on their own 127.0.0.x address, each
 * with its own node id, peer listener and the shared secret, agents started
 * through the CLI with one or several `--relay` URLs, and the Go origin.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openRelayStore, type RelayStore } from '../../src/relay/store/index.js';
import { usePostgres, type PostgresServer } from '../helpers/postgres-server.js';
import { CLI_ARGS, CliProcess, tempDir, type RelayListening, type Scope } from '../chaos/chaos-fixtures.js';

export { visitAgent, sha256, CHAOS_DOMAIN as CLUSTER_DOMAIN, isAgentState, within, waitUntil } from '../chaos/chaos-fixtures.js';
export type { Scope, CliProcess } from '../chaos/chaos-fixtures.js';

const postgres = usePostgres();

/** The addresses a cluster node prints once listening. */
export interface NodeListening extends RelayListening {
  peer: string;
  nodeId: string;
  admin?: string;
}

/** A relay node process. */
export interface NodeProcess {
  readonly nodeId: string;
  /** Its loopback address (127.0.0.x). */
  readonly host: string;
  readonly proc: CliProcess;
  readonly addresses: NodeListening;
}

/** Options of one node. */
export interface NodeOptions {
  /** The secret file (default: the cluster's). */
  secretFile?: string;
  /** Written as a JSON config file (`--config`), e.g. `{ limits: { offlineGraceMs: 2000 } }`. */
  config?: Record<string, unknown>;
  /** The same ports as an earlier run of this node (a restart). */
  ports?: { agent: number; public: number; peer: number; admin?: number };
  /** Serve the admin API with the cluster's admin token. */
  admin?: boolean;
  /** `--grace-ms` (default 0). */
  graceMs?: number;
}

/** A cluster under test: its database, secret, admin token, nodes and a store handle for setting up agents. */
export interface ClusterFixture {
  readonly pg: PostgresServer;
  readonly dbUrl: string;
  readonly dir: string;
  readonly secretFile: string;
  readonly adminToken: string;
  /** A store handle of the test's own on the cluster's database (as an operator's CLI would be). */
  readonly store: RelayStore;
  /** Starts node `nodeId` on 127.0.0.`hostIndex`. */
  startNode(nodeId: string, hostIndex: number, options?: NodeOptions): Promise<NodeProcess>;
  /** Creates a public agent and returns its token. */
  createAgent(name: string): Promise<string>;
}

/** A fresh database, secret and admin token; nodes are SIGKILLed after the test. */
export async function startCluster(t: Scope): Promise<ClusterFixture> {
  const pg = await postgres();
  const dbUrl = await pg.createDatabase('cluster');
  const dir = tempDir(t, 'cluster-');
  const secretFile = join(dir, 'cluster.secret');
  writeFileSync(secretFile, randomBytes(32).toString('base64'), { mode: 0o600 });
  const adminToken = randomBytes(24).toString('base64url');
  const store = await openRelayStore(dbUrl);
  t.after(() => store.close());
  return {
    pg,
    dbUrl,
    dir,
    secretFile,
    adminToken,
    store,
    startNode: (nodeId, hostIndex, options = {}) => startNodeProcess(t, { dbUrl, dir, secretFile, adminToken }, nodeId, hostIndex, options),
    createAgent: async (name) => {
      await store.tokens.ensureAgent(name);
      await store.access.setPolicy(name, { mode: 'public' });
      return (await store.tokens.createToken(name)).token.reveal();
    },
  };
}

async function startNodeProcess(
  t: Scope,
  cluster: { dbUrl: string; dir: string; secretFile: string; adminToken: string },
  nodeId: string,
  hostIndex: number,
  options: NodeOptions,
): Promise<NodeProcess> {
  const host = `127.0.0.${hostIndex}`;
  const ports = options.ports;
  const args = [
    ...CLI_ARGS,
    'relay',
    '--agent-listen', `${host}:${ports?.agent ?? 0}`,
    '--public-listen', `${host}:${ports?.public ?? 0}`,
    '--domain', 'tunnel.test',
    '--db', cluster.dbUrl,
    '--node-id', nodeId,
    '--peer-listen', `${host}:${ports?.peer ?? 0}`,
    '--cluster-secret-file', options.secretFile ?? cluster.secretFile,
    '--grace-ms', String(options.graceMs ?? 0),
  ];
  if (options.admin === true) args.push('--admin-listen', `${host}:${ports?.admin ?? 0}`);
  if (options.config !== undefined) {
    const configPath = join(cluster.dir, `${nodeId}-${Date.now()}.json`);
    writeFileSync(configPath, JSON.stringify(options.config));
    args.push('--config', configPath);
  }
  const proc = new CliProcess(nodeId, args, { VISIONA_TUNNEL_ADMIN_TOKEN: cluster.adminToken }, {
    keepLines: (l) => l.data.msg !== 'visitor request' || l.data.status !== 200,
  });
  t.after(() => proc.kill());
  const listening = await proc.waitForLine((d) => d.event === 'listening', `${nodeId} to listen`, 30_000);
  return { nodeId, host, proc, addresses: listening.data as unknown as NodeListening };
}

/** Options of `startClusterAgent`. */
export interface ClusterAgentOptions {
  relayUrls: readonly string[];
  token: string;
  local: string;
  name?: string;
}

/** Starts `visiona-tunnel agent` with every `--relay` URL (token through the environment); SIGKILLed after the test. */
export function startClusterAgent(t: Scope, options: ClusterAgentOptions): CliProcess {
  const relays = options.relayUrls.flatMap((u) => ['--relay', u]);
  const proc = new CliProcess(options.name ?? 'agent', [...CLI_ARGS, 'agent', ...relays, '--local', options.local], { VISIONA_TUNNEL_TOKEN: options.token }, {
    keepLines: (l) => l.data.msg !== 'request',
  });
  t.after(() => proc.kill());
  return proc;
}

/** Polls an async condition (a request, a query) until it holds; rejects naming `what` after `timeoutMs`. Returns the time it took. */
export async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000, pollMs = 50): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await condition()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** The port of `host:port`. */
export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** GET `path` on the admin listener of `node` with the admin token; the parsed JSON and status. */
export async function adminGet(node: NodeProcess, adminToken: string, path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://${node.addresses.admin as string}${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Sends `method path` to the admin listener of `node` with the admin token. */
export async function adminCall(node: NodeProcess, adminToken: string, method: string, path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://${node.addresses.admin as string}${path}`, { method, headers: { authorization: `Bearer ${adminToken}` } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** The expected SHA-256 of ref-origin's `/bytes?n=N` body (byte i is i mod 251). */
export function refBytesSha256(n: number): string {
  const hash = createHash('sha256');
  const block = Buffer.alloc(251 * 4096);
  for (let i = 0; i < block.length; i++) block[i] = i % 251;
  let left = n;
  while (left > 0) {
    const take = Math.min(left, block.length);
    hash.update(block.subarray(0, take));
    left -= take;
  }
  return hash.digest('hex');
}
