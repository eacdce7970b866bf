import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/shared/errors.js';
import { applyForwardedHeaders, createProxyTrust, normalizeIpAddress } from '../../../src/http/index.js';

describe('createProxyTrust', () => {
  const trust = createProxyTrust(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
  const cases: Array<[string | undefined, boolean]> = [
    ['127.0.0.1', true],
    ['::ffff:127.0.0.1', true],
    ['10.20.30.40', true],
    ['11.0.0.1', false],
    ['fd00::5', true],
    ['fe80::1', false],
    ['127.0.0.2', false],
    ['not-an-ip', false],
    [undefined, false],
  ];
  for (const [address, expected] of cases) {
    it(`${expected ? 'trusts' : 'does not trust'} ${String(address)}`, () => {
      assert.equal(trust(address), expected, `trust(${String(address)}) is ${expected}`);
    });
  }

  it('rejects an entry that is not an address or range with a ConfigError', () => {
    assert.throws(() => createProxyTrust(['proxy.local']), ConfigError, 'a hostname is not accepted');
    assert.throws(() => createProxyTrust(['10.0.0.0/33']), ConfigError, 'an IPv4 prefix over 32 is not accepted');
  });

  it('turns an IPv4-mapped IPv6 address into IPv4', () => {
    assert.equal(normalizeIpAddress('::ffff:192.0.2.1'), '192.0.2.1', 'mapped address unwrapped');
    assert.equal(normalizeIpAddress('::1'), '::1', 'other addresses unchanged');
  });
});

describe('applyForwardedHeaders', () => {
  const trustProxy = createProxyTrust(['127.0.0.1']);
  const spoofed = {
    host: 'edge-01.tunnel.test',
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'evil.test',
    'x-forwarded-prefix': '/evil',
    'x-forwarded-port': '1',
    'x-real-ip': '6.6.6.6',
    forwarded: 'for=6.6.6.6',
    accept: '*/*',
  };

  const cases: Array<{ name: string; headers: Record<string, string>; remote: string; prefix?: string; expected: Record<string, string> }> = [
    {
      name: 'drops every forwarding header from an untrusted visitor and sets its own',
      headers: spoofed,
      remote: '203.0.113.9',
      prefix: '/a/edge-01',
      expected: {
        host: 'edge-01.tunnel.test',
        accept: '*/*',
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'edge-01.tunnel.test',
        'x-forwarded-prefix': '/a/edge-01',
      },
    },
    {
      name: 'appends the peer to a trusted proxy X-Forwarded-For and keeps its proto, host and prefix',
      headers: spoofed,
      remote: '::ffff:127.0.0.1',
      prefix: '/a/edge-01',
      expected: {
        host: 'edge-01.tunnel.test',
        accept: '*/*',
        'x-forwarded-port': '1',
        'x-real-ip': '6.6.6.6',
        forwarded: 'for=6.6.6.6',
        'x-forwarded-for': '6.6.6.6, 127.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.test',
        'x-forwarded-prefix': '/evil/a/edge-01',
      },
    },
    {
      name: 'uses its own values when a trusted proxy sent none',
      headers: { host: 'h.test:8080', 'X-Forwarded-For': '198.51.100.1' },
      remote: '127.0.0.1',
      expected: {
        host: 'h.test:8080',
        'x-forwarded-for': '198.51.100.1, 127.0.0.1',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'h.test:8080',
      },
    },
    {
      name: 'ignores a trusted proxy proto that is neither http nor https',
      headers: { host: 'h', 'x-forwarded-proto': 'gopher' },
      remote: '127.0.0.1',
      expected: { host: 'h', 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'h' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = applyForwardedHeaders(c.headers, { remoteAddress: c.remote, proto: 'http', host: c.headers.host, prefix: c.prefix, trustProxy });
      assert.deepEqual(out, c.expected, c.name);
    });
  }

  it('trusts nobody by default', () => {
    const out = applyForwardedHeaders({ 'x-forwarded-for': '6.6.6.6' }, { remoteAddress: '127.0.0.1', proto: 'https', host: 'h' });
    assert.equal(out['x-forwarded-for'], '127.0.0.1', 'the incoming list is dropped');
    assert.equal(out['x-forwarded-proto'], 'https', 'our scheme is used');
  });
});
