/**
 * Fixtures for relay tests, all on 127.0.0.1 with port 0: a relay on a temp
 * SQLite file with captured logs, a local origin (HTTP + WebSocket echo) that
 * counts its connections, our agent (TunnelClient) with its hook events, a
 * visitor HTTP client that sets the Host header, and a condition waiter.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { TunnelClient, type TunnelClientOptions } from '../../src/agent/index.js';
import { Session, type MuxStream } from '../../src/mux/index.js';
import { dialWebSocket, type WebSocketDuplex } from '../../src/transport/index.js';
import { Relay, type RelayAddresses, type RelayOptions } from '../../src/relay/index.js';
import type { AccessPolicyInput } from '../../src/relay/access/index.js';
import { createSinkLogger, type LogRecord } from '../../src/shared/logger.js';

/** Anything that runs cleanup functions at its end: a `TestContext`, or a `CleanupScope` for suite-wide fixtures. */
export interface Scope {
  after(fn: () => unknown): void;
}

/** Cleanup functions collected for a whole suite; call `run()` from the suite's `after()` hook. */
export class CleanupScope implements Scope {
  readonly #fns: Array<() => unknown> = [];

  after(fn: () => unknown): void {
    this.#fns.push(fn);
  }

  /** Runs the cleanups, last registered first. */
  async run(): Promise<void> {
    for (const fn of this.#fns.splice(0).reverse()) await fn();
  }
}

/** Base domain used by relay tests. */
export const BASE_DOMAIN = 'tunnel.test';

/** A running relay with its captured log lines. */
export interface RelayFixture {
  relay: Relay;
  addresses: RelayAddresses;
  /** Every log line of the relay, in order. */
  logs: LogRecord[];
  dbPath: string;
}

/** Starts a relay (separate agent and public listeners unless `shared`); closed after the test. */
export async function startRelay(
  t: Scope,
  options: Partial<RelayOptions> & { shared?: boolean } = {},
): Promise<RelayFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-test-'));
  const dbPath = join(dir, 'relay.db');
  const logs: LogRecord[] = [];
  const { shared, ...rest } = options;
  const relay = new Relay({
    agentListen: '127.0.0.1:0',
    ...(shared === true ? {} : { publicListen: '127.0.0.1:0' }),
    baseDomain: BASE_DOMAIN,
    dbPath,
    logger: createSinkLogger((r) => logs.push(r)),
    ...rest,
  });
  t.after(async () => {
    await relay.close({ graceMs: 0 });
    rmSync(dir, { recursive: true, force: true });
  });
  const addresses = await relay.listen();
  return { relay, addresses, logs, dbPath };
}

/** Creates the agent (if needed) with an access policy (public by default) and returns a new token. */
export async function createAgentToken(relay: Relay, name: string, policy: AccessPolicyInput = { mode: 'public' }): Promise<string> {
  await relay.tokens.ensureAgent(name);
  await relay.accessPolicies.setPolicy(name, policy);
  return (await relay.tokens.createToken(name)).token.reveal();
}

/** A local service for the agent. */
export interface OriginFixture {
  server: http.Server;
  /** `127.0.0.1:PORT`. */
  addr: string;
  /** Open TCP connections right now. */
  readonly openConnections: number;
  /** Requests seen, in order (method, url, headers). */
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  /** Resolves when a connection closes. */
  nextConnectionClose(): Promise<void>;
}

/** Deterministic byte i = i mod 251 (as ref-origin's /bytes). */
export function patternBytes(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
  return b;
}

/**
 * Starts an origin: `/hello`, `/bytes?n=N[&chunked=1]`, `/echo` (body back,
 * X-Echo-* headers), `/headers` (JSON), `/status?code=N`, `/hang` (never
 * answers), `/ws` (WebSocket echo). Closed after the test.
 */
export async function startOrigin(t: Scope, name = 'origin'): Promise<OriginFixture> {
  const sockets = new Set<Socket>();
  const closeWaiters: Array<() => void> = [];
  const requests: OriginFixture['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://origin');
    switch (url.pathname) {
      case '/hello':
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`hello from ${name}\n`);
        return;
      case '/bytes':
        return sendBytes(res, Number(url.searchParams.get('n') ?? '0'), url.searchParams.get('chunked') === '1', req.method === 'HEAD');
      case '/echo': {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          res.writeHead(200, {
            'X-Echo-Method': req.method ?? '',
            'X-Echo-Host': req.headers.host ?? '',
            'X-Echo-Uri': req.url ?? '',
            'Content-Length': body.length,
          });
          res.end(body);
        });
        return;
      }
      case '/headers':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }));
        return;
      case '/status':
        res.writeHead(Number(url.searchParams.get('code') ?? '200'));
        res.end();
        return;
      case '/hang':
        return;
      default:
        res.writeHead(404);
        res.end();
    }
  });
  server.on('upgrade', (req: http.IncomingMessage) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
  });
  const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => {
      sockets.delete(s);
      for (const w of closeWaiters.splice(0)) w();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    addr: `127.0.0.1:${port}`,
    get openConnections() {
      return sockets.size;
    },
    requests,
    nextConnectionClose: () => new Promise((resolve) => closeWaiters.push(resolve)),
  };
}

/** Answers `n` pattern bytes (`patternBytes`), with backpressure; chunked, or with Content-Length; headers only for a HEAD. */
export function sendBytes(res: http.ServerResponse, n: number, chunked: boolean, head: boolean): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', ...(chunked ? {} : { 'Content-Length': n }) });
  if (head) {
    res.end();
    return;
  }
  let offset = 0;
  const step = 64 * 1024;
  const pump = (): void => {
    while (offset < n) {
      const len = Math.min(step, n - offset);
      const ok = res.write(patternBytes(offset, len));
      offset += len;
      if (!ok) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('close', () => res.off('drain', pump));
  pump();
}

/** Our agent, with the hook events it reported. */
export interface AgentFixture {
  client: TunnelClient;
  events: string[];
  /** Resolves at the next `onSessionUp` after the call. */
  nextSessionUp(): Promise<void>;
  /** Resolves at the next `onSessionDown` after the call, with its error. */
  nextSessionDown(): Promise<Error | undefined>;
}

/** Starts a TunnelClient towards `relayUrl` (no jitter, quick retries); stopped after the test. */
export function startAgent(t: Scope, options: TunnelClientOptions): AgentFixture {
  const events: string[] = [];
  const upWaiters: Array<() => void> = [];
  const downWaiters: Array<(err: Error | undefined) => void> = [];
  const client = new TunnelClient({
    jitterRatio: 0,
    backoffInitialMs: 50,
    backoffMaxMs: 200,
    stabilityThresholdMs: 0,
    ...options,
    hooks: {
      onSessionUp: () => {
        events.push('session_up');
        for (const w of upWaiters.splice(0)) w();
      },
      onSessionDown: (err) => {
        events.push(`session_down:${err?.message ?? ''}`);
        for (const w of downWaiters.splice(0)) w(err);
      },
      onDialFailed: (_attempt, err) => {
        events.push(`dial_failed:${err.message}`);
      },
      ...options.hooks,
    },
  });
  t.after(() => client.stop());
  client.start();
  return {
    client,
    events,
    nextSessionUp: () => new Promise((resolve) => upWaiters.push(resolve)),
    nextSessionDown: () => new Promise((resolve) => downWaiters.push(resolve)),
  };
}

/** Starts an agent and waits until the relay has registered it. */
export async function connectAgent(
  t: Scope,
  fixture: RelayFixture,
  name: string,
  localAddr: string,
  token?: string,
): Promise<AgentFixture> {
  const agentToken = token ?? (await createAgentToken(fixture.relay, name));
  const registered = waitForRegistration(fixture.relay, name);
  const agent = startAgent(t, { relayUrl: fixture.addresses.agentUrl, token: agentToken, localAddr });
  await registered;
  return agent;
}

/** Resolves when the relay registers a session for `name`. */
export function waitForRegistration(relay: Relay, name: string): Promise<void> {
  return new Promise((resolve) => {
    const onConnect = (c: { agentName: string }): void => {
      if (c.agentName !== name) return;
      relay.registry.off('connect', onConnect);
      resolve();
    };
    relay.registry.on('connect', onConnect);
  });
}

/** A visitor's response. */
export interface VisitResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Options of `visit`. */
export interface VisitOptions {
  method?: string;
  /** Host header; default `<agent>.tunnel.test` must be given by the caller through `agent`. */
  host?: string;
  agent?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: Buffer | string;
}

/** Sends one request to the relay's public listener and reads the whole response. */
export function visit(addresses: RelayAddresses, path: string, options: VisitOptions = {}): Promise<VisitResponse> {
  const [host, port] = splitHostPort(addresses.public);
  const hostHeader = options.host ?? (options.agent !== undefined ? `${options.agent}.${BASE_DOMAIN}` : addresses.public);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, method: options.method ?? 'GET', path, headers: { host: hostHeader, ...options.headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** `host:port` (IPv6 in brackets) split. */
export function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))];
}

/** Waits until `condition()` is true (polling); fails after `timeoutMs`, default 20 s. */
export { waitFor } from '../helpers/wait-for.js';

/** One connection through a `CountingProxy`. */
export interface ProxiedConnection {
  /** Bytes the target sent towards the client so far. */
  bytesFromTarget: number;
  readonly isClosed: boolean;
  /** Resolves once both sockets of the connection are closed. */
  closed: Promise<void>;
}

/** A TCP proxy in front of a local service that records each connection. */
export interface CountingProxy {
  /** `127.0.0.1:PORT` to give the agent as its local address. */
  addr: string;
  connections: ProxiedConnection[];
  /** Connections not closed yet. */
  readonly openConnections: number;
}

/** Starts a TCP proxy to `target` (`host:port`) on 127.0.0.1:0; closed after the test. */
export async function startCountingProxy(t: Scope, target: string): Promise<CountingProxy> {
  const [targetHost, targetPort] = splitHostPort(target);
  const connections: ProxiedConnection[] = [];
  const sockets = new Set<Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    let closedCount = 0;
    let markClosed!: () => void;
    const record: ProxiedConnection = {
      bytesFromTarget: 0,
      isClosed: false,
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
    };
    const onClose = (s: Socket) => () => {
      sockets.delete(s);
      closedCount += 1;
      if (closedCount === 2) {
        (record as { isClosed: boolean }).isClosed = true;
        markClosed();
      }
    };
    client.once('close', onClose(client));
    upstream.once('close', onClose(upstream));
    upstream.on('data', (c: Buffer) => {
      record.bytesFromTarget += c.length;
    });
    connections.push(record);
    void pipeline(client, upstream).catch(() => {
      client.destroy();
      upstream.destroy();
    });
    void pipeline(upstream, client).catch(() => {
      client.destroy();
      upstream.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    addr: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections,
    get openConnections() {
      return connections.filter((c) => !c.isClosed).length;
    },
  };
}

/** A minimal agent driven by the test: a yamux client over `dialWebSocket`, answering each stream itself. */
export interface RawAgent {
  session: Session;
  duplex: WebSocketDuplex;
  /** Requests it received, in order. */
  requests: string[];
}

/**
 * Connects a bare agent (no reconnect) with `token` and answers every
 * visitor request with `handler` (an in-process HTTP server fed the streams).
 * Closed after the test.
 */
export async function startRawAgent(
  t: Scope,
  relayUrl: string,
  token: string,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  options: { keepAliveIntervalMs?: number; headers?: Record<string, string> } = {},
): Promise<RawAgent> {
  const duplex = await dialWebSocket(`${relayUrl}?token=${encodeURIComponent(token)}`, { headers: options.headers ?? {} });
  const session = new Session(duplex, { role: 'client', keepAliveIntervalMs: options.keepAliveIntervalMs ?? 0 });
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  session.on('stream', (stream: MuxStream) => {
    stream.on('error', () => {});
    server.emit('connection', stream);
  });
  t.after(() => session.destroy());
  return { session, duplex, requests };
}
