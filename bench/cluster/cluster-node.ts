/**
 * One relay node of `bench:cluster`: our CLI (`visiona-tunnel relay`,
 * compiled) as its own process on its own 127.0.0.x address, with the
 * cluster's PostgreSQL URL, node id, peer listener, secret and an admin
 * listener (for /readyz, /metrics and the admin API). Started through
 * `sh -c 'ulimit -n ...; exec node ...'` so that it may hold 10 000 agents.
 */
import { join } from 'node:path';
import { CHILD_OPEN_FILES_LIMIT } from '../agents/child-handle.js';
import { ManagedProcess, parseJsonLine, type ProcessSample } from '../e2e/managed-process.js';

/** What a node prints once listening (`{"event":"listening",...}`). */
export interface NodeAddresses {
  agent: string;
  public: string;
  agentUrl: string;
  peer: string;
  admin: string;
}

/** How to start a node. */
export interface NodeSpec {
  /** Our CLI (`bin/visiona-tunnel.js` of a build) and the Node flags it starts Node with. */
  cli: string;
  nodeFlags: string[];
  nodeId: string;
  /** Its loopback address, e.g. `127.0.0.11`. */
  host: string;
  dbUrl: string;
  secretFile: string;
  adminToken: string;
  domain: string;
  workDir: string;
}

/** A node that exited (or did not listen) at start; `exitCode` 2 is a refused configuration, e.g. a node id whose lease is still current. */
export class NodeStartError extends Error {
  readonly exitCode: number | null;

  constructor(nodeId: string, exitCode: number | null, cause: unknown) {
    super(`relay node ${nodeId} did not start (exit code: ${exitCode})`, { cause });
    this.exitCode = exitCode;
  }
}

/** A running (or killed) node. */
export class ClusterNode {
  readonly spec: NodeSpec;
  readonly process: ManagedProcess;
  readonly addresses: NodeAddresses;

  private constructor(spec: NodeSpec, process: ManagedProcess, addresses: NodeAddresses) {
    this.spec = spec;
    this.process = process;
    this.addresses = addresses;
  }

  /** Starts the node and resolves once it listens (its ports are picked by the system). */
  static async start(spec: NodeSpec): Promise<ClusterNode> {
    const h = spec.host;
    const relayArgs = [
      'relay',
      '--agent-listen', `${h}:0`,
      '--public-listen', `${h}:0`,
      '--admin-listen', `${h}:0`,
      '--admin-dashboard', 'off',
      '--domain', spec.domain,
      '--db', spec.dbUrl,
      '--node-id', spec.nodeId,
      '--peer-listen', `${h}:0`,
      '--cluster-secret-file', spec.secretFile,
      '--grace-ms', '0',
    ];
    const proc = ManagedProcess.start({
      name: spec.nodeId,
      command: 'sh',
      args: ['-c', `ulimit -n ${CHILD_OPEN_FILES_LIMIT} && exec "$0" "$@"`, process.execPath, ...spec.nodeFlags, spec.cli, ...relayArgs],
      env: { ...process.env, VISIONA_TUNNEL_ADMIN_TOKEN: spec.adminToken, VISIONA_TUNNEL_LOG_LEVEL: 'warn', VISIONA_TUNNEL_LOG_FORMAT: 'json' },
      logFile: join(spec.workDir, `${spec.nodeId}.log`),
    });
    try {
      const addresses = await proc.waitForLine((line) => {
        const e = parseJsonLine(line);
        return e?.event === 'listening' ? (e as unknown as NodeAddresses) : undefined;
      }, 30_000);
      return new ClusterNode(spec, proc, addresses);
    } catch (err) {
      await proc.stop(0);
      throw new NodeStartError(spec.nodeId, await proc.exited, err);
    }
  }

  get nodeId(): string {
    return this.spec.nodeId;
  }

  /** CPU time and memory now (undefined once it is gone). */
  sample(): ProcessSample | undefined {
    return this.process.sample();
  }

  /** A request to the admin listener with the admin token. */
  admin(method: string, path: string): Promise<Response> {
    return fetch(`http://${this.addresses.admin}${path}`, { method, headers: { authorization: `Bearer ${this.spec.adminToken}` } });
  }

  /** `visiona_tunnel_relay_agents_online` from /metrics. */
  async agentsOnline(): Promise<number> {
    const text = await (await this.admin('GET', '/metrics')).text();
    const m = /^visiona_tunnel_relay_agents_online (\d+)$/m.exec(text);
    if (m === null) throw new Error(`${this.nodeId}: no agents_online in /metrics`);
    return Number(m[1]);
  }

  /** Whether this node holds a session of `agent` (its admin view lists a local link). */
  async holdsAgent(agent: string): Promise<boolean> {
    const res = await this.admin('GET', `/api/agents/${agent}`);
    if (res.status !== 200) return false;
    const view = (await res.json()) as { links?: { local?: boolean }[] };
    return (view.links ?? []).some((l) => l.local === true);
  }

  /** SIGKILL (a crash, as far as the other nodes and the agents can tell); resolves once it is gone. */
  async kill(): Promise<void> {
    try {
      process.kill(this.process.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
    await this.process.exited;
  }

  /** SIGTERM (drain), SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs = 5_000): Promise<void> {
    return this.process.stop(graceMs);
  }
}
