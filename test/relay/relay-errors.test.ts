/**
 * Errors the relay answers itself, each with `X-Tunnel-Error`: unknown agent
 * 404, offline 502 after the grace, over the stream limit 503 with
 * Retry-After, no response headers in time 504, unroutable requests 400/404.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import {
  BASE_DOMAIN,
  connectAgent,
  createAgentToken,
  splitHostPort,
  startOrigin,
  startRawAgent,
  startRelay,
  visit,
  waitFor,
} from './relay-fixtures.js';

describe('Relay visitor errors', () => {
  it('answers 404 ERR_RELAY_TUNNEL_NOT_FOUND for an agent not in the store, in JSON when asked', async (t) => {
    const fx = await startRelay(t);
    const json = await visit(fx.addresses, '/x', { agent: 'nobody', headers: { accept: 'application/json' } });
    assert.equal(json.status, 404, 'status');
    assert.equal(json.headers['x-tunnel-error'], 'ERR_RELAY_TUNNEL_NOT_FOUND', 'code header');
    assert.deepEqual(JSON.parse(json.body.toString()).error.code, 'ERR_RELAY_TUNNEL_NOT_FOUND', 'JSON body code');
    const html = await visit(fx.addresses, '/x', { agent: 'nobody', headers: { accept: 'text/html' } });
    assert.match(String(html.headers['content-type']), /^text\/html/, 'HTML for browsers');
    assert.match(html.body.toString(), /ERR_RELAY_TUNNEL_NOT_FOUND/, 'HTML names the code');
  });

  it('answers 502 ERR_RELAY_AGENT_OFFLINE for a known agent with no session, after the grace', async (t) => {
    const fx = await startRelay(t, { limits: { offlineGraceMs: 200 } });
    await createAgentToken(fx.relay, 'edge-off');
    const r = await visit(fx.addresses, '/', { agent: 'edge-off' });
    assert.equal(r.status, 502, 'status');
    assert.equal(r.headers['x-tunnel-error'], 'ERR_RELAY_AGENT_OFFLINE', 'code');
  });

  it('answers 503 ERR_RELAY_AGENT_BUSY with Retry-After over maxStreamsPerAgent', async (t) => {
    const fx = await startRelay(t, { limits: { maxStreamsPerAgent: 1 } });
    const origin = await startOrigin(t);
    await connectAgent(t, fx, 'edge-busy', origin.addr);
    const [host, port] = splitHostPort(fx.addresses.public);
    const hanging = http.get({ host, port, path: '/hang', headers: { host: `edge-busy.${BASE_DOMAIN}` } });
    hanging.on('error', () => {});
    t.after(() => hanging.destroy());
    await waitFor(() => origin.requests.some((r) => r.url === '/hang'), 'the first request to reach the origin');
    const r = await visit(fx.addresses, '/hello', { agent: 'edge-busy' });
    assert.equal(r.status, 503, 'status');
    assert.equal(r.headers['x-tunnel-error'], 'ERR_RELAY_AGENT_BUSY', 'code');
    assert.equal(r.headers['retry-after'], '1', 'Retry-After');
    hanging.destroy();
    await waitFor(() => fx.relay.registry.get('edge-busy')?.activeStreams === 0, 'the stream slot to be freed');
    assert.equal((await visit(fx.addresses, '/hello', { agent: 'edge-busy' })).status, 200, 'served again once the slot is free');
  });

  it('answers 504 ERR_RELAY_UPSTREAM_TIMEOUT when no response headers come in time, and resets the stream', async (t) => {
    const fx = await startRelay(t, { limits: { responseHeaderTimeoutMs: 300 } });
    const origin = await startOrigin(t);
    await connectAgent(t, fx, 'edge-slow', origin.addr);
    const r = await visit(fx.addresses, '/hang', { agent: 'edge-slow' });
    assert.equal(r.status, 504, 'status');
    assert.equal(r.headers['x-tunnel-error'], 'ERR_RELAY_UPSTREAM_TIMEOUT', 'code');
    await waitFor(() => fx.relay.registry.get('edge-slow')?.activeStreams === 0, 'the stream to be gone');
    await waitFor(() => origin.openConnections === 0, "the agent's local connection to close after the reset");
  });

  it('answers 504 when a forwarded exchange stays idle past idleTimeoutMs', async (t) => {
    const fx = await startRelay(t, { limits: { idleTimeoutMs: 300, responseHeaderTimeoutMs: 0 } });
    const origin = await startOrigin(t);
    await connectAgent(t, fx, 'edge-idle', origin.addr);
    const r = await visit(fx.addresses, '/hang', { agent: 'edge-idle' });
    assert.equal(r.status, 504, 'status');
    assert.equal(r.headers['x-tunnel-error'], 'ERR_RELAY_UPSTREAM_TIMEOUT', 'code');
  });

  it('answers 400 for a bad Host or a dot segment, and 404 when no agent is named', async (t) => {
    const fx = await startRelay(t);
    const [host, port] = splitHostPort(fx.addresses.public);
    const raw = (head: string) =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect(port, host, () => s.end(head));
        let text = '';
        s.setEncoding('latin1');
        s.on('data', (c: string) => (text += c));
        s.on('end', () => resolve(text));
        s.on('error', reject);
      });
    const badHost = await raw('GET / HTTP/1.1\r\nHost: bad_host!\r\nConnection: close\r\n\r\n');
    assert.match(badHost, /^HTTP\/1\.1 400/, 'bad Host gets 400');
    assert.match(badHost, /X-Tunnel-Error: ERR_ROUTE_BAD_HOST/i, 'bad Host code');
    const dots = await raw(`GET /a/edge-01/%2e%2e/edge-02/ HTTP/1.1\r\nHost: ${fx.addresses.public}\r\nConnection: close\r\n\r\n`);
    assert.match(dots, /^HTTP\/1\.1 400/, 'encoded dot segment gets 400');
    const none = await visit(fx.addresses, '/');
    assert.equal(none.status, 404, 'no agent named');
    assert.equal(none.headers['x-tunnel-error'], 'ERR_ROUTE_NO_AGENT', 'no agent code');
  });

  it('redirects /a/<agent> to /a/<agent>/ so relative links resolve', async (t) => {
    const fx = await startRelay(t);
    await createAgentToken(fx.relay, 'edge-r');
    const r = await visit(fx.addresses, '/a/edge-r?x=1');
    assert.equal(r.status, 308, 'permanent redirect');
    assert.equal(r.headers['location'], '/a/edge-r/?x=1', 'Location keeps the query');
  });

  it('destroys the visitor connection when the agent resets the stream mid-body', async (t) => {
    const fx = await startRelay(t);
    const token = await createAgentToken(fx.relay, 'edge-cut');
    await startRawAgent(t, fx.addresses.agentUrl, token, (_req, res) => {
      res.writeHead(200, { 'content-length': '1000000' });
      res.write(Buffer.alloc(1000));
      // Reset the stream: the response was promised 1 MB.
      setImmediate(() => res.socket?.destroy());
    });
    await waitFor(() => fx.relay.registry.get('edge-cut') !== undefined, 'the raw agent to register');
    const [host, port] = splitHostPort(fx.addresses.public);
    const outcome = await new Promise<string>((resolve) => {
      http
        .get({ host, port, path: '/', headers: { host: `edge-cut.${BASE_DOMAIN}` } }, (res) => {
          res.resume();
          res.on('end', () => resolve('complete'));
          res.on('error', (err) => resolve(`error:${(err as NodeJS.ErrnoException).code ?? err.message}`));
          res.on('aborted', () => resolve('aborted'));
        })
        .on('error', (err) => resolve(`request-error:${err.message}`));
    });
    assert.notEqual(outcome, 'complete', 'a cut response is never presented as complete');
  });
});
