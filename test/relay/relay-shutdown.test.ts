/**
 * Graceful shutdown: `close({ graceMs })` stops accepting visitors and
 * agents, sends GoAway to every agent, lets in-flight requests and upgrades
 * finish within the grace, then closes everything. Idempotent.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  BASE_DOMAIN,
  connectAgent,
  createAgentToken,
  patternBytes,
  splitHostPort,
  startOrigin,
  startRelay,
  visit,
  waitFor,
} from './relay-fixtures.js';

const MiB = 1024 * 1024;

/** A connection error code, or 'ok' when the request got any response. */
function probe(address: string, host: string): Promise<string> {
  const [h, port] = splitHostPort(address);
  return new Promise((resolve) => {
    http
      .get({ host: h, port, path: '/hello', headers: { host }, agent: false }, (res) => {
        res.resume();
        resolve(`status:${res.statusCode}`);
      })
      .on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('Relay graceful shutdown', () => {
  it('lets a 50 MiB download in flight complete during close, while refusing new visitors and agents', async (t) => {
    const fx = await startRelay(t);
    const origin = await startOrigin(t);
    const agent = await connectAgent(t, fx, 'edge-drain', origin.addr);
    const total = 50 * MiB;
    const [host, port] = splitHostPort(fx.addresses.public);

    let closing!: Promise<void>;
    const chunks: Buffer[] = [];
    const body = await new Promise<Buffer>((resolve, reject) => {
      http
        .get({ host, port, path: `/bytes?n=${total}`, headers: { host: `edge-drain.${BASE_DOMAIN}` } }, (res) => {
          res.once('data', (first: Buffer) => {
            chunks.push(first);
            res.pause();
            closing = fx.relay.close({ graceMs: 60_000 });
            void (async () => {
              // Refused (listener closed), reset (accepted by the kernel just before) or 503: never served.
              const refused = /^(ECONNREFUSED|ECONNRESET|status:503)$/;
              assert.match(await probe(fx.addresses.public, `edge-drain.${BASE_DOMAIN}`), refused, 'new visitors are refused');
              assert.match(await probe(fx.addresses.agent, 'agent'), refused, 'new agent connections are refused');
              await waitFor(() => agent.client.session?.remoteGoAwayCode === 0, 'the agent to get GoAway');
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => resolve(Buffer.concat(chunks)));
              res.on('error', reject);
              res.resume();
            })().catch(reject);
          });
        })
        .on('error', reject);
    });
    assert.equal(body.length, total, 'all 50 MiB arrived');
    assert.ok(body.equals(patternBytes(0, total)), 'byte for byte');
    await closing;
    assert.equal(fx.relay.inflightRequests, 0, 'nothing left in flight');
    assert.equal(fx.relay.registry.connections().length, 0, 'every agent session closed');
  });

  it('lets a WebSocket in flight keep working during the grace', async (t) => {
    const fx = await startRelay(t);
    const origin = await startOrigin(t);
    await connectAgent(t, fx, 'edge-ws', origin.addr);
    const ws = new WebSocket(`ws://${fx.addresses.public}/ws`, { headers: { host: `edge-ws.${BASE_DOMAIN}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const closing = fx.relay.close({ graceMs: 60_000 });
    ws.send('still there?');
    const reply = await new Promise<Buffer>((resolve) => ws.once('message', (data) => resolve(data as Buffer)));
    assert.equal(reply.toString(), 'still there?', 'echo after close() started');
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    ws.close(1000);
    assert.equal(await code, 1000, 'the visitor closed cleanly');
    await closing;
  });

  it('ends what is still in flight when the grace ends: 503 before headers, a cut body after, 503 for waiting visitors', async (t) => {
    const fx = await startRelay(t, { limits: { offlineGraceMs: 60_000 } });
    const origin = await startOrigin(t);
    await connectAgent(t, fx, 'edge-hang', origin.addr);
    await createAgentToken(fx.relay, 'edge-away');
    const [host, port] = splitHostPort(fx.addresses.public);
    const hanging = visit(fx.addresses, '/hang', { agent: 'edge-hang', headers: { accept: 'application/json' } });
    let started!: (res: http.IncomingMessage) => void;
    const downloadStarted = new Promise<http.IncomingMessage>((resolve) => (started = resolve));
    const download = new Promise<string>((resolve) => {
      http
        .get({ host, port, path: `/bytes?n=${50 * MiB}`, headers: { host: `edge-hang.${BASE_DOMAIN}` } }, (res) => {
          // Read one chunk, then stall: the exchange cannot finish within the grace.
          res.once('data', () => {
            res.pause();
            started(res);
          });
          res.on('end', () => resolve('complete'));
          res.on('error', () => resolve('cut'));
          res.on('aborted', () => resolve('cut'));
        })
        .on('error', () => resolve('cut'));
    });
    const waiting = visit(fx.addresses, '/', { agent: 'edge-away', headers: { accept: 'application/json' } });
    const downloadResponse = await downloadStarted;
    await waitFor(() => fx.relay.inflightRequests === 3 && origin.requests.some((r) => r.url === '/hang'), 'all three requests in flight');
    await fx.relay.close({ graceMs: 200 });
    const w = await waiting;
    assert.equal(w.status, 503, 'the visitor waiting for an offline agent gets 503');
    assert.equal(w.headers['x-tunnel-error'], 'ERR_RELAY_SHUTTING_DOWN', 'shutting-down code');
    const h = await hanging;
    assert.equal(h.status, 503, 'the exchange without response headers gets 503');
    assert.equal(h.headers['x-tunnel-error'], 'ERR_RELAY_SHUTTING_DOWN', 'shutting-down code for it too');
    // The visitor reads again: what it gets ends early.
    downloadResponse.resume();
    assert.equal(await download, 'cut', 'the stalled download was cut, never presented as complete');
  });

  it('is idempotent: every call returns the same promise, and listen() afterwards fails', async (t) => {
    const fx = await startRelay(t);
    const first = fx.relay.close({ graceMs: 0 });
    assert.equal(fx.relay.close(), first, 'same promise');
    await first;
    await fx.relay.close();
    await assert.rejects(fx.relay.listen(), { code: 'ERR_RELAY_SHUTTING_DOWN' }, 'no listening after close');
  });
});
