/**
 * Issue 14, critical: a refused upgrade must never leave a raw pipe. A device
 * that answers a WebSocket request with `404` (an ordinary keep-alive HTTP
 * server with no WebSocket support) once turned the visitor's connection into
 * a raw pipe to it, so every later request on that connection (another
 * tenant's, behind a pooling proxy) reached the device unrouted, unchecked
 * and unlogged. Checked for each pair of ends: our relay with the Go client
 * (the relay's fix alone), the Go relay with our agent (the agent's fix
 * alone), both of ours, and our relay behind a keep-alive reverse proxy
 * that pools its upstream connections (as Go's `httputil.ReverseProxy` does).
 * Needs .interop-bin/ (bash scripts/build-interop.sh); fails when it is missing.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { listenOnLoopback } from '../helpers/loopback.js';
import { RawHttpConnection, formatRequest, headerValue, type RawHeader } from '../helpers/raw-http-client.js';
import type { RefProcess} from '../helpers/ref-process.js';
import { requireRefBinary, startRef } from '../helpers/ref-process.js';
import { waitFor } from '../helpers/wait-for.js';
import {
  BASE_DOMAIN,
  CleanupScope,
  connectAgent,
  createAgentToken,
  splitHostPort,
  startAgent,
  startRelay,
  waitForRegistration,
  type Scope,
} from '../relay/relay-fixtures.js';

/** A request as the device parsed it. */
interface DeviceRequest {
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** An ordinary keep-alive HTTP server with no WebSocket support, plus answers no honest server gives. */
interface Device {
  addr: string;
  requests: DeviceRequest[];
}

const SWITCH_TO_WEBSOCKET = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
const SWITCH_TO_H2C = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';

async function startDevice(t: Scope, name: string): Promise<Device> {
  const requests: DeviceRequest[] = [];
  // No 'upgrade' listener: Node hands an upgrade request to 'request', as any plain HTTP app sees it.
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers });
    if (req.url === '/ws-404') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('no websocket here');
      return;
    }
    if (req.url === '/switch-anyway') {
      // Bytes after the head: the Go client reads one before it passes a response on.
      req.socket.write(`${SWITCH_TO_WEBSOCKET}raw bytes of another protocol`);
      return;
    }
    if (req.url === '/switch-other') {
      req.socket.write(SWITCH_TO_H2C);
      return;
    }
    res.end(`device:${name}:${req.url ?? ''}`);
  });
  server.keepAliveTimeout = 60_000;
  const port = await listenOnLoopback(t, server);
  return { addr: `127.0.0.1:${port}`, requests };
}

/** The headers of a WebSocket handshake for `host`. */
function wsHeaders(host: string): RawHeader[] {
  return [
    ['Host', host],
    ['Connection', 'Upgrade'],
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ];
}

/** A second request an attacker hopes to slip past the relay on the same connection. */
const SMUGGLED = formatRequest('/smuggled', {
  headers: [
    ['Host', 'localhost'],
    ['X-Forwarded-For', '6.6.6.6'],
    ['Cookie', 'vt_access_bear=stolen'],
  ],
});

/** The two ends under test: where visitors connect, and the Host naming the device's agent there. */
interface Topology {
  name: string;
  start(scope: CleanupScope, device: Device): Promise<{ publicAddr: string; host: string }>;
  /** `X-Tunnel-Error` of the 502 for a 101 that does not match (or answers no upgrade at all). */
  badSwitchCode: string;
}

const AGENT = 'delta';

async function startGoRelay(scope: CleanupScope): Promise<{ publicAddr: string; agentUrl: string }> {
  const relay = startRef(scope, 'ref-relay', ['-listen', '127.0.0.1:0', '-public', '127.0.0.1:0', '-token', 'tok']);
  const listening = await relay.waitForEvent('listening', () => true, { what: 'ref-relay listening' });
  return { publicAddr: String(listening['public']), agentUrl: String(listening['url']) };
}

async function startGoAgent(scope: CleanupScope, relayUrl: string, token: string, local: string): Promise<RefProcess> {
  const agent = startRef(scope, 'ref-agent', ['-relay', relayUrl, '-token', token, '-local', local]);
  await agent.waitForEvent('session_up');
  return agent;
}

const TOPOLOGIES: Topology[] = [
  {
    name: 'our relay with the Go client',
    badSwitchCode: 'ERR_RELAY_BAD_GATEWAY',
    async start(scope, device) {
      const fx = await startRelay(scope);
      const token = await createAgentToken(fx.relay, AGENT);
      const registered = waitForRegistration(fx.relay, AGENT);
      await startGoAgent(scope, fx.addresses.agentUrl, token, device.addr);
      await registered;
      return { publicAddr: fx.addresses.public, host: `${AGENT}.${BASE_DOMAIN}` };
    },
  },
  {
    name: 'the Go relay with our agent',
    badSwitchCode: 'ERR_AGENT_LOCAL_BAD_RESPONSE',
    async start(scope, device) {
      const relay = await startGoRelay(scope);
      const agent = startAgent(scope, { relayUrl: relay.agentUrl, token: 'tok', localAddr: device.addr });
      await agent.nextSessionUp();
      return { publicAddr: relay.publicAddr, host: 'device.example' };
    },
  },
  {
    name: 'our relay with our agent',
    badSwitchCode: 'ERR_AGENT_LOCAL_BAD_RESPONSE',
    async start(scope, device) {
      const fx = await startRelay(scope);
      await connectAgent(scope, fx, AGENT, device.addr);
      return { publicAddr: fx.addresses.public, host: `${AGENT}.${BASE_DOMAIN}` };
    },
  },
];

for (const topology of TOPOLOGIES) {
  describe(`A refused upgrade, ${topology.name}`, { timeout: 60_000 }, () => {
    const scope = new CleanupScope();
    let device: Device;
    let publicAddr = '';
    let host = '';

    before(async () => {
      for (const name of ['ref-agent', 'ref-relay'] as const) requireRefBinary(name);
      device = await startDevice(scope, AGENT);
      ({ publicAddr, host } = await topology.start(scope, device));
    });
    after(() => scope.run());

    it('goes back as an ordinary response with Connection: close, and a later request on the connection never reaches the device', async (t) => {
      const before = device.requests.length;
      const conn = await RawHttpConnection.connect(t, publicAddr);
      await conn.write(formatRequest('/ws-404', { headers: wsHeaders(host) }));
      const res = await conn.readResponse();
      assert.equal(res.status, 404, 'the device status passed on');
      assert.equal(res.body.toString(), 'no websocket here', 'the device body passed on');
      assert.equal(headerValue(res.headers, 'connection')?.toLowerCase(), 'close', 'Connection: close');
      assert.equal(headerValue(res.headers, 'upgrade'), undefined, 'no Upgrade header on a refused upgrade');
      await conn.write(SMUGGLED).catch(() => {});
      const rest = await conn.waitForEnd();
      assert.equal(rest.length, 0, 'no answer to the second request');
      // A request on a fresh connection is answered after anything the device could have been sent before.
      const after = await RawHttpConnection.connect(t, publicAddr);
      const next = await after.exchange('/after-1', { headers: [['Host', host]] });
      assert.equal(next.final.status, 200, 'the device is still reachable');
      const urls = device.requests.slice(before).map((r) => r.url);
      assert.deepEqual(urls, ['/ws-404', '/after-1'], 'the device saw the upgrade and the fresh request, never the smuggled one');
    });

    it('holds a request pipelined right behind the upgrade until the switch, and drops it when there is none', async (t) => {
      const before = device.requests.length;
      const conn = await RawHttpConnection.connect(t, publicAddr);
      await conn.write(Buffer.concat([formatRequest('/ws-404', { headers: wsHeaders(host) }), SMUGGLED]));
      const res = await conn.readResponse();
      assert.equal(res.status, 404, 'the device status passed on');
      assert.equal(headerValue(res.headers, 'connection')?.toLowerCase(), 'close', 'Connection: close');
      const rest = await conn.waitForEnd();
      assert.equal(rest.length, 0, 'no answer to the pipelined request');
      const after = await RawHttpConnection.connect(t, publicAddr);
      assert.equal((await after.exchange('/after-2', { headers: [['Host', host]] })).final.status, 200, 'device reachable');
      const urls = device.requests.slice(before).map((r) => r.url);
      assert.deepEqual(urls, ['/ws-404', '/after-2'], 'the pipelined request never reached the device');
    });

    it('answers 502 to a 101 that switches to a protocol the visitor did not ask for, and closes the connection', async (t) => {
      const conn = await RawHttpConnection.connect(t, publicAddr);
      await conn.write(formatRequest('/switch-other', { headers: wsHeaders(host) }));
      const res = await conn.readResponse();
      assert.equal(res.status, 502, 'a mismatched 101 is a bad gateway');
      assert.equal(headerValue(res.headers, 'x-tunnel-error'), topology.badSwitchCode, 'X-Tunnel-Error');
      assert.equal(headerValue(res.headers, 'connection')?.toLowerCase(), 'close', 'Connection: close');
      await conn.write(SMUGGLED).catch(() => {});
      assert.equal((await conn.waitForEnd()).length, 0, 'closed, nothing more answered');
      assert.ok(!device.requests.some((r) => r.url === '/smuggled'), 'the second request never reached the device');
    });

    it('answers 502, not a hang, to a 101 given to a request that asked for no upgrade', async (t) => {
      const conn = await RawHttpConnection.connect(t, publicAddr);
      const res = await conn.exchange('/switch-anyway', { headers: [['Host', host]] });
      assert.equal(res.final.status, 502, 'a 101 to a plain request is a bad gateway');
      assert.equal(headerValue(res.final.headers, 'x-tunnel-error'), topology.badSwitchCode, 'X-Tunnel-Error');
    });
  });
}

/**
 * A reverse proxy in front of the relay that pools its upstream connections
 * (one keep-alive socket), and forwards an upgrade request like any other,
 * as Go's `httputil.ReverseProxy` does when the answer is not a `101`.
 */
async function startPoolingProxy(t: Scope, relayPublic: string): Promise<{ addr: string; upstreamSockets: () => number }> {
  const [host, port] = splitHostPort(relayPublic);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  let sockets = 0;
  // No 'upgrade' listener: the proxy sees the upgrade request as an ordinary one and forwards it on its pool.
  const server = http.createServer((req, res) => {
    const up = http.request({ host, port, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('socket', (s) => {
      if ((s as { counted?: boolean }).counted !== true) sockets += 1;
      (s as { counted?: boolean }).counted = true;
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const proxyPort = await listenOnLoopback(t, server);
  return { addr: `127.0.0.1:${proxyPort}`, upstreamSockets: () => sockets };
}

/** One request through the proxy, read whole. */
function get(addr: string, path: string, headers: http.OutgoingHttpHeaders): Promise<{ status: number; body: string }> {
  const [host, port] = splitHostPort(addr);
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('A refused upgrade behind a pooling keep-alive reverse proxy', { timeout: 60_000 }, () => {
  const scope = new CleanupScope();
  let attacker: Device;
  let victim: Device;
  let proxy: { addr: string; upstreamSockets: () => number };

  before(async () => {
    requireRefBinary('ref-agent');
    const fx = await startRelay(scope);
    attacker = await startDevice(scope, 'delta');
    victim = await startDevice(scope, 'bear');
    // The attacker tenant runs the Go client: only the relay's own check stands between the tenants.
    const token = await createAgentToken(fx.relay, 'delta');
    const registered = waitForRegistration(fx.relay, 'delta');
    await startGoAgent(scope, fx.addresses.agentUrl, token, attacker.addr);
    await registered;
    await connectAgent(scope, fx, 'bear', victim.addr);
    proxy = await startPoolingProxy(scope, fx.addresses.public);
  });
  after(() => scope.run());

  it("never sends a later visitor's request for another agent to the attacker's device", async () => {
    for (let round = 0; round < 5; round += 1) {
      const refused = await get(proxy.addr, '/ws-404', {
        host: `delta.${BASE_DOMAIN}`,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      });
      assert.equal(refused.status, 404, `round ${round}: the attacker's refusal passed on`);
      const victimRes = await get(proxy.addr, '/secret', { host: `bear.${BASE_DOMAIN}`, authorization: 'Bearer victim-token', cookie: 'session=victim' });
      assert.equal(victimRes.status, 200, `round ${round}: the victim's request answered`);
      assert.equal(victimRes.body, 'device:bear:/secret', `round ${round}: answered by the victim's own device`);
    }
    await waitFor(() => victim.requests.filter((r) => r.url === '/secret').length === 5, 'five requests at the victim device');
    assert.deepEqual(attacker.requests.map((r) => r.url), ['/ws-404', '/ws-404', '/ws-404', '/ws-404', '/ws-404'], 'the attacker device saw only its own upgrades');
    assert.ok(!attacker.requests.some((r) => r.headers.authorization !== undefined), "the victim's Authorization never reached the attacker");
    assert.ok(proxy.upstreamSockets() >= 5, 'each refused upgrade closed its upstream connection, so the pool opened a new one');
  });
});
