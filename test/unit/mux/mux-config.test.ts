/**
 * `resolveMuxConfig`: defaults, and a `ConfigError` naming the field (and
 * showing the bad value) for every invalid option.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/shared/errors.js';
import { DEFAULT_MUX_CONFIG, Session, resolveMuxConfig, type SessionOptions } from '../../../src/mux/index.js';
import { createDuplexPair } from '../../helpers/duplex-pair.js';

function expectConfigError(options: SessionOptions, field: string, shown: string): void {
  assert.throws(
    () => resolveMuxConfig(options),
    (err: unknown) =>
      err instanceof ConfigError && err.code === 'ERR_CONFIG_INVALID' && err.field === field && err.message.includes(field) && err.message.includes(shown),
    `a ConfigError naming ${field} and showing ${shown}`,
  );
}

describe('resolveMuxConfig', () => {
  it('fills every field with hashicorp-like defaults', () => {
    const c = resolveMuxConfig({ role: 'client' });
    assert.equal(c.role, 'client', 'the role is kept');
    assert.equal(c.maxStreamWindowBytes, 256 * 1024, 'default window is 256 KiB, like hashicorp');
    assert.equal(c.keepAliveIntervalMs, DEFAULT_MUX_CONFIG.keepAliveIntervalMs, 'default keepalive interval');
    assert.ok(c.keepAliveTimeoutMs > c.keepAliveIntervalMs, 'default keepalive timeout is longer than the interval');
    assert.ok(Object.isFrozen(c), 'the resolved config is frozen');
  });

  it('keeps given values and ignores undefined ones', () => {
    const c = resolveMuxConfig({ role: 'server', maxStreamWindowBytes: 4 * 1024 * 1024, acceptBacklog: undefined });
    assert.equal(c.maxStreamWindowBytes, 4 * 1024 * 1024, 'the given window is kept');
    assert.equal(c.acceptBacklog, DEFAULT_MUX_CONFIG.acceptBacklog, 'an undefined option falls back to the default');
  });

  it('allows keepalive off (interval 0) with any timeout', () => {
    assert.equal(resolveMuxConfig({ role: 'client', keepAliveIntervalMs: 0, keepAliveTimeoutMs: 1 }).keepAliveIntervalMs, 0, 'interval 0 is valid');
  });

  const invalid: Array<[string, SessionOptions, string, string]> = [
    ['an unknown role', { role: 'peer' as 'client' }, 'role', '"peer"'],
    ['a window below 256 KiB (hashicorp VerifyConfig)', { role: 'client', maxStreamWindowBytes: 1000 }, 'maxStreamWindowBytes', '1000'],
    ['a fractional window', { role: 'client', maxStreamWindowBytes: 262144.5 }, 'maxStreamWindowBytes', '262144.5'],
    ['a negative keepalive interval', { role: 'client', keepAliveIntervalMs: -1 }, 'keepAliveIntervalMs', '-1'],
    ['a keepalive timeout not above the interval', { role: 'client', keepAliveIntervalMs: 100, keepAliveTimeoutMs: 100 }, 'keepAliveTimeoutMs', '100'],
    ['a zero keepalive timeout', { role: 'client', keepAliveTimeoutMs: 0 }, 'keepAliveTimeoutMs', '0'],
    ['a negative stream-open timeout', { role: 'client', streamOpenTimeoutMs: -5 }, 'streamOpenTimeoutMs', '-5'],
    ['a zero accept backlog', { role: 'client', acceptBacklog: 0 }, 'acceptBacklog', '0'],
    ['a zero stream limit', { role: 'client', maxStreams: 0 }, 'maxStreams', '0'],
    ['a tiny frame size', { role: 'client', maxFramePayloadBytes: 10 }, 'maxFramePayloadBytes', '10'],
    ['a string where a number belongs', { role: 'client', closeGraceMs: '5' as unknown as number }, 'closeGraceMs', '"5"'],
    ['a NaN transport buffer limit', { role: 'client', maxTransportBufferBytes: Number.NaN }, 'maxTransportBufferBytes', 'NaN'],
  ];
  for (const [what, options, field, shown] of invalid) {
    it(`rejects ${what}, naming ${field}`, () => expectConfigError(options, field, shown));
  }

  it('validates at construction: a Session with a bad option throws before touching the transport', () => {
    const [a] = createDuplexPair();
    assert.throws(
      () => new Session(a, { role: 'client', acceptBacklog: -1 }),
      (err: unknown) => err instanceof ConfigError && err.field === 'acceptBacklog',
      'the constructor throws the ConfigError',
    );
    assert.equal(a.listenerCount('data'), 0, 'no listener was attached to the transport');
  });
});
