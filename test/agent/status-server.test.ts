/**
 * StatusServer with a real relay, agent (TunnelManager) and local service:
 * /status, /api/requests, Server-Sent Events after a visitor request, replay
 * straight to the local service, and the Host / cross-site checks.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import type { RecordedRequest } from '../../src/agent/request-recorder.js';
import { RequestRecorder } from '../../src/agent/request-recorder.js';
import { StatusServer, type StatusServerSnapshot } from '../../src/agent/status-server.js';
import { REPLAY_REQUEST_HEADER, REPLAY_REQUEST_HEADER_VALUE } from '../../src/agent/status-page.js';
import { ConfigError } from '../../src/shared/errors.js';
import { FakeClock } from '../helpers/mux-fake-clock.js';
import { splitHostPort, visit, waitFor } from '../relay/relay-fixtures.js';
import { request, SseReader, startStatusStack } from './status-fixtures.js';

const REPLAY_HEADERS = { [REPLAY_REQUEST_HEADER]: REPLAY_REQUEST_HEADER_VALUE };

describe('StatusServer', () => {
  it('serves the manager status as JSON, with the relay URL redacted', async (t) => {
    const fx = await startStatusStack(t);
    const res = await request(fx.address, '/status');
    assert.equal(res.status, 200, '/status answers 200');
    assert.match(String(res.headers['content-type']), /^application\/json/, 'as JSON');
    const body = JSON.parse(res.text) as StatusServerSnapshot;
    assert.equal(body.state, 'online', 'the agent is online');
    assert.equal(body.recentRequests, 0, 'no request recorded yet');
    assert.equal(body.localAddr, fx.origin.addr, 'the local service');
    assert.equal(body.visitorUrl, `${fx.relayFx.addresses.publicUrl}/a/${fx.agentName}/`, 'the visitor URL');
    assert.ok(body.relayUrl?.startsWith(fx.relayFx.addresses.agentUrl), 'the relay URL');
    assert.equal(body.relayUrl, `${fx.relayFx.addresses.agentUrl}?token=[redacted]`, 'the token in the relay URL is redacted');
  });

  it('pushes a request event with masked headers after a visitor request through the tunnel', async (t) => {
    const fx = await startStatusStack(t);
    const sse = await SseReader.open(t, fx.address);
    assert.equal(sse.status, 200, '/events answers 200');
    const first = await sse.next('state');
    assert.equal((JSON.parse(first.data) as StatusServerSnapshot).state, 'online', 'the stream starts with the current state');

    const visited = await visit(fx.relayFx.addresses, `/a/${fx.agentName}/hello?token=abc`, {
      headers: { authorization: 'Bearer visitor-secret', 'x-trace': 't1' },
    });
    assert.equal(visited.status, 200, 'the visitor request went through');
    const ev = await sse.next('request');
    const { request: r, status } = JSON.parse(ev.data) as { request: RecordedRequest; status: StatusServerSnapshot };
    assert.equal(ev.id, String(r.id), 'the event id is the request id');
    assert.equal(r.method, 'GET', 'method');
    assert.equal(r.path, '/hello?token=[masked]', 'path, with the query token masked');
    assert.equal(r.status, 200, 'status');
    assert.equal(r.bytesOut, 'hello from origin\n'.length, 'response size');
    const headers = Object.fromEntries(r.headers.map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(headers['x-trace'], 't1', 'request headers are included');
    assert.equal(ev.data.includes('visitor-secret'), false, 'no credential in the event');
    assert.equal(status.requestsServed, 1, 'the event carries the updated counters');
    const settled = await sse.next('state', (e) => (JSON.parse(e.data) as StatusServerSnapshot).activeStreams === 0);
    assert.equal((JSON.parse(settled.data) as StatusServerSnapshot).requestsServed, 1, 'a settled state follows, its stream closed');

    const list = JSON.parse((await request(fx.address, '/api/requests')).text) as { requests: RecordedRequest[]; capacity: number };
    assert.deepEqual(list.requests.map((x) => x.id), [r.id], '/api/requests lists it');
    assert.equal(list.capacity, 100, 'with the default capacity');
    const one = await request(fx.address, `/api/requests/${r.id}`);
    assert.equal((JSON.parse(one.text) as RecordedRequest).path, r.path, '/api/requests/:id returns it');
  });

  it('pushes a state event when the connection changes', async (t) => {
    const fx = await startStatusStack(t);
    const sse = await SseReader.open(t, fx.address);
    await sse.next('state');
    const stopping = fx.manager.stop();
    const ev = await sse.next('state', (e) => (JSON.parse(e.data) as StatusServerSnapshot).state === 'stopped');
    await stopping;
    assert.ok(ev.data.length > 0, 'a stopped state event arrived');
  });

  it('replays a recorded request straight to the local service, body included', async (t) => {
    const fx = await startStatusStack(t);
    const body = 'x'.repeat(1000);
    const visited = await visit(fx.relayFx.addresses, `/a/${fx.agentName}/echo?n=1`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/plain', authorization: 'Bearer for-the-app' },
    });
    assert.equal(visited.status, 200, 'the visitor POST went through');
    await waitFor(() => fx.recorder.size === 1, 'the request to be recorded');
    const [recorded] = fx.recorder.list();
    const before = fx.origin.requests.length;
    const relayLogLines = fx.relayFx.logs.length;

    const res = await request(fx.address, `/api/requests/${recorded?.id}/replay`, { method: 'POST', headers: REPLAY_HEADERS });
    assert.equal(res.status, 200, 'replay answers 200');
    const { result } = JSON.parse(res.text) as { result: { status: number; bytesOut: number; error?: string } };
    assert.equal(result.status, 200, 'the local service answered 200');
    assert.equal(result.bytesOut, body.length, 'the echoed body had the original length');
    assert.equal(result.error, undefined, 'no error');
    assert.equal(fx.origin.requests.length, before + 1, 'the local service saw the request again');
    const again = fx.origin.requests.at(-1);
    assert.equal(again?.method, 'POST', 'with its method');
    assert.equal(again?.url, '/echo?n=1', 'with its target');
    assert.equal(again?.headers.authorization, 'Bearer for-the-app', 'with its original (unmasked) credentials');
    assert.equal(again?.headers['content-length'], String(body.length), 'with its body length');
    assert.equal(fx.relayFx.logs.length, relayLogLines, 'the replay did not go through the relay');
  });

  it('refuses to replay a request whose body was too large to keep, and unknown ids', async (t) => {
    const fx = await startStatusStack(t, { maxBodyBytes: 16 });
    await visit(fx.relayFx.addresses, `/a/${fx.agentName}/echo`, { method: 'POST', body: 'y'.repeat(17) });
    await waitFor(() => fx.recorder.size === 1, 'the request to be recorded');
    const [recorded] = fx.recorder.list();
    assert.equal(recorded?.notReplayableReason, 'body-too-large', 'recorded as not replayable');
    const res = await request(fx.address, `/api/requests/${recorded?.id}/replay`, { method: 'POST', headers: REPLAY_HEADERS });
    assert.equal(res.status, 409, 'replay of a large body answers 409');
    assert.equal((JSON.parse(res.text) as { reason: string }).reason, 'body-too-large', 'with the reason');
    const unknown = await request(fx.address, '/api/requests/999/replay', { method: 'POST', headers: REPLAY_HEADERS });
    assert.equal(unknown.status, 404, 'an unknown id answers 404');
  });

  it('answers 403 to a foreign Host header (DNS rebinding) and accepts localhost', async (t) => {
    const fx = await startStatusStack(t);
    const port = fx.address.slice(fx.address.lastIndexOf(':') + 1);
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1:${Number(port) + 1}`]) {
      const res = await request(fx.address, '/status', { host });
      assert.equal(res.status, 403, `Host ${host} is refused`);
      assert.equal(res.text.includes('"state"'), false, `no status leaks to Host ${host}`);
    }
    const page = await request(fx.address, '/', { host: 'evil.example' });
    assert.equal(page.status, 403, 'the page is refused too');
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, 'localhost']) {
      assert.equal((await request(fx.address, '/status', { host })).status, 200, `Host ${host} is accepted`);
    }
  });

  it('refuses a replay without its header or from another origin', async (t) => {
    const fx = await startStatusStack(t);
    await visit(fx.relayFx.addresses, `/a/${fx.agentName}/hello`);
    await waitFor(() => fx.recorder.size === 1, 'the request to be recorded');
    const id = fx.recorder.list()[0]?.id;
    const before = fx.origin.requests.length;
    const bare = await request(fx.address, `/api/requests/${id}/replay`, { method: 'POST' });
    assert.equal(bare.status, 403, 'a POST without the header (a cross-site form) is refused');
    const foreign = await request(fx.address, `/api/requests/${id}/replay`, {
      method: 'POST',
      headers: { ...REPLAY_HEADERS, origin: 'http://evil.example' },
    });
    assert.equal(foreign.status, 403, 'a POST from another origin is refused');
    const get = await request(fx.address, `/api/requests/${id}/replay`);
    assert.equal(get.status, 405, 'a GET of the replay URL is not allowed');
    assert.equal(fx.origin.requests.length, before, 'the local service saw no replay');
  });

  it('serves the page with a strict Content-Security-Policy, and 404 elsewhere', async (t) => {
    const fx = await startStatusStack(t);
    const page = await request(fx.address, '/');
    assert.equal(page.status, 200, 'the page answers 200');
    assert.match(String(page.headers['content-type']), /^text\/html/, 'as HTML');
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'/, 'with a CSP');
    assert.match(page.text, /<script>/, 'with its inline script');
    assert.equal(/src="http|href="http/.test(page.text), false, 'no external assets');
    assert.equal((await request(fx.address, '/nope')).status, 404, 'unknown paths answer 404');
  });

  it('answers a replay still in flight with ERR_ABORTED when it closes', async (t) => {
    const fx = await startStatusStack(t);
    // A visitor gives up on /hang: the exchange is recorded (aborted) and can be replayed.
    const [host, port] = splitHostPort(fx.relayFx.addresses.public);
    const visitor = http.get({ host, port, path: `/a/${fx.agentName}/hang`, agent: false });
    visitor.on('error', () => {});
    await waitFor(() => fx.origin.requests.filter((r) => r.url === '/hang').length === 1, 'the local service to get /hang');
    visitor.destroy();
    await waitFor(() => fx.recorder.size === 1, 'the aborted exchange to be recorded');
    const id = fx.recorder.list()[0]?.id;
    const replay = request(fx.address, `/api/requests/${id}/replay`, { method: 'POST', headers: REPLAY_HEADERS });
    await waitFor(() => fx.origin.requests.filter((r) => r.url === '/hang').length === 2, 'the replay to reach the local service');
    await fx.server.close();
    const res = await replay;
    assert.equal(res.status, 200, 'the replay still gets its answer');
    assert.equal((JSON.parse(res.text) as { result: { error?: string } }).result.error, 'ERR_ABORTED', 'reporting the abort');
  });

  it('ends event streams on close(), and close() is idempotent', async (t) => {
    const fx = await startStatusStack(t);
    const sse = await SseReader.open(t, fx.address);
    await sse.next('state');
    assert.equal(fx.server.eventClientCount, 1, 'one event client');
    const first = fx.server.close();
    assert.equal(fx.server.close(), first, 'a second close() returns the same promise');
    await Promise.all([first, sse.untilEnded()]);
    assert.equal(sse.ended, true, 'the event stream ended');
    assert.equal(fx.server.eventClientCount, 0, 'no event client left');
  });
});

describe('StatusServer without a tunnel', () => {
  const source = {
    status: () => ({
      state: 'idle' as const,
      attempt: 0,
      lastError: null,
      nextRetryAt: null,
      since: 0,
      lastPingRttMs: null,
      requestsServed: 0,
      bytesIn: 0,
      bytesOut: 0,
      activeStreams: 0,
    }),
    subscribe: () => () => {},
  };

  it('refuses a non-loopback listen address unless allowRemote', () => {
    const recorder = new RequestRecorder();
    for (const listen of ['0.0.0.0:4040', '192.0.2.1:4040', '[::]:4040']) {
      assert.throws(() => new StatusServer({ listen, source, recorder, localAddr: '127.0.0.1:1' }), ConfigError, `${listen} is refused`);
    }
    assert.doesNotThrow(
      () => new StatusServer({ listen: '0.0.0.0:0', source, recorder, localAddr: '127.0.0.1:1', allowRemote: true }),
      'allowed with allowRemote',
    );
  });

  it('sends a heartbeat comment on every interval of its clock', async (t) => {
    const clock = new FakeClock();
    const server = new StatusServer({ listen: '127.0.0.1:0', source, recorder: new RequestRecorder(), localAddr: '127.0.0.1:1', clock, heartbeatIntervalMs: 15_000 });
    t.after(() => server.close());
    const { address } = await server.listen();
    const sse = await SseReader.open(t, address);
    await sse.next('state');
    assert.equal(sse.comments, 0, 'no heartbeat before the interval');
    clock.advance(15_000);
    await waitFor(() => sse.comments === 1, 'the first heartbeat');
    clock.advance(15_000);
    await waitFor(() => sse.comments === 2, 'the second heartbeat');
    assert.equal(sse.comments, 2, 'one heartbeat per interval');
  });

  it('replays to a local service that is down as an error, not a failure of the server', async (t) => {
    const recorder = new RequestRecorder();
    // Port 1 on loopback: nothing listens there.
    const server = new StatusServer({ listen: '127.0.0.1:0', source, recorder, localAddr: '127.0.0.1:1' });
    t.after(() => server.close());
    const { address } = await server.listen();
    const r = recorder.record({ method: 'GET', path: '/', status: 200, durationMs: 1, bytesIn: 0, bytesOut: 0, upgrade: false, requestHeaders: [] });
    const res = await request(address, `/api/requests/${r.id}/replay`, { method: 'POST', headers: REPLAY_HEADERS });
    assert.equal(res.status, 200, 'the replay endpoint answers');
    const { result } = JSON.parse(res.text) as { result: { status: number; error?: string } };
    assert.equal(result.status, 0, 'no status from the local service');
    assert.equal(result.error, 'ERR_AGENT_LOCAL_REFUSED', 'the refusal is reported');
  });
});
