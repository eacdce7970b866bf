/**
 * Our agent (TunnelClient) against our relay: the smoke.sh scenarios, with a
 * Node origin as the local service.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  BASE_DOMAIN,
  CleanupScope,
  connectAgent,
  patternBytes,
  splitHostPort,
  startOrigin,
  startRelay,
  visit,
  waitFor,
  type OriginFixture,
  type RelayFixture,
} from './relay-fixtures.js';

const AGENT = 'edge-01';
const MiB = 1024 * 1024;

/** Opens a WebSocket to `url` with `host` as Host, echoes a text and a 256 KiB binary message, closes. */
async function webSocketEcho(url: string, host: string): Promise<{ text: string; binary: Buffer; closeCode: number }> {
  const ws = new WebSocket(url, { headers: { host }, perMessageDeflate: false });
  const messages: Array<{ data: Buffer; isBinary: boolean }> = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data: Buffer, isBinary) => {
    messages.push({ data, isBinary });
    for (const w of waiters.splice(0)) w();
  });
  const next = async (): Promise<{ data: Buffer; isBinary: boolean }> => {
    while (messages.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
    return messages.shift() as { data: Buffer; isBinary: boolean };
  };
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send('hello over the tunnel');
  const text = await next();
  const payload = patternBytes(7, 256 * 1024);
  ws.send(payload, { binary: true });
  const binary = await next();
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000);
  return { text: text.isBinary ? '<binary>' : text.data.toString(), binary: binary.data, closeCode: await closed };
}

describe('Our relay with our agent', () => {
  const scope = new CleanupScope();
  let fx: RelayFixture;
  let origin: OriginFixture;

  before(async () => {
    fx = await startRelay(scope);
    origin = await startOrigin(scope);
    await connectAgent(scope, fx, AGENT, origin.addr);
  });
  after(() => scope.run());

  it('serves GET by Host and by /a/<agent>/ path', async () => {
    const byHost = await visit(fx.addresses, '/hello', { agent: AGENT });
    assert.equal(byHost.status, 200, 'status by Host');
    assert.equal(byHost.body.toString(), 'hello from origin\n', 'body by Host');
    const byPath = await visit(fx.addresses, `/a/${AGENT}/hello`);
    assert.equal(byPath.body.toString(), 'hello from origin\n', 'body by path');
  });

  it('keeps Host and the raw target, and adds X-Forwarded-* for path routes', async () => {
    const host = `${AGENT}.${BASE_DOMAIN}:8443`;
    const echo = await visit(fx.addresses, '/echo?a=1&b=%2F', { host });
    assert.equal(echo.headers['x-echo-host'], host, 'Host unchanged');
    assert.equal(echo.headers['x-echo-uri'], '/echo?a=1&b=%2F', 'target unchanged');
    const r = await visit(fx.addresses, `/a/${AGENT}/headers?q=2`, { headers: { 'x-forwarded-for': '203.0.113.9', connection: 'keep-alive, x-hop', 'x-hop': '1' } });
    const seen = JSON.parse(r.body.toString()) as { url: string; headers: http.IncomingHttpHeaders };
    assert.equal(seen.url, '/headers?q=2', 'prefix stripped');
    assert.equal(seen.headers['x-forwarded-prefix'], `/a/${AGENT}`, 'X-Forwarded-Prefix');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'a spoofed X-Forwarded-For from an untrusted visitor is replaced');
    assert.equal(seen.headers['x-forwarded-proto'], 'http', 'X-Forwarded-Proto');
    assert.equal(seen.headers['x-forwarded-host'], fx.addresses.public, 'X-Forwarded-Host');
    assert.equal(seen.headers['x-hop'], undefined, 'a header named in Connection is hop-by-hop and dropped');
  });

  it('delivers 5 MiB with Content-Length and chunked, byte for byte', async () => {
    const cl = await visit(fx.addresses, `/bytes?n=${5 * MiB}`, { agent: AGENT });
    assert.equal(cl.headers['content-length'], String(5 * MiB), 'Content-Length kept');
    assert.ok(cl.body.equals(patternBytes(0, 5 * MiB)), 'Content-Length body identical');
    const chunked = await visit(fx.addresses, `/bytes?n=${5 * MiB}&chunked=1`, { agent: AGENT });
    assert.ok(chunked.body.equals(patternBytes(0, 5 * MiB)), 'chunked body identical');
  });

  it('echoes a 1 MiB POST and a chunked 1 MiB PUT', async () => {
    const body = patternBytes(11, MiB + 17);
    const post = await visit(fx.addresses, '/echo', { agent: AGENT, method: 'POST', body });
    assert.ok(post.body.equals(body), 'POST echoed');
    const put = await visit(fx.addresses, '/echo', { agent: AGENT, method: 'PUT', body, headers: { 'transfer-encoding': 'chunked' } });
    assert.ok(put.body.equals(body), 'chunked PUT echoed');
  });

  it('passes status codes through and answers HEAD without a body', async () => {
    assert.equal((await visit(fx.addresses, '/status?code=418', { agent: AGENT })).status, 418, 'status 418');
    const head = await visit(fx.addresses, '/bytes?n=1000', { agent: AGENT, method: 'HEAD' });
    assert.equal(head.status, 200, 'HEAD status');
    assert.equal(head.headers['content-length'], '1000', 'HEAD keeps Content-Length');
    assert.equal(head.body.length, 0, 'HEAD has no body');
  });

  it('serves 16 concurrent requests', async () => {
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => visit(fx.addresses, `/bytes?n=${300_001 + i}`, { agent: AGENT })));
    results.forEach((r, i) => assert.ok(r.body.equals(patternBytes(0, 300_001 + i)), `request ${i} body`));
  });

  it('passes a WebSocket through by Host and by path', async () => {
    const byHost = await webSocketEcho(`ws://${fx.addresses.public}/ws`, `${AGENT}.${BASE_DOMAIN}`);
    assert.equal(byHost.text, 'hello over the tunnel', 'text echo');
    assert.ok(byHost.binary.equals(patternBytes(7, 256 * 1024)), '256 KiB binary echo');
    assert.equal(byHost.closeCode, 1000, 'clean close');
    const byPath = await webSocketEcho(`ws://${fx.addresses.public}/a/${AGENT}/ws`, fx.addresses.public);
    assert.equal(byPath.text, 'hello over the tunnel', 'text echo by path');
  });

  it('streams a response: the first bytes arrive before the origin finished', async () => {
    // The origin is held after its first chunk; the visitor sees that chunk while the response is still open.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first\n');
      void released.then(() => res.end('last\n'));
    });
    held.listen(0, '127.0.0.1');
    await new Promise((resolve) => held.once('listening', resolve));
    scope.after(() => new Promise<void>((resolve) => held.close(() => resolve())));
    await connectAgent(scope, fx, 'edge-held', `127.0.0.1:${(held.address() as { port: number }).port}`);
    const [host, port] = splitHostPort(fx.addresses.public);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host, port, path: '/', headers: { host: `edge-held.${BASE_DOMAIN}` } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            if (text === '') assert.equal(c, 'first\n', 'the first chunk arrives while the origin holds the rest');
            text += c;
            release();
          });
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    assert.equal(body, 'first\nlast\n', 'complete body');
  });

  it("passes the agent's own 502 through when the local service is down", async () => {
    await connectAgent(scope, fx, 'edge-down', '127.0.0.1:1');
    const r = await visit(fx.addresses, '/hello', { agent: 'edge-down' });
    assert.equal(r.status, 502, 'status 502');
    assert.equal(r.headers['x-tunnel-error'] === undefined || !String(r.headers['x-tunnel-error']).startsWith('ERR_RELAY'), true, 'not a relay error');
  });
});

describe('Relay with one listener for agents and visitors', () => {
  it('serves agents on /tunnel/connect and visitors on every other path of the same port', async (t) => {
    const fx = await startRelay(t, { shared: true });
    assert.equal(fx.addresses.public, fx.addresses.agent, 'one address');
    const origin = await startOrigin(t);
    await connectAgent(t, fx, AGENT, origin.addr);
    const r = await visit(fx.addresses, '/hello', { agent: AGENT });
    assert.equal(r.body.toString(), 'hello from origin\n', 'visitor served on the agent port');
    const ws = await webSocketEcho(`ws://${fx.addresses.public}/ws`, `${AGENT}.${BASE_DOMAIN}`);
    assert.equal(ws.text, 'hello over the tunnel', 'visitor WebSocket on the shared port');
  });

  it('answers plain requests on a dedicated agent listener with 426 or 404', async (t) => {
    const fx = await startRelay(t);
    const [host, port] = splitHostPort(fx.addresses.agent);
    const status = (path: string) =>
      new Promise<number>((resolve, reject) => http.get({ host, port, path }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject));
    assert.equal(await status('/tunnel/connect'), 426, 'the agent path without an upgrade');
    assert.equal(await status('/other'), 404, 'any other path');
  });
});

describe('Relay upgrades of any protocol', () => {
  it('pipes a non-WebSocket upgrade raw both ways, with half-close in each direction', async (t) => {
    const fx = await startRelay(t);
    // A local service speaking a made-up protocol after 101: it echoes until the visitor's FIN, then says bye and ends.
    const local = http.createServer();
    local.on('upgrade', (req, socket, head) => {
      assert.equal(req.headers.upgrade, 'x-echo/1', 'the Upgrade header reaches the local service');
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x-echo/1\r\n\r\n');
      if (head.length > 0) socket.write(head);
      socket.on('data', (c: Buffer) => socket.write(c));
      socket.on('end', () => socket.end('bye'));
    });
    local.listen(0, '127.0.0.1');
    await new Promise((resolve) => local.once('listening', resolve));
    t.after(() => new Promise<void>((resolve) => local.close(() => resolve())));
    await connectAgent(t, fx, 'edge-proto', `127.0.0.1:${(local.address() as { port: number }).port}`);

    const [host, port] = splitHostPort(fx.addresses.public);
    const received = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host, port, path: '/proto', headers: { host: `edge-proto.${BASE_DOMAIN}`, connection: 'Upgrade', upgrade: 'x-echo/1' } });
      req.on('upgrade', (res, socket) => {
        assert.equal(res.statusCode, 101, '101 from the local service');
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (c: string) => {
          text += c;
          // Half-close once the echo is back: the other direction must stay open for "bye".
          if (text === 'ping') socket.end();
        });
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
        socket.write('ping');
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(received, 'pingbye', 'the echo, then data sent after our FIN, then the end');
  });
});

describe('Relay behind a trusted proxy', () => {
  it('appends the peer to a trusted X-Forwarded-For and keeps the proxy scheme', async (t) => {
    const fx = await startRelay(t, { trustProxy: ['127.0.0.1'] });
    const origin = await startOrigin(t);
    await connectAgent(t, fx, AGENT, origin.addr);
    const r = await visit(fx.addresses, '/headers', { agent: AGENT, headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' } });
    const seen = JSON.parse(r.body.toString()) as { headers: http.IncomingHttpHeaders };
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'X-Forwarded-For appended');
    assert.equal(seen.headers['x-forwarded-proto'], 'https', "the proxy's scheme kept");
  });
});

describe('Relay admin listener', () => {
  it('answers /healthz and /readyz, and /readyz turns 503 once closing', async (t) => {
    const fx = await startRelay(t, { adminListen: '127.0.0.1:0' });
    const admin = fx.addresses.admin as string;
    assert.ok(admin !== undefined, 'admin address reported');
    const [host, port] = splitHostPort(admin);
    const get = (path: string) =>
      new Promise<{ status: number; body: unknown }>((resolve, reject) =>
        http
          .get({ host, port, path }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          })
          .on('error', reject),
      );
    assert.deepEqual(await get('/healthz'), { status: 200, body: { status: 'ok' } }, 'healthz');
    assert.equal((await get('/readyz')).status, 200, 'ready while listening');
    assert.equal((await get('/nope')).status, 404, 'unknown path');

    // Closing with a request in flight: the drain is under way, and readiness says so.
    const origin = await startOrigin(t);
    await connectAgent(t, fx, AGENT, origin.addr);
    const [vh, vp] = splitHostPort(fx.addresses.public);
    const held = http.get({ host: vh, port: vp, path: '/hang', headers: { host: `${AGENT}.${BASE_DOMAIN}` } });
    held.on('error', () => {});
    await waitFor(() => origin.requests.some((r) => r.url === '/hang'), 'the held request');
    const closing = fx.relay.close({ graceMs: 60_000 });
    const during = await get('/readyz');
    assert.equal(during.status, 503, 'not ready while draining');
    held.destroy();
    await closing;
  });
});
