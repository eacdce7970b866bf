import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TunnelManager, type ManagedTunnelClient } from '../../src/agent/tunnel-manager.js';
import { AgentAuthRejectedError, RelayDisconnectedError } from '../../src/agent/errors.js';
import type { TunnelClientHooks } from '../../src/agent/tunnel-client-hooks.js';
import type { TunnelClientOptions } from '../../src/agent/tunnel-client-config.js';
import type { ConnectionStatus } from '../../src/agent/connection-status.js';
import type { LocalRequestRecord } from '../../src/agent/local-forwarder.js';
import { GoAwayError, KeepAliveTimeoutError } from '../../src/mux/index.js';
import { FakeClock } from '../helpers/mux-fake-clock.js';

/** A client stub: the test fires the hooks the manager gave it. */
class StubClient implements ManagedTunnelClient {
  hooks: TunnelClientHooks = {};
  started = 0;
  stopped = 0;
  lastRttMs: number | undefined = undefined;
  constructor(options: TunnelClientOptions) {
    this.hooks = options.hooks ?? {};
  }
  start(): void {
    this.started += 1;
  }
  stop(): Promise<void> {
    this.stopped += 1;
    return Promise.resolve();
  }
}

function createManager(userHooks?: TunnelClientHooks) {
  const clock = new FakeClock();
  let stub!: StubClient;
  const manager = new TunnelManager({
    relayUrl: 'ws://127.0.0.1:9/tunnel/connect',
    token: 'secret-token',
    localAddr: '127.0.0.1:3000',
    clock,
    hooks: userHooks,
    createClient: (o) => (stub = new StubClient(o)),
  });
  const h = stub.hooks as Required<TunnelClientHooks>;
  return { manager, clock, stub, h };
}

function record(bytesIn: number, bytesOut: number): LocalRequestRecord {
  return { method: 'GET', path: '/', status: 200, durationMs: 1, bytesIn, bytesOut, upgrade: false };
}

describe('TunnelManager', () => {
  it('enters stopped with the refusal as lastError when the client gives up, and resolves whenGaveUp', async () => {
    const { manager, h } = createManager();
    const states: string[] = [];
    manager.subscribe((s) => states.push(s.state));
    const before = manager.whenGaveUp();
    h.onDialAttempt(1);
    const err = new AgentAuthRejectedError(401);
    h.onDialFailed(1, err);
    h.onGaveUp(err, 5);
    assert.equal(await before, err, 'a waiter from before resolves with the refusal');
    assert.equal(await manager.whenGaveUp(), err, 'a waiter from after too');
    assert.equal(manager.status().state, 'stopped', 'stopped');
    assert.equal(manager.status().lastError?.code, 'ERR_AGENT_AUTH_REJECTED', 'lastError is the refusal');
    assert.equal(manager.status().nextRetryAt, null, 'no retry is due');
    assert.equal(states.at(-1), 'stopped', 'subscribers saw it');
  });

  it('starts idle, with zero counters and no error', () => {
    const { manager, clock } = createManager();
    assert.deepEqual(
      manager.status(),
      {
        state: 'idle',
        attempt: 0,
        lastError: null,
        nextRetryAt: null,
        since: clock.now(),
        lastPingRttMs: null,
        requestsServed: 0,
        bytesIn: 0,
        bytesOut: 0,
        activeStreams: 0,
        links: [{ index: 0, state: 'idle', since: clock.now(), attempt: 0, lastError: null, nextRetryAt: null, node: null, relayUrl: null, rttMs: null }],
      },
      'initial status',
    );
  });

  it('projects dial attempt, refusal and retry onto connecting with attempt, lastError and nextRetryAt', () => {
    const { manager, clock, h } = createManager();
    h.onDialAttempt(1);
    assert.equal(manager.status().state, 'connecting', 'connecting on the first dial');
    assert.equal(manager.status().attempt, 1, 'attempt 1');
    h.onDialFailed(1, new AgentAuthRejectedError(401));
    assert.deepEqual(
      manager.status().lastError,
      {
        message: 'Relay rejected the agent token (status: 401)',
        code: 'ERR_AGENT_AUTH_REJECTED',
        statusCode: 401,
        hint: 'the token is wrong or revoked: create one on the relay (visiona-tunnel token create NAME) and give it to the agent',
      },
      'lastError names the auth refusal, its status and what to do',
    );
    h.onRetryScheduled(1, 1000);
    assert.equal(manager.status().nextRetryAt, clock.now() + 1000, 'nextRetryAt is now + delay');
    assert.equal(manager.status().state, 'connecting', 'still connecting while waiting');
    clock.advance(1000);
    h.onDialAttempt(2);
    assert.equal(manager.status().nextRetryAt, null, 'nextRetryAt cleared when the dial starts');
    assert.equal(manager.status().attempt, 2, 'attempt 2');
    assert.equal(manager.status().lastError?.code, 'ERR_AGENT_AUTH_REJECTED', 'lastError kept while still failing');
  });

  it('goes online on session up, clearing attempt and lastError', () => {
    const { manager, clock, h } = createManager();
    h.onDialAttempt(1);
    h.onDialFailed(1, new Error('connect ECONNREFUSED'));
    assert.equal(manager.status().lastError?.code, 'ERR_AGENT_DIAL_FAILED', 'an error without a code gets ERR_AGENT_DIAL_FAILED');
    h.onRetryScheduled(1, 1000);
    clock.advance(1000);
    h.onDialAttempt(2);
    clock.advance(5);
    h.onSessionUp();
    const s = manager.status();
    assert.equal(s.state, 'online', 'online');
    assert.equal(s.attempt, 0, 'attempt reset');
    assert.equal(s.lastError, null, 'lastError cleared');
    assert.equal(s.since, clock.now(), 'since is when it went online');
  });

  it('goes reconnecting with the cause after a session ends, and stays reconnecting while redialling', () => {
    const { manager, h } = createManager();
    h.onDialAttempt(1);
    h.onSessionUp();
    h.onSessionDown(new KeepAliveTimeoutError(15000));
    assert.equal(manager.status().state, 'reconnecting', 'reconnecting after the session ended');
    assert.equal(manager.status().lastError?.code, 'ERR_MUX_KEEPALIVE_TIMEOUT', 'cause recorded');
    h.onDialAttempt(1);
    assert.equal(manager.status().state, 'reconnecting', 'a redial after having been online is reconnecting');
    h.onDialFailed(1, new Error('refused'));
    assert.equal(manager.status().state, 'reconnecting', 'a failed redial stays reconnecting');
    h.onSessionUp();
    h.onSessionDown(new GoAwayError(2));
    assert.deepEqual(manager.status().lastError, { message: new GoAwayError(2).message, code: 'ERR_MUX_GO_AWAY', goAwayCode: 2 }, 'GoAway code kept');
    h.onSessionUp();
    h.onSessionDown(new RelayDisconnectedError(1006, ''));
    assert.equal(manager.status().lastError?.closeCode, 1006, 'close code kept');
  });

  it('enters stopped after stop() and ignores the hooks the shutdown fires', async () => {
    const { manager, stub, h } = createManager();
    manager.start();
    h.onDialAttempt(1);
    h.onSessionUp();
    const stopping = manager.stop();
    h.onSessionDown(undefined);
    assert.equal(manager.status().state, 'online', 'no reconnecting flash while stopping');
    await stopping;
    assert.equal(manager.status().state, 'stopped', 'stopped');
    h.onDialAttempt(1);
    assert.equal(manager.status().state, 'stopped', 'stopped is terminal');
    assert.equal(manager.stop(), stopping, 'a second stop() returns the same promise');
    manager.start();
    assert.equal(stub.started, 1, 'start() after stop() does not restart the client');
    assert.equal(stub.stopped, 1, 'the client was stopped once');
  });

  it('starts the client once however often start() is called', () => {
    const { manager, stub } = createManager();
    manager.start();
    manager.start();
    assert.equal(stub.started, 1, 'the client was started once');
  });

  it('changes since only when the state changes', () => {
    const { manager, clock, h } = createManager();
    h.onDialAttempt(1);
    const since = manager.status().since;
    clock.advance(100);
    h.onDialFailed(1, new Error('x'));
    h.onRetryScheduled(1, 1000);
    clock.advance(1000);
    h.onDialAttempt(2);
    assert.equal(manager.status().since, since, 'since kept across attempts in the same state');
  });

  it('emits state events and calls subscribers until they unsubscribe', () => {
    const { manager, h } = createManager();
    const seen: ConnectionStatus[] = [];
    const events: string[] = [];
    manager.on('state', (s: ConnectionStatus) => events.push(s.state));
    const unsubscribe = manager.subscribe((s) => seen.push(s));
    manager.subscribe(() => {
      throw new Error('listener failure');
    });
    h.onDialAttempt(1);
    h.onSessionUp();
    unsubscribe();
    h.onSessionDown(new Error('lost'));
    assert.deepEqual(seen.map((s) => s.state), ['connecting', 'online'], 'subscriber saw the changes until it unsubscribed');
    assert.deepEqual(events, ['connecting', 'online', 'reconnecting'], "'state' events for every change");
  });

  it('counts requests, bytes and active streams', () => {
    const { manager, h } = createManager();
    h.onStreamOpened(1);
    h.onStreamOpened(2);
    h.onRequest(record(10, 200));
    h.onStreamClosed(1);
    h.onRequest(record(5, 0));
    const s = manager.status();
    assert.equal(s.requestsServed, 2, 'two requests');
    assert.equal(s.bytesIn, 15, 'bytes in summed');
    assert.equal(s.bytesOut, 200, 'bytes out summed');
    assert.equal(s.activeStreams, 1, 'one stream still active');
  });

  it('reports the client ping RTT', () => {
    const { manager, stub } = createManager();
    stub.lastRttMs = 12.5;
    assert.equal(manager.status().lastPingRttMs, 12.5, 'lastPingRttMs from the client');
  });

  it('still calls the user hooks, after updating the status', () => {
    const states: string[] = [];
    const box: { manager?: TunnelManager } = {};
    const created = createManager({ onSessionUp: () => states.push(box.manager?.status().state ?? 'none') });
    box.manager = created.manager;
    created.h.onSessionUp();
    assert.deepEqual(states, ['online'], 'user hook ran and saw online');
  });

  it('returns plain JSON from status()', () => {
    const { manager, h } = createManager();
    h.onDialAttempt(3);
    h.onDialFailed(3, new AgentAuthRejectedError(403));
    h.onRetryScheduled(3, 30000);
    const s = manager.status();
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s, 'status survives a JSON round trip unchanged');
  });

  it('keeps its invariants for any sequence of hooks', () => {
    const hookCall = fc.oneof(
      fc.record({ kind: fc.constant('dial' as const), attempt: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant('up' as const) }),
      fc.record({ kind: fc.constant('down' as const), withError: fc.boolean() }),
      fc.record({ kind: fc.constant('failed' as const), attempt: fc.integer({ min: 1, max: 50 }), auth: fc.boolean() }),
      fc.record({ kind: fc.constant('retry' as const), attempt: fc.integer({ min: 1, max: 50 }), delayMs: fc.integer({ min: 0, max: 36000 }) }),
    );
    fc.assert(
      fc.property(fc.array(hookCall, { maxLength: 40 }), (calls) => {
        const { manager, clock, h } = createManager();
        let wasOnline = false;
        for (const c of calls) {
          clock.advance(7);
          switch (c.kind) {
            case 'dial':
              h.onDialAttempt(c.attempt);
              assert.equal(manager.state, wasOnline ? 'reconnecting' : 'connecting', 'dial: connecting before the first session, then reconnecting');
              assert.equal(manager.status().attempt, c.attempt, 'dial: attempt recorded');
              assert.equal(manager.status().nextRetryAt, null, 'dial: no retry pending');
              break;
            case 'up':
              h.onSessionUp();
              wasOnline = true;
              assert.equal(manager.state, 'online', 'up: online');
              assert.equal(manager.status().attempt, 0, 'up: attempt reset');
              assert.equal(manager.status().lastError, null, 'up: no error');
              break;
            case 'down':
              h.onSessionDown(c.withError ? new KeepAliveTimeoutError(1) : undefined);
              assert.equal(manager.state, 'reconnecting', 'down: reconnecting');
              if (c.withError) assert.equal(manager.status().lastError?.code, 'ERR_MUX_KEEPALIVE_TIMEOUT', 'down: cause recorded');
              break;
            case 'failed':
              h.onDialFailed(c.attempt, c.auth ? new AgentAuthRejectedError(401) : new Error('refused'));
              assert.equal(manager.state, wasOnline ? 'reconnecting' : 'connecting', 'failed: not online');
              assert.equal(manager.status().lastError?.code, c.auth ? 'ERR_AGENT_AUTH_REJECTED' : 'ERR_AGENT_DIAL_FAILED', 'failed: code');
              break;
            case 'retry': {
              const before = manager.state;
              h.onRetryScheduled(c.attempt, c.delayMs);
              assert.equal(manager.state, before, 'retry: state unchanged');
              assert.equal(manager.status().nextRetryAt, clock.now() + c.delayMs, 'retry: nextRetryAt');
              break;
            }
          }
          const s = manager.status();
          assert.deepEqual(JSON.parse(JSON.stringify(s)), s, 'status is plain JSON');
        }
      }),
    );
  });
});
