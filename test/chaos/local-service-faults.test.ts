/**
 * Chaos scenario 6: a local service that misbehaves, behind real relay and
 * agent processes. A service that never answers gives the visitor 504
 * (ERR_RELAY_UPSTREAM_TIMEOUT, from a small limits.responseHeaderTimeoutMs in
 * the relay's config file) and its connection is then closed by the agent; a
 * service that resets mid-body resets the visitor's connection (the cut body
 * is never presented as complete); a service that answers with bytes that are
 * not HTTP gives 502 with the agent's ERR_AGENT_LOCAL_BAD_RESPONSE.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  isAgentState,
  prepareAgents,
  startAgentProcess,
  startRelayProcess,
  tempDir,
  visitAgent,
  waitUntil,
  within,
  type RelayProcess,
} from './chaos-fixtures.js';
import { listenOnLoopback } from '../helpers/loopback.js';

const AGENT = 'faulty-local';
const RESPONSE_HEADER_TIMEOUT_MS = 1500;
const DECLARED_BODY_BYTES = 1024 * 1024;
const SENT_BEFORE_RESET_BYTES = 64 * 1024;

/** Cleanups for the suite (processes and servers are shared by its tests). */
const cleanups: Array<() => unknown> = [];
const scope = { after: (fn: () => unknown) => cleanups.push(fn) };

/** A raw TCP "HTTP" service that misbehaves by path; records the sockets of `/hang`. */
async function startMisbehavingService(): Promise<{ addr: string; hangSockets: Socket[] }> {
  const hangSockets: Socket[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const path = head.split(' ')[1] ?? '/';
      switch (path) {
        case '/hang':
          hangSockets.push(socket);
          return;
        case '/reset-mid-body':
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${DECLARED_BODY_BYTES}\r\n\r\n`);
          socket.write(Buffer.alloc(SENT_BEFORE_RESET_BYTES, 7), () => socket.resetAndDestroy());
          return;
        case '/malformed':
          socket.end('THIS IS NOT HTTP\r\n\r\n');
          return;
        default:
          socket.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n');
      }
    };
    socket.on('data', onData);
  });
  const port = await listenOnLoopback(scope, server);
  return { addr: `127.0.0.1:${port}`, hangSockets };
}

describe('Chaos: a local service that hangs, resets or answers garbage', () => {
  let relay: RelayProcess;
  let service: Awaited<ReturnType<typeof startMisbehavingService>>;

  before(async () => {
    const dir = tempDir(scope);
    const dbPath = join(dir, 'relay.db');
    const tokens = await prepareAgents(dbPath, [AGENT]);
    service = await startMisbehavingService();
    relay = await startRelayProcess(scope, { dbPath, config: { limits: { responseHeaderTimeoutMs: RESPONSE_HEADER_TIMEOUT_MS } } });
    const agent = startAgentProcess(scope, { relayUrl: relay.addresses.agentUrl, token: tokens.get(AGENT) as string, local: service.addr });
    await agent.waitForLine(isAgentState('online'), 'the agent to come online');
    const ok = await visitAgent(relay.addresses.public, AGENT, '/ok');
    assert.equal(ok.status, 200, 'a well-behaved request goes through first');
  });

  after(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it('answers 504 ERR_RELAY_UPSTREAM_TIMEOUT when the local service never answers, and the agent closes that local connection', async () => {
    const outcome = await within(visitAgent(relay.addresses.public, AGENT, '/hang'), 30_000, 'the visitor of /hang');
    assert.equal(outcome.status, 504, 'the visitor gets 504');
    assert.equal(outcome.headers['x-tunnel-error'], 'ERR_RELAY_UPSTREAM_TIMEOUT', 'X-Tunnel-Error names the upstream timeout');
    assert.equal(outcome.complete, true, 'the 504 itself is a complete response');
    assert.equal(service.hangSockets.length, 1, 'the hanging request reached the local service once');
    const hung = service.hangSockets[0] as Socket;
    await waitUntil(() => hung.destroyed || hung.readableEnded, 'the agent to close the hanging local connection');
  });

  it('resets the visitor\'s connection when the local service resets mid-body', async () => {
    const outcome = await within(visitAgent(relay.addresses.public, AGENT, '/reset-mid-body'), 30_000, 'the visitor of /reset-mid-body');
    assert.equal(outcome.status, 200, 'the response head had already been forwarded');
    assert.equal(outcome.headers['content-length'], String(DECLARED_BODY_BYTES), 'the declared length is passed through');
    assert.equal(outcome.complete, false, 'the cut body is not presented as complete');
    assert.ok(outcome.errorCode !== undefined, 'the visitor sees an error on its connection');
    assert.ok(outcome.bytes < DECLARED_BODY_BYTES, `fewer bytes than declared arrived (${outcome.bytes})`);
  });

  it('answers 502 ERR_AGENT_LOCAL_BAD_RESPONSE when the local service answers with something that is not HTTP', async () => {
    const outcome = await within(visitAgent(relay.addresses.public, AGENT, '/malformed'), 30_000, 'the visitor of /malformed');
    assert.equal(outcome.status, 502, 'the visitor gets 502');
    assert.equal(outcome.headers['x-tunnel-error'], 'ERR_AGENT_LOCAL_BAD_RESPONSE', 'X-Tunnel-Error names the malformed local response');
    assert.match(String(outcome.body), /invalid|malformed/i, 'the body says what happened');
    const next = await visitAgent(relay.addresses.public, AGENT, '/ok');
    assert.equal(next.status, 200, 'the tunnel keeps working afterwards');
  });
});
