import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveTunnelClientConfig, DEFAULT_TUNNEL_CLIENT_CONFIG, type TunnelClientOptions } from '../../src/agent/tunnel-client-config.js';
import { buildConnectHeaders, buildConnectUrl } from '../../src/agent/connect-url.js';
import { AGENT_VERSION_HEADER, CAPABILITIES_HEADER } from '../../src/http/tunnel-headers.js';
import { ConfigError } from '../../src/shared/errors.js';
import { Secret } from '../../src/shared/secret.js';

const base: TunnelClientOptions = { relayUrl: 'ws://127.0.0.1:8080/tunnel/connect', token: 'tok-123', localAddr: '127.0.0.1:3000' };

function configErrorField(options: TunnelClientOptions): string {
  try {
    resolveTunnelClientConfig(options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_CONFIG_INVALID', 'code ERR_CONFIG_INVALID');
    return err.field;
  }
  assert.fail('expected a ConfigError');
}

describe('resolveTunnelClientConfig', () => {
  it('applies the Go client defaults: keepalive 10 s, write timeout 10 s, backoff 1 s to 30 s', () => {
    const c = resolveTunnelClientConfig(base);
    assert.equal(c.keepAliveIntervalMs, 10_000, 'keepalive every 10 s');
    assert.equal(c.writeTimeoutMs, 10_000, 'write timeout 10 s');
    assert.equal(c.backoffInitialMs, 1_000, 'backoff starts at 1 s');
    assert.equal(c.backoffMaxMs, 30_000, 'backoff capped at 30 s');
    assert.equal(c.jitterRatio, 0.2, 'jitter +/-20 %');
    assert.equal(c.handshakeTimeoutMs, 10_000, 'handshake timeout 10 s');
    assert.equal(c.stabilityThresholdMs, 5_000, 'stability threshold 5 s');
    assert.equal(c.hostHeader, 'preserve', 'Host preserved by default');
    assert.ok(c.keepAliveIntervalMs + c.keepAliveTimeoutMs <= 30_000, 'a silent relay is detected within 30 s');
    assert.ok(c.token instanceof Secret, 'token kept as a Secret');
    assert.equal(c.token.reveal(), 'tok-123', 'token value kept');
    assert.equal(DEFAULT_TUNNEL_CLIENT_CONFIG.authFailureCapAfter, c.authFailureCapAfter, 'auth cap default');
    assert.equal(c.maxStreams, 1024, 'at most 1024 streams served at once, so a hostile relay cannot make the agent hold thousands');
  });

  it('accepts a Secret token and 0 to turn jitter and keepalive off', () => {
    const c = resolveTunnelClientConfig({ ...base, token: new Secret('s3cr3t'), jitterRatio: 0, keepAliveIntervalMs: 0 });
    assert.equal(c.token.reveal(), 's3cr3t', 'Secret token');
    assert.equal(c.jitterRatio, 0, 'jitter off');
    assert.equal(c.keepAliveIntervalMs, 0, 'keepalive off');
  });

  it('derives a keepalive timeout above a long interval', () => {
    const c = resolveTunnelClientConfig({ ...base, keepAliveIntervalMs: 20_000 });
    assert.ok(c.keepAliveTimeoutMs > 20_000, 'timeout above the interval');
  });

  it('names the offending field', () => {
    const cases: Array<[Partial<TunnelClientOptions> | Record<string, unknown>, string]> = [
      [{ relayUrl: 'http://127.0.0.1/x' }, 'relayUrl'],
      [{ relayUrl: 'not a url' }, 'relayUrl'],
      [{ relayUrl: '' }, 'relayUrl'],
      [{ token: '' }, 'token'],
      [{ token: 'has space' }, 'token'],
      [{ token: 'line\r\nbreak' }, 'token'],
      [{ token: new Secret('') }, 'token'],
      [{ localAddr: '127.0.0.1' }, 'localAddr'],
      [{ localAddr: '127.0.0.1:0' }, 'localAddr'],
      [{ jitterRatio: -0.1 }, 'jitterRatio'],
      [{ jitterRatio: 1 }, 'jitterRatio'],
      [{ jitterRatio: Number.NaN }, 'jitterRatio'],
      [{ handshakeTimeoutMs: 0 }, 'handshakeTimeoutMs'],
      [{ keepAliveIntervalMs: -1 }, 'keepAliveIntervalMs'],
      [{ keepAliveIntervalMs: 1000, keepAliveTimeoutMs: 1000 }, 'keepAliveTimeoutMs'],
      [{ writeTimeoutMs: 0 }, 'writeTimeoutMs'],
      [{ stabilityThresholdMs: 1.5 }, 'stabilityThresholdMs'],
      [{ authFailureCapAfter: 0 }, 'authFailureCapAfter'],
      [{ backoffInitialMs: 0 }, 'backoffInitialMs'],
      [{ backoffInitialMs: 2000, backoffMaxMs: 1000 }, 'backoffMaxMs'],
      [{ hostHeader: '' }, 'hostHeader'],
      [{ hostHeader: 'evil\r\nX: y' }, 'hostHeader'],
      [{ maxStreamWindowBytes: 1024 }, 'maxStreamWindowBytes'],
      [{ agentVersion: '1.0\n' }, 'agentVersion'],
      [{ stopGraceMs: -1 }, 'stopGraceMs'],
      [{ random: 5 }, 'random'],
    ];
    for (const [patch, field] of cases) {
      assert.equal(configErrorField({ ...base, ...patch } as TunnelClientOptions), field, `${JSON.stringify(patch)} names ${field}`);
    }
  });

  it('never shows the token in an error message', () => {
    for (const token of ['bad token with spaces', 'x\ny']) {
      assert.throws(
        () => resolveTunnelClientConfig({ ...base, token }),
        (err: Error) => !err.message.includes(token) && err.message.includes('[secret]'),
        'message masks the token',
      );
    }
  });
});

describe('buildConnectUrl', () => {
  it('adds ?token= and keeps the other query parameters as written', () => {
    const url = buildConnectUrl('ws://127.0.0.1:8080/tunnel/connect?region=eu&x=a%2Fb&flag', 'tok-123');
    assert.equal(url.href, 'ws://127.0.0.1:8080/tunnel/connect?region=eu&x=a%2Fb&flag&token=tok-123', 'token appended, rest kept');
  });

  it('replaces an existing token parameter instead of sending two', () => {
    const url = buildConnectUrl('ws://127.0.0.1:8080/t?token=old&a=1&tok%65n=older', new Secret('new'));
    assert.equal(url.search, '?a=1&token=new', 'old token parameters removed');
  });

  it('percent-encodes the token', () => {
    const url = buildConnectUrl('wss://127.0.0.1/t', 'a+b&c=d');
    assert.equal(url.searchParams.get('token'), 'a+b&c=d', 'token decodes to its value');
  });
});

describe('buildConnectHeaders', () => {
  it('sends the token as a Bearer credential, the capabilities, and the agent version when set', () => {
    assert.deepEqual(
      buildConnectHeaders(new Secret('t0k'), '1.2.3'),
      { Authorization: 'Bearer t0k', [CAPABILITIES_HEADER]: 'interim-responses', [AGENT_VERSION_HEADER]: '1.2.3' },
      'all three headers',
    );
    assert.deepEqual(buildConnectHeaders('t0k'), { Authorization: 'Bearer t0k', [CAPABILITIES_HEADER]: 'interim-responses' }, 'no version header when unset');
  });
});
