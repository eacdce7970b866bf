/**
 * Unit tests of the relay's pure parts: configuration resolution, the agent
 * registry (newest wins, idempotent removal by identity, waiting for an
 * agent), the auth rate limiter, and the client address behind proxies.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { createProxyTrust } from '../../src/http/index.js';
import { Session } from '../../src/mux/index.js';
import {
  AgentConnection,
  AgentRegistry,
  AuthRateLimiter,
  DEFAULT_RELAY_LIMITS,
  clientAddress,
  resolveRelayConfig,
} from '../../src/relay/index.js';
import { ConfigError } from '../../src/shared/errors.js';
import type { Clock, TimerHandle } from '../../src/shared/clock.js';
import { createDuplexPair } from '../helpers/duplex-pair.js';

/** A clock whose time only moves when the test says so. */
class FakeClock implements Clock {
  nowMs = 1_000_000;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  now(): number {
    return this.nowMs;
  }
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.nowMs + delayMs, fn });
    return { id } as TimerHandle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete((handle as { id: number }).id);
  }
  advance(ms: number): void {
    this.nowMs += ms;
    for (const [id, t] of [...this.#timers]) {
      if (t.at <= this.nowMs) {
        this.#timers.delete(id);
        t.fn();
      }
    }
  }
}

function connection(agentName: string, tokenId = 't1'): { connection: AgentConnection; peer: Session } {
  const [a, b] = createDuplexPair();
  const session = new Session(a, { role: 'server', keepAliveIntervalMs: 0 });
  const peer = new Session(b, { role: 'client', keepAliveIntervalMs: 0 });
  return { connection: new AgentConnection({ agentName, tokenId, remoteAddress: '127.0.0.1', session, connectedAtMs: 1 }), peer };
}

describe('resolveRelayConfig', () => {
  const base = { agentListen: '127.0.0.1:0', baseDomain: 'tunnel.example.com', dbPath: ':memory:' };

  it('fills every default and keeps one listener when publicListen is omitted', () => {
    const c = resolveRelayConfig(base);
    assert.deepEqual(c.agentListen, { host: '127.0.0.1', port: 0 }, 'agent listener parsed');
    assert.equal(c.publicListen, null, 'shared listener');
    assert.equal(c.limits.offlineGraceMs, 10_000, 'offline grace default');
    assert.equal(c.limits.keepAliveIntervalMs, 10_000, 'keepalive default');
    assert.deepEqual(c.limits, DEFAULT_RELAY_LIMITS, 'all limits default');
    assert.equal(c.tls, null, 'no TLS');
  });

  it('names the field and the value of a bad option', () => {
    const cases: Array<[string, object]> = [
      ['agentListen', { ...base, agentListen: 'nope' }],
      ['publicListen', { ...base, publicListen: '127.0.0.1:99999' }],
      ['baseDomain', { ...base, baseDomain: 'bad domain' }],
      ['baseDomain', { ...base, baseDomain: 'tunnel.example.com:80' }],
      ['dbPath', { ...base, dbPath: '' }],
      ['limits.offlineGraceMs', { ...base, limits: { offlineGraceMs: -1 } }],
      ['limits.maxStreamsPerAgent', { ...base, limits: { maxStreamsPerAgent: 0 } }],
      ['limits.keepAliveTimeoutMs', { ...base, limits: { keepAliveIntervalMs: 10_000, keepAliveTimeoutMs: 5_000 } }],
      ['limits.authRateLimit.maxFailures', { ...base, limits: { authRateLimit: { maxFailures: 0 } } }],
      ['trustProxy', { ...base, trustProxy: ['not-an-ip'] }],
      ['tls.key', { ...base, tls: { cert: 'x', key: '' } }],
    ];
    for (const [field, options] of cases) {
      assert.throws(() => resolveRelayConfig(options as never), (err: unknown) => err instanceof ConfigError && err.field === field, `rejects ${field}`);
    }
  });

  it('never echoes TLS key material in its error', () => {
    assert.throws(() => resolveRelayConfig({ ...base, tls: { cert: 'c', key: 42 as never } }), (err: Error) => !err.message.includes('42'), 'the key value is not shown');
  });
});

describe('AgentRegistry', () => {
  it('replaces an agent session with a newer one, sends GoAway to the old one and never lets it unregister the new one', async () => {
    const registry = new AgentRegistry({ replacedSessionGraceMs: 10_000 });
    const first = connection('edge');
    const second = connection('edge');
    registry.register(first.connection);
    assert.equal(registry.get('edge'), first.connection, 'first registered');
    const goAway = new Promise<number>((resolve) => first.peer.once('goaway', resolve));
    const events: Array<[AgentConnection, AgentConnection | undefined]> = [];
    registry.on('connect', (c: AgentConnection, previous: AgentConnection | undefined) => events.push([c, previous]));
    registry.register(second.connection);
    assert.equal(registry.get('edge'), second.connection, 'newest wins');
    assert.deepEqual(events, [[second.connection, first.connection]], 'connect event names the replaced session');
    assert.equal(await goAway, 0, 'old session got GoAway(normal)');
    assert.equal(first.connection.isReplaced, true, 'old session marked replaced');
    await first.connection.session.closed;
    assert.equal(registry.unregister(first.connection), false, 'stale removal is a no-op');
    assert.equal(registry.get('edge'), second.connection, 'newest still registered');
    second.connection.session.destroy();
    await second.connection.session.closed;
    assert.equal(registry.get('edge'), undefined, 'gone once its own session closed');
    assert.equal(registry.connections().length, 0, 'nothing left');
  });

  it('emits one disconnect per connection, however often it is removed', () => {
    const registry = new AgentRegistry();
    const c = connection('edge').connection;
    let disconnects = 0;
    registry.on('disconnect', () => disconnects++);
    registry.register(c);
    assert.equal(registry.unregister(c), true, 'first removal');
    assert.equal(registry.unregister(c), false, 'second removal');
    c.session.destroy();
    assert.equal(disconnects, 1, 'one disconnect event');
  });

  it('resolves waitForAgent when the agent registers, with undefined on timeout, and rejects on abort', async () => {
    const clock = new FakeClock();
    const registry = new AgentRegistry({ clock });
    const c = connection('edge').connection;
    const waiting = registry.waitForAgent('edge', 5_000);
    registry.register(c);
    assert.equal(await waiting, c, 'woken by the registration');

    const timedOut = registry.waitForAgent('other', 5_000);
    clock.advance(5_000);
    assert.equal(await timedOut, undefined, 'undefined after the timeout');

    const controller = new AbortController();
    const aborted = registry.waitForAgent('other', 5_000, controller.signal);
    controller.abort();
    await assert.rejects(aborted, { code: 'ERR_ABORTED' }, 'rejects on abort');

    const closing = registry.waitForAgent('other', 5_000);
    registry.close();
    assert.equal(await closing, undefined, 'close wakes waiters with undefined');
    c.session.destroy();
  });
});

describe('AuthRateLimiter', () => {
  it('limits an address after maxFailures within the window, and forgets it when the window ends', () => {
    const clock = new FakeClock();
    const limiter = new AuthRateLimiter({ maxFailures: 2, windowMs: 1000, maxTrackedAddresses: 10 }, clock);
    assert.equal(limiter.retryAfterMs('a'), 0, 'fresh address not limited');
    limiter.recordFailure('a');
    limiter.recordFailure('a');
    assert.equal(limiter.retryAfterMs('a'), 1000, 'limited for the rest of the window');
    assert.equal(limiter.retryAfterMs('b'), 0, 'other addresses unaffected');
    clock.advance(400);
    assert.equal(limiter.retryAfterMs('a'), 600, 'Retry-After shrinks');
    clock.advance(600);
    assert.equal(limiter.retryAfterMs('a'), 0, 'window over');
  });

  it('tracks at most maxTrackedAddresses addresses', () => {
    const limiter = new AuthRateLimiter({ maxFailures: 1, windowMs: 60_000, maxTrackedAddresses: 3 }, new FakeClock());
    for (let i = 0; i < 100; i++) limiter.recordFailure(`10.0.0.${i}`);
    assert.equal(limiter.size, 3, 'bounded memory');
    assert.ok(limiter.retryAfterMs('10.0.0.99') > 0, 'the newest address is still limited');
  });
});

describe('clientAddress', () => {
  const req = (remoteAddress: string, xff?: string) => ({ socket: { remoteAddress }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

  it('uses the peer address unless the peer is a trusted proxy', () => {
    const trust = createProxyTrust(['10.0.0.0/8']);
    assert.equal(clientAddress(req('::ffff:192.0.2.7', '198.51.100.1'), trust), '192.0.2.7', 'untrusted peer: its own address');
    assert.equal(clientAddress(req('10.0.0.5', '198.51.100.1, 10.0.0.9'), trust), '198.51.100.1', 'trusted: the nearest untrusted hop');
    assert.equal(clientAddress(req('10.0.0.5'), trust), '10.0.0.5', 'trusted without header: the proxy');
    assert.equal(clientAddress(req('10.0.0.5', 'garbage'), trust), '10.0.0.5', 'malformed header: the proxy');
  });
});
