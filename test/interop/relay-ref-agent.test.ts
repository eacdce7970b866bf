/**
 * The original Go tunnel client (`ref-agent`, with `ref-origin` as its local
 * service) against OUR relay: every scenario of ../shared/interop/go/smoke.sh,
 * plus a visitor that aborts a 200 MiB download mid-way (the relay resets the
 * stream and the Go client releases its local connection).
 * Needs .interop-bin/ (bash scripts/build-interop.sh); skips with one line when
 * it is missing (fails instead under VISIONA_REQUIRE_INTEROP=1, as in CI).
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  BASE_DOMAIN,
  CleanupScope,
  createAgentToken,
  patternBytes,
  splitHostPort,
  startCountingProxy,
  startRelay,
  visit,
  waitFor,
  waitForRegistration,
  type RelayFixture,
} from '../relay/relay-fixtures.js';
import { closedPort } from '../helpers/loopback.js';
import { requireRefBinary, runWsProbe, startRef, startRefOrigin, type RefEvent } from '../helpers/ref-process.js';
import { interopSkip } from '../helpers/interop-skip.js';

const AGENT = 'edge-go';
const MiB = 1024 * 1024;

/** Starts ref-agent for `name` towards `relayUrl` and waits until our relay registered it. */
async function startRefAgent(scope: CleanupScope | { after(fn: () => unknown): void }, fx: RelayFixture, name: string, local: string, relayUrl = fx.addresses.agentUrl) {
  const token = await createAgentToken(fx.relay, name);
  const registered = waitForRegistration(fx.relay, name);
  const agent = startRef(scope, 'ref-agent', ['-relay', relayUrl, '-token', token, '-local', local]);
  await agent.waitForEvent('session_up');
  await registered;
  return agent;
}

describe('Our relay with the Go tunnel client (ref-agent)', { skip: interopSkip('ref-agent', 'ref-origin', 'ref-tap') }, () => {
  const scope = new CleanupScope();
  let fx: RelayFixture;
  let originAddr: string;

  before(async () => {
    for (const name of ['ref-agent', 'ref-origin', 'ref-tap'] as const) requireRefBinary(name);
    fx = await startRelay(scope);
    ({ addr: originAddr } = await startRefOrigin(scope));
    await startRefAgent(scope, fx, AGENT, originAddr);
  });
  after(() => scope.run());

  it('serves GET /hello through the tunnel', async () => {
    const r = await visit(fx.addresses, '/hello', { agent: AGENT });
    assert.equal(r.status, 200, 'status');
    assert.equal(r.body.toString(), 'hello from origin\n', 'the origin body');
  });

  it('keeps the public Host header and the raw request target', async () => {
    const host = `${AGENT}.${BASE_DOMAIN}:8443`;
    const r = await visit(fx.addresses, '/echo?a=1&b=%2F', { host });
    assert.equal(r.headers['x-echo-host'], host, 'Host reaches the origin unchanged');
    assert.equal(r.headers['x-echo-uri'], '/echo?a=1&b=%2F', 'path and raw query preserved');
  });

  it('strips the /a/<agent> prefix and sets the X-Forwarded-* headers', async () => {
    const r = await visit(fx.addresses, `/a/${AGENT}/headers?x=1`);
    assert.equal(r.status, 200, 'status');
    const seen = JSON.parse(r.body.toString()) as { uri: string; host: string; headers: Record<string, string[]> };
    assert.equal(seen.uri, '/headers?x=1', 'prefix stripped, query kept');
    assert.equal(seen.host, fx.addresses.public, 'Host kept');
    assert.deepEqual(seen.headers['X-Forwarded-Prefix'], [`/a/${AGENT}`], 'X-Forwarded-Prefix');
    assert.deepEqual(seen.headers['X-Forwarded-For'], ['127.0.0.1'], 'X-Forwarded-For');
    assert.deepEqual(seen.headers['X-Forwarded-Proto'], ['http'], 'X-Forwarded-Proto');
    assert.deepEqual(seen.headers['X-Forwarded-Host'], [fx.addresses.public], 'X-Forwarded-Host');
  });

  it('delivers a 5 MiB download with Content-Length byte for byte', async () => {
    const r = await visit(fx.addresses, `/bytes?n=${5 * MiB}`, { agent: AGENT });
    assert.equal(r.headers['content-length'], String(5 * MiB), 'Content-Length passed through');
    assert.ok(r.body.equals(patternBytes(0, 5 * MiB)), '5 MiB identical to the origin pattern');
  });

  it('delivers a chunked 5 MiB download byte for byte', async () => {
    const r = await visit(fx.addresses, `/bytes?n=${5 * MiB}&chunked=1`, { agent: AGENT });
    assert.equal(r.headers['transfer-encoding'], 'chunked', 'chunked to the visitor');
    assert.ok(r.body.equals(patternBytes(0, 5 * MiB)), 'chunked 5 MiB identical');
  });

  it('echoes a 1 MiB POST and a chunked 1 MiB PUT intact', async () => {
    const body = Buffer.concat([patternBytes(3, MiB), Buffer.from('0123456789abcdefg')]);
    const post = await visit(fx.addresses, '/echo', { agent: AGENT, method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.ok(post.body.equals(body), 'POST body echoed');
    assert.equal(post.headers['x-echo-method'], 'POST', 'method');
    const put = await visit(fx.addresses, '/echo', { agent: AGENT, method: 'PUT', body, headers: { 'transfer-encoding': 'chunked' } });
    assert.ok(put.body.equals(body), 'chunked PUT body echoed');
    assert.equal(put.headers['x-echo-method'], 'PUT', 'method');
  });

  it('passes the origin status through', async () => {
    const r = await visit(fx.addresses, '/status?code=418', { agent: AGENT });
    assert.equal(r.status, 418, 'status 418');
  });

  it('answers HEAD without a body', async () => {
    const r = await visit(fx.addresses, '/bytes?n=1000', { agent: AGENT, method: 'HEAD' });
    assert.equal(r.status, 200, 'status');
    assert.equal(r.body.length, 0, 'no body');
  });

  it('streams a response as the origin flushes it', async () => {
    const [host, port] = splitHostPort(fx.addresses.public);
    const chunks: string[] = [];
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host, port, path: '/stream?n=3&ms=250', headers: { host: `${AGENT}.${BASE_DOMAIN}` } }, (res) => {
          res.setEncoding('utf8');
          res.on('data', (c: string) => chunks.push(c));
          res.on('end', resolve);
          res.on('error', reject);
        })
        .on('error', reject);
    });
    assert.equal(chunks.join(''), 'tick 0\ntick 1\ntick 2\n', 'complete body');
    assert.equal(chunks[0], 'tick 0\n', 'the first tick arrived alone, before the origin wrote the next');
  });

  it('delivers a body the Go client un-gzipped (close-delimited on the stream) intact', async () => {
    const r = await visit(fx.addresses, '/gzip?n=20000', { agent: AGENT });
    const expected = Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join('');
    assert.equal(r.body.toString(), expected, 'decoded body complete');
  });

  it('serves 16 concurrent requests, one stream each', async () => {
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => visit(fx.addresses, `/bytes?n=${300_001 + i}`, { agent: AGENT })),
    );
    results.forEach((r, i) => {
      assert.equal(r.status, 200, `request ${i} status`);
      assert.ok(r.body.equals(patternBytes(0, 300_001 + i)), `request ${i} body`);
    });
  });

  it('passes a WebSocket through: text echo, 256 KiB binary echo, clean close', async () => {
    const result = await runWsProbe(`ws://${fx.addresses.public}/a/${AGENT}/ws`);
    assert.equal(result['ok'], true, `ws probe: ${String(result['error'])}`);
  });

  it('lets the Go client answer 502 itself when its local service is down', async () => {
    await startRefAgent(scope, fx, 'edge-down', `127.0.0.1:${await closedPort()}`);
    const r = await visit(fx.addresses, '/hello', { agent: 'edge-down' });
    assert.equal(r.status, 502, 'status 502');
    assert.equal(r.headers['x-tunnel-error'], undefined, "the 502 is the Go client's, not the relay's");
  });

  it('refuses a wrong token before the upgrade, which the Go client reports as a bad handshake', async () => {
    const bad = startRef(scope, 'ref-agent', ['-relay', fx.addresses.agentUrl, '-token', 'vt_0000000000000000_wrong', '-local', originAddr]);
    const failed = await bad.waitForEvent('dial_failed');
    assert.equal(failed['error'], 'websocket: bad handshake', 'refused upgrade');
    const retry = await bad.waitForEvent('retry_scheduled');
    assert.equal(retry['delay_ms'], 1000, 'Go backoff after the refusal');
    assert.equal(await bad.stop(), 0, 'ref-agent exits 0 on SIGTERM');
    assert.ok(
      fx.logs.some((l) => l.msg === 'agent rejected' && l.fields['status'] === 401),
      'the relay logged the 401',
    );
  });

  it('resets the stream when a visitor aborts a 200 MiB download, and the Go client releases its local connection', async (t) => {
    const { addr } = await startRefOrigin(t);
    const proxy = await startCountingProxy(t, addr);
    const tap = startRef(t, 'ref-tap', ['-listen', '127.0.0.1:0', '-target', `ws://${fx.addresses.agent}`]);
    const tapAddr = String((await tap.waitForEvent('listening'))['addr']);
    await startRefAgent(t, fx, 'edge-abort', proxy.addr, `ws://${tapAddr}/tunnel/connect`);

    // A complete exchange first: the wire shows SYN/ACK and one FIN each way on stream 2, no RST.
    const hello = await visit(fx.addresses, '/hello', { agent: 'edge-abort' });
    assert.equal(hello.status, 200, 'GET through the tap');
    const frame = (dir: string, flag: string) => (e: RefEvent) =>
      e.event === 'frame' && e['dir'] === dir && e['stream'] === 2 && Array.isArray(e['flags']) && (e['flags'] as string[]).includes(flag);
    await tap.waitForEvent('frame', frame('r2c', 'SYN'), { what: 'SYN from the relay on stream 2' });
    await tap.waitForEvent('frame', frame('c2r', 'ACK'), { what: 'ACK from the Go client on stream 2' });
    await tap.waitForEvent('frame', frame('c2r', 'FIN'), { what: 'FIN from the Go client on stream 2' });
    await tap.waitForEvent('frame', frame('r2c', 'FIN'), { what: 'FIN from the relay on stream 2' });
    assert.equal(tap.events.filter(frame('r2c', 'FIN')).length, 1, 'one FIN from the relay on stream 2');
    assert.ok(!tap.events.some(frame('r2c', 'RST')) && !tap.events.some(frame('c2r', 'RST')), 'no RST on a complete exchange');

    const total = 200 * MiB;
    const [host, port] = splitHostPort(fx.addresses.public);
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host, port, path: `/bytes?n=${total}`, headers: { host: `edge-abort.${BASE_DOMAIN}` } }, (res) => {
        res.on('data', (c: Buffer) => {
          received += c.length;
          if (received >= 4 * MiB) {
            req.destroy();
            resolve();
          }
        });
        res.on('error', () => {});
      });
      req.on('error', (err) => (received >= 4 * MiB ? undefined : reject(err)));
    });
    assert.ok(received < total, 'the visitor went away mid-way');

    await waitFor(() => proxy.connections.length === 1 && proxy.connections[0]?.isClosed === true, "the Go client's local connection to close", 20_000);
    const local = proxy.connections[0] as { bytesFromTarget: number };
    assert.ok(local.bytesFromTarget < total, `the origin did not send the whole body (${local.bytesFromTarget} bytes)`);
    const isRst = (e: RefEvent): boolean =>
      e.event === 'frame' && e['dir'] === 'r2c' && Array.isArray(e['flags']) && (e['flags'] as string[]).includes('RST');
    const rst = await tap.waitForEvent('frame', isRst, { what: 'an RST frame from the relay' });
    assert.equal(typeof rst['stream'], 'number', 'the relay reset the download stream');
  });
});
