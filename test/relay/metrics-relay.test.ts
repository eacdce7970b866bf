/**
 * Prometheus metrics of a real relay with our agent and a local origin, all
 * on 127.0.0.1 with port 0: values are scraped from the admin listener
 * before and after traffic.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { register as globalRegister } from 'prom-client';
import { dialWebSocket } from '../../src/transport/index.js';
import { RELAY_METRICS_PREFIX } from '../../src/relay/index.js';
import { metricValue, scrape, startAdminRelay } from './admin-fixtures.js';
import {
  BASE_DOMAIN,
  connectAgent,
  createAgentToken,
  splitHostPort,
  startOrigin,
  startRawAgent,
  visit,
  waitFor,
  waitForRegistration,
} from './relay-fixtures.js';

const P = RELAY_METRICS_PREFIX;
const AGENT = 'edge-metrics';

describe('Relay metrics', () => {
  it('count requests by agent and status class, bytes both ways, and latency', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    await connectAgent(t, fx, AGENT, origin.addr);
    const before = await scrape(fx.addresses);
    assert.equal(metricValue(before, `${P}agents_online`), 1, 'one agent online');
    assert.equal(metricValue(before, `${P}requests_total`, { agent: AGENT, status_class: '2xx', code: '' }), 0, 'no request yet');

    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT })).status, 200, 'GET /hello');
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT })).status, 200, 'GET /hello again');
    assert.equal((await visit(fx.addresses, '/status?code=404', { agent: AGENT })).status, 404, "the origin's own 404");
    const upload = Buffer.alloc(3000, 7);
    const echoed = await visit(fx.addresses, '/echo', { agent: AGENT, method: 'POST', body: upload });
    assert.equal(echoed.body.length, 3000, 'echo body');
    assert.equal((await visit(fx.addresses, '/hello', { agent: 'nobody-here' })).status, 404, 'unknown agent');

    const after = await scrape(fx.addresses);
    assert.equal(metricValue(after, `${P}requests_total`, { agent: AGENT, status_class: '2xx', code: '' }), 3, 'three 2xx from the agent');
    assert.equal(metricValue(after, `${P}requests_total`, { agent: AGENT, status_class: '4xx', code: '' }), 1, "the agent's 404 has no tunnel code");
    assert.equal(
      metricValue(after, `${P}requests_total`, { agent: '', status_class: '4xx', code: 'ERR_RELAY_TUNNEL_NOT_FOUND' }),
      1,
      'an unknown agent is counted without an agent label, with its tunnel code',
    );
    assert.ok(
      !after.some((s) => s.labels['agent'] === 'nobody-here'),
      'a name that is not a known agent never becomes a label value',
    );
    const toAgent = metricValue(after, `${P}bytes_to_agent_total`, { agent: AGENT });
    const fromAgent = metricValue(after, `${P}bytes_from_agent_total`, { agent: AGENT });
    assert.equal(toAgent, 3000, 'request body bytes sent to the agent');
    assert.ok(fromAgent >= 3000 + 2 * 'hello from origin\n'.length, `response bytes received from the agent (got ${fromAgent})`);
    assert.equal(metricValue(after, `${P}response_headers_seconds_count`), 4, 'time to headers observed for each forwarded request');
    assert.equal(metricValue(after, `${P}request_duration_seconds_count`), 4, 'total time observed for each forwarded request');
    assert.equal(
      metricValue(after, `${P}request_duration_seconds_bucket`, { le: '+Inf' }),
      4,
      'every duration falls in the +Inf bucket',
    );
  });

  it('count relay-produced errors with their tunnel code under the agent label', async (t) => {
    const fx = await startAdminRelay(t, { limits: { offlineGraceMs: 0 } });
    await createAgentToken(fx.relay, AGENT);
    await fx.relay.tokens.ensureAgent('edge-private');
    assert.equal((await visit(fx.addresses, '/', { agent: AGENT })).status, 502, 'offline agent');
    assert.equal((await visit(fx.addresses, '/', { agent: 'edge-private' })).status, 401, 'private agent');
    const samples = await scrape(fx.addresses);
    assert.equal(
      metricValue(samples, `${P}requests_total`, { agent: AGENT, status_class: '5xx', code: 'ERR_RELAY_AGENT_OFFLINE' }),
      1,
      'offline 502 counted for the agent',
    );
    assert.equal(
      metricValue(samples, `${P}requests_total`, { agent: 'edge-private', status_class: '4xx', code: 'ERR_ACCESS_DENIED' }),
      1,
      'access refusal counted for the agent',
    );
    assert.equal(metricValue(samples, `${P}response_headers_seconds_count`), 0, 'refusals never reach the latency histograms');
  });

  it('show open streams and online agents while a request is in flight', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    await connectAgent(t, fx, AGENT, origin.addr);
    const [host, port] = splitHostPort(fx.addresses.public);
    const held = http.get({ host, port, path: '/hang', headers: { host: `${AGENT}.${BASE_DOMAIN}` }, agent: false });
    held.on('error', () => {});
    t.after(() => held.destroy());
    await waitFor(() => origin.requests.some((r) => r.url === '/hang'), 'the held request at the origin');
    const during = await scrape(fx.addresses);
    assert.equal(metricValue(during, `${P}streams_open`), 1, 'one stream open');
    assert.equal(metricValue(during, `${P}agents_online`), 1, 'one agent online');
    held.destroy();
    await waitFor(() => fx.relay.registry.list().every((c) => c.activeStreams === 0), 'the stream closed');
    assert.equal(metricValue(await scrape(fx.addresses), `${P}streams_open`), 0, 'no stream open once the visitor left');
  });

  it('count sessions, reconnects and closes with their reason', async (t) => {
    const fx = await startAdminRelay(t);
    const token = await createAgentToken(fx.relay, AGENT);
    const first = await startRawAgent(t, fx.addresses.agentUrl, token, (_req, res) => res.end('one'));
    await waitFor(() => fx.relay.registry.size === 1, 'first session registered');
    const initial = await scrape(fx.addresses);
    assert.equal(metricValue(initial, `${P}agent_sessions_opened_total`), 1, 'one session opened');
    assert.equal(metricValue(initial, `${P}agent_reconnects_total`, { agent: AGENT }), 0, 'a first session is not a reconnect');

    const closedOnRelay = new Promise<void>((resolve) => fx.relay.registry.once('disconnect', () => resolve()));
    first.session.destroy();
    await closedOnRelay;
    const registered = waitForRegistration(fx.relay, AGENT);
    await startRawAgent(t, fx.addresses.agentUrl, token, (_req, res) => res.end('two'));
    await registered;

    const after = await scrape(fx.addresses);
    assert.equal(metricValue(after, `${P}agent_sessions_opened_total`), 2, 'two sessions opened');
    assert.equal(metricValue(after, `${P}agent_reconnects_total`, { agent: AGENT }), 1, 'the second session is a reconnect');
    const closed = after.filter((s) => s.name === `${P}agent_sessions_closed_total`).reduce((n, s) => n + s.value, 0);
    assert.equal(closed, 1, 'one session closed');
    assert.equal(metricValue(after, `${P}agents_online`), 1, 'one agent online again');
  });

  it('count refused agent connections by reason', async (t) => {
    const fx = await startAdminRelay(t, { limits: { authRateLimit: { maxFailures: 2 } } });
    const url = fx.addresses.agentUrl;
    await assert.rejects(dialWebSocket(url), 'no token is refused');
    await assert.rejects(dialWebSocket(`${url}?token=vt_0123456789abcdef_${'x'.repeat(43)}`), 'an unknown token is refused');
    await assert.rejects(dialWebSocket(`${url}?token=nope`), 'over the limit: 429');
    const samples = await scrape(fx.addresses);
    assert.equal(metricValue(samples, `${P}auth_failures_total`, { reason: 'agent_token_missing' }), 1, 'missing token counted');
    assert.equal(metricValue(samples, `${P}auth_failures_total`, { reason: 'agent_token_invalid' }), 1, 'invalid token counted');
    assert.equal(metricValue(samples, `${P}auth_failures_total`, { reason: 'agent_rate_limited' }), 1, 'rate-limited attempt counted');
  });

  it('keep each relay in its own registry, never the global one', async (t) => {
    const a = await startAdminRelay(t);
    const b = await startAdminRelay(t);
    const origin = await startOrigin(t);
    await connectAgent(t, a, AGENT, origin.addr);
    assert.equal((await visit(a.addresses, '/hello', { agent: AGENT })).status, 200, 'request through relay A');
    assert.equal(metricValue(await scrape(a.addresses), `${P}agents_online`), 1, 'relay A has the agent');
    const samplesB = await scrape(b.addresses);
    assert.equal(metricValue(samplesB, `${P}agents_online`), 0, 'relay B has no agent');
    assert.equal(metricValue(samplesB, `${P}requests_total`, { agent: AGENT, status_class: '2xx', code: '' }), 0, 'relay B counted nothing');
    assert.equal(globalRegister.getSingleMetric(`${P}requests_total`), undefined, "prom-client's global registry is untouched");
  });
});
