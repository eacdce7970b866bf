/**
 * HAProxy from Debian (`haproxy`, installed by scripts/install-system-deps.sh)
 * in front of relay nodes, as an operator runs it: one frontend for agents,
 * one for visitors, HTTP mode (WebSocket upgrades become tunnels), health
 * checks on each node's admin `/readyz`, and L7 retries on 503 and dead
 * connections to another node. The config is the one docs/deployment.md
 * documents; `haproxy -c` checks it before start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';

/** A relay node as HAProxy sees it. */
export interface HaproxyNode {
  name: string;
  host: string;
  agentPort: number;
  publicPort: number;
  adminPort: number;
}

/** A running HAProxy. */
export interface Haproxy {
  /** `127.0.0.1:PORT` of the agents' frontend. */
  readonly agentAddress: string;
  /** `127.0.0.1:PORT` of the visitors' frontend. */
  readonly publicAddress: string;
  readonly configText: string;
  stop(): Promise<void>;
}

/** A free loopback port (bound, then released: HAProxy binds it next). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The haproxy.cfg for `nodes` (docs/deployment.md shows the same, with production addresses). */
export function haproxyConfig(nodes: readonly HaproxyNode[], agentPort: number, publicPort: number): string {
  const servers = (port: (n: HaproxyNode) => number): string =>
    nodes.map((n) => `  server ${n.name} ${n.host}:${port(n)} check port ${n.adminPort}`).join('\n');
  return `global
  maxconn 4096

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  # A WebSocket (an agent's session, a visitor's upgrade) may stay open for days.
  timeout tunnel 24h
  retries 3
  option redispatch 1
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 250ms fall 1 rise 2

frontend agents
  bind 127.0.0.1:${agentPort}
  default_backend relay_agents

frontend visitors
  bind 127.0.0.1:${publicPort}
  option forwardfor
  default_backend relay_visitors

backend relay_agents
  balance roundrobin
  # A draining node (503 ERR_RELAY_DRAINING) or a node holding the agent's other link
  # (503 ERR_RELAY_LINK_ON_THIS_NODE): the upgrade goes to another node.
  retry-on conn-failure empty-response response-timeout 503
${servers((n) => n.agentPort)}

backend relay_visitors
  balance roundrobin
  # Only what never reached a relay is retried: a device's own 503 is the device's answer.
  retry-on conn-failure empty-response
${servers((n) => n.publicPort)}
`;
}

/** Starts HAProxy for `nodes` with its config in `dir`; stopped after the test. */
export async function startHaproxy(t: { after(fn: () => unknown): void }, dir: string, nodes: readonly HaproxyNode[]): Promise<Haproxy> {
  const agentPort = await freePort();
  const publicPort = await freePort();
  const configText = haproxyConfig(nodes, agentPort, publicPort);
  const path = join(dir, `haproxy-${agentPort}.cfg`);
  writeFileSync(path, configText);
  const check = spawnSync('haproxy', ['-c', '-f', path], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy -c refused the config:\n${check.stdout}${check.stderr}`);
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  t.after(stop);
  for (const port of [agentPort, publicPort]) await waitForListener(port, () => stderr, exited);
  return { agentAddress: `127.0.0.1:${agentPort}`, publicAddress: `127.0.0.1:${publicPort}`, configText, stop };
}

/** Resolves once 127.0.0.1:`port` accepts a connection (HAProxy binds at start). */
async function waitForListener(port: number, stderr: () => string, exited: Promise<void>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 200; i++) {
    if (gone) throw new Error(`haproxy exited:\n${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`haproxy did not listen on ${port}:\n${stderr()}`);
}
