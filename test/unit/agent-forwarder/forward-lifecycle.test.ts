import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { LocalForwarder, type LocalRequestRecord } from '../../../src/agent/local-forwarder.js';
import { resolveLocalForwarderConfig } from '../../../src/agent/local-forwarder-config.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { createDuplexPair } from '../../helpers/duplex-pair.js';
import { closed, connectRaw, fetch, listen, readToEnd, startFront, startLocal, waitFor } from './harness.js';

/** Tries to listen on ::1; undefined when this machine has no IPv6 loopback. */
async function listenOnIpv6Loopback(): Promise<http.Server | undefined> {
  const server = http.createServer((req, res) => res.end(`v6 ${req.socket.localAddress ?? ''}`));
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(0, '::1', () => resolve(server));
  });
}

function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

describe('LocalForwarder: addresses, streams and lifecycle', () => {
  it('reaches a service listening only on ::1 through localhost:PORT', async (t) => {
    const server = await listenOnIpv6Loopback();
    if (server === undefined) {
      t.skip('this machine has no ::1');
      return;
    }
    t.after(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const front = await startFront(t, { localAddr: `localhost:${port}` });
    const { res, body } = await fetch(front.port);
    assert.equal(res.statusCode, 200, 'status 200');
    assert.equal(body.toString(), 'v6 ::1', 'served over ::1');
  });

  it('reaches a service listening only on 127.0.0.1 through localhost:PORT', async (t) => {
    const local = await startLocal(t, (req, res) => res.end(`v4 ${req.socket.localAddress ?? ''}`));
    const front = await startFront(t, { localAddr: `localhost:${local.port}` });
    const { body } = await fetch(front.port);
    assert.equal(body.toString(), 'v4 127.0.0.1', 'served over 127.0.0.1');
  });

  it('pipes an upgrade to a service on ::1 through localhost:PORT', async (t) => {
    const server = await listenOnIpv6Loopback();
    if (server === undefined) {
      t.skip('this machine has no ::1');
      return;
    }
    t.after(() => server.close());
    server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhi');
    });
    const port = (server.address() as net.AddressInfo).port;
    const front = await startFront(t, { localAddr: `localhost:${port}` });
    const client = await connectRaw(t, front.port);
    client.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    const text = (await readToEnd(client)).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 101 [\s\S]*\r\n\r\nhi$/, '101 and data from the ::1 service');
  });

  it('serves a non-socket Duplex (as a mux stream) and ends it with FIN, not a reset', async (t) => {
    const local = await startLocal(t, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(Buffer.concat(chunks)));
    });
    const forwarder = new LocalForwarder({ localAddr: `127.0.0.1:${local.port}` });
    t.after(() => forwarder.close());
    const [relaySide, agentSide] = createDuplexPair();
    forwarder.handle(agentSide);
    const body = Buffer.alloc(300_000, 9);
    // The relay's way: Node's HTTP client over the stream.
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ method: 'POST', path: '/echo', headers: { host: 'h' }, createConnection: () => relaySide }, resolve);
      req.on('error', reject);
      req.end(body);
    });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(body), 'the body went through');
    await waitFor(() => agentSide.writableFinished, 'the agent side to finish writing');
    assert.equal(agentSide.errored, null, 'the agent side ended without error (FIN, not RST)');
    assert.equal(forwarder.activeCount, 0, 'the exchange is finished');
  });

  it('writes a framed response and FIN on a raw Duplex, for a relay reading until FIN', async (t) => {
    const local = await startLocal(t, (_req, res) => res.end('hello'));
    const forwarder = new LocalForwarder({ localAddr: `127.0.0.1:${local.port}` });
    t.after(() => forwarder.close());
    const [relaySide, agentSide] = createDuplexPair();
    forwarder.handle(agentSide);
    const all = readAll(relaySide);
    relaySide.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    const text = (await all).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/, 'status line');
    assert.match(text, /\r\n(content-length: 5|transfer-encoding: chunked)\r\n/i, 'the response is framed');
    assert.match(text, /hello(\r\n0\r\n\r\n)?$/, 'the body, then FIN');
  });

  it('answers 400 to a malformed request', async (t) => {
    const local = await startLocal(t, (_req, res) => res.end('unreachable'));
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const client = await connectRaw(t, front.port);
    client.write('NOT HTTP AT ALL\r\n\r\n');
    const text = (await readToEnd(client)).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/, 'status 400');
  });

  it('keeps serving when the onRequest callback throws', async (t) => {
    const local = await startLocal(t, (_req, res) => res.end('ok'));
    const forwarder = new LocalForwarder({
      localAddr: `127.0.0.1:${local.port}`,
      onRequest: () => {
        throw new Error('metrics broke');
      },
    });
    t.after(() => forwarder.close());
    const server = net.createServer({ allowHalfOpen: true }, (s) => forwarder.handle(s));
    const port = await listen(t, server);
    assert.equal((await fetch(port)).body.toString(), 'ok', 'first request served');
    assert.equal((await fetch(port)).body.toString(), 'ok', 'second request served');
  });

  it('close() destroys active exchanges and local connections, resolves once they closed, and is idempotent', async (t) => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    let localSocket: net.Socket | undefined;
    const local = await startLocal(t, (req, res) => {
      localSocket = req.socket;
      res.writeHead(200);
      res.write('partial');
      arrived();
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const req = http.get({ host: '127.0.0.1', port: front.port, agent: false }, (res) => {
      res.on('error', () => {});
      res.resume();
    });
    req.on('error', () => {});
    await requestArrived;
    assert.equal(front.forwarder.activeCount, 1, 'one exchange active');
    const first = front.forwarder.close();
    assert.equal(front.forwarder.close(), first, 'a second close() returns the same promise');
    await first;
    assert.equal(front.forwarder.localSocketCount, 0, 'no local connection left');
    assert.equal(front.forwarder.activeCount, 0, 'no exchange left');
    await closed(localSocket as net.Socket);
    const record: LocalRequestRecord | undefined = front.records[0];
    assert.equal(record?.error, 'ERR_ABORTED', 'the cut exchange is recorded as aborted');
    const [, late] = createDuplexPair();
    front.forwarder.handle(late);
    assert.equal(late.destroyed, true, 'a stream handed over after close() is destroyed');
  });
});

describe('resolveLocalForwarderConfig', () => {
  it('fills the defaults', () => {
    const c = resolveLocalForwarderConfig({ localAddr: 'localhost:3000' });
    assert.deepEqual(
      { ...c },
      { localAddr: 'localhost:3000', localHost: 'localhost', localPort: 3000, hostHeader: 'preserve', connectTimeoutMs: 10_000, maxSockets: Infinity, maxFreeSockets: 256 },
      'defaults applied',
    );
  });

  it('parses a bracketed IPv6 address', () => {
    assert.equal(resolveLocalForwarderConfig({ localAddr: '[::1]:8080' }).localHost, '::1', 'brackets removed');
  });

  const bad: Array<[string, Parameters<typeof resolveLocalForwarderConfig>[0]]> = [
    ['a localAddr without port', { localAddr: 'localhost' }],
    ['a localAddr with port 0', { localAddr: '127.0.0.1:0' }],
    ['an empty hostHeader', { localAddr: '127.0.0.1:1', hostHeader: '' }],
    ['a hostHeader with CRLF', { localAddr: '127.0.0.1:1', hostHeader: 'a\r\nX-Evil: 1' }],
    ['a zero connectTimeoutMs', { localAddr: '127.0.0.1:1', connectTimeoutMs: 0 }],
    ['a fractional maxSockets', { localAddr: '127.0.0.1:1', maxSockets: 1.5 }],
  ];
  for (const [name, options] of bad) {
    it(`rejects ${name} with a ConfigError`, () => {
      assert.throws(() => resolveLocalForwarderConfig(options), ConfigError, name);
    });
  }
});
