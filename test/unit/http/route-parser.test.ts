import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TunnelErrorCode } from '../../../src/shared/errors.js';
import { hasDotSegment, isRouteError, parseHostHeader, parseRoute, type RouteErrorCode } from '../../../src/http/index.js';

// Compile-time check: every route error code is a TunnelErrorCode.
const routeCodeIsTunnelCode = (code: RouteErrorCode): TunnelErrorCode => code;

const options = { baseDomain: 'tunnel.test' };

describe('parseRoute', () => {
  const ok: Array<[string, string | undefined, string, { agent: string; path: string; prefix?: string; via: 'host' | 'path'; redirect?: string }]> = [
    ['routes by Host', 'edge-01.tunnel.test', '/x?y=1', { agent: 'edge-01', path: '/x?y=1', via: 'host' }],
    ['ignores the port of Host', 'edge-01.tunnel.test:8443', '/', { agent: 'edge-01', path: '/', via: 'host' }],
    ['lowercases an uppercase Host', 'EDGE-01.Tunnel.TEST', '/', { agent: 'edge-01', path: '/', via: 'host' }],
    ['accepts a trailing dot on Host', 'edge-01.tunnel.test.', '/', { agent: 'edge-01', path: '/', via: 'host' }],
    ['keeps /a/ paths on a Host-routed request', 'edge-01.tunnel.test', '/a/other/', { agent: 'edge-01', path: '/a/other/', via: 'host' }],
    ['routes by path and strips the prefix', 'tunnel.test', '/a/edge-01/api/v1?q=2', { agent: 'edge-01', path: '/api/v1?q=2', prefix: '/a/edge-01', via: 'path' }],
    ['routes by path on any other valid Host', '127.0.0.1:8081', '/a/edge-01/', { agent: 'edge-01', path: '/', prefix: '/a/edge-01', via: 'path' }],
    ['routes by path on an IPv6 Host', '[::1]:8081', '/a/e/', { agent: 'e', path: '/', prefix: '/a/e', via: 'path' }],
    ['asks for a redirect when the trailing slash is missing', 'tunnel.test', '/a/edge-01?x=1', { agent: 'edge-01', path: '/?x=1', prefix: '/a/edge-01', via: 'path', redirect: '/a/edge-01/?x=1' }],
    ['allows an encoded slash after the agent segment', 'tunnel.test', '/a/edge-01/files/a%2Fb', { agent: 'edge-01', path: '/files/a%2Fb', prefix: '/a/edge-01', via: 'path' }],
    ['accepts a 63-character agent name', `${'a'.repeat(63)}.tunnel.test`, '/', { agent: 'a'.repeat(63), path: '/', via: 'host' }],
  ];
  for (const [name, host, url, expected] of ok) {
    it(name, () => {
      assert.deepEqual(parseRoute({ host, url }, options), expected, `${String(host)} ${url}`);
    });
  }

  const bad: Array<[string, string | undefined, string | undefined, RouteErrorCode]> = [
    ['rejects a parent segment that would switch agents', 'tunnel.test', '/a/edge-01/../edge-02/', 'ERR_ROUTE_BAD_PATH'],
    ['rejects an encoded parent segment', 'tunnel.test', '/a/edge-01/%2e%2e/edge-02/', 'ERR_ROUTE_BAD_PATH'],
    ['rejects a mixed-case encoded parent segment', 'tunnel.test', '/a/edge-01/%2E./x', 'ERR_ROUTE_BAD_PATH'],
    ['rejects a half-encoded parent segment', 'tunnel.test', '/a/edge-01/.%2e/x', 'ERR_ROUTE_BAD_PATH'],
    ['rejects a dot segment', 'tunnel.test', '/a/edge-01/./x', 'ERR_ROUTE_BAD_PATH'],
    ['rejects a parent segment at the end', 'tunnel.test', '/a/edge-01/..', 'ERR_ROUTE_BAD_PATH'],
    ['rejects a parent segment behind an encoded slash', 'tunnel.test', '/a/edge-01/x%2f..%2fy', 'ERR_ROUTE_BAD_PATH'],
    ['rejects a parent segment behind a backslash', 'tunnel.test', '/a/edge-01/x\\..\\y', 'ERR_ROUTE_BAD_PATH'],
    ['rejects dot segments on Host routing too', 'edge-01.tunnel.test', '/x/../y', 'ERR_ROUTE_BAD_PATH'],
    ['rejects an encoded slash in the agent segment', 'tunnel.test', '/a/edge-01%2fedge-02/', 'ERR_ROUTE_BAD_PATH'],
    ['rejects an upper-case encoded slash in the agent segment', 'tunnel.test', '/a/edge-01%2F/', 'ERR_ROUTE_BAD_PATH'],
    ['rejects an encoded backslash in the agent segment', 'tunnel.test', '/a/edge-01%5cx/', 'ERR_ROUTE_BAD_PATH'],
    ['rejects a backslash in the agent segment', 'tunnel.test', '/a/edge-01\\x/', 'ERR_ROUTE_BAD_PATH'],
    ['rejects an absolute-form target', 'tunnel.test', 'http://edge-01.tunnel.test/', 'ERR_ROUTE_BAD_PATH'],
    ['rejects the asterisk target', 'tunnel.test', '*', 'ERR_ROUTE_BAD_PATH'],
    ['rejects a missing target', 'tunnel.test', undefined, 'ERR_ROUTE_BAD_PATH'],
    ['rejects an upper-case agent in the path', 'tunnel.test', '/a/Edge-01/', 'ERR_ROUTE_BAD_AGENT'],
    ['rejects a percent-encoded agent name', 'tunnel.test', '/a/%65dge/', 'ERR_ROUTE_BAD_AGENT'],
    ['rejects an agent name ending in a hyphen', 'tunnel.test', '/a/edge-/', 'ERR_ROUTE_BAD_AGENT'],
    ['rejects an agent name starting with a hyphen', 'tunnel.test', '/a/-edge/', 'ERR_ROUTE_BAD_AGENT'],
    ['rejects an agent name with an underscore', 'tunnel.test', '/a/edge_01/', 'ERR_ROUTE_BAD_AGENT'],
    ['rejects a 64-character agent name', 'tunnel.test', `/a/${'a'.repeat(64)}/`, 'ERR_ROUTE_BAD_AGENT'],
    ['rejects an empty agent segment', 'tunnel.test', '/a//x', 'ERR_ROUTE_BAD_AGENT'],
    ['rejects a Host with two subdomain levels', 'x.edge-01.tunnel.test', '/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects a missing Host', undefined, '/a/edge-01/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects an empty Host', '', '/a/edge-01/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects a Host with a path', 'tunnel.test/x', '/a/edge-01/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects a Host with userinfo', 'user@tunnel.test', '/a/edge-01/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects a Host with an out-of-range port', 'tunnel.test:70000', '/a/edge-01/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects a Host with an empty port', 'tunnel.test:', '/a/edge-01/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects a Host with an underscore label', 'edge_01.tunnel.test', '/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects a Host with an empty label', 'edge..tunnel.test', '/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects a Host with a space', 'edge-01.tunnel.test evil', '/', 'ERR_ROUTE_BAD_HOST'],
    ['rejects a bracketed Host that is not IPv6', '[1.2.3]', '/a/e/', 'ERR_ROUTE_BAD_HOST'],
    ['answers no-agent for the base domain without /a/', 'tunnel.test', '/', 'ERR_ROUTE_NO_AGENT'],
    ['answers no-agent for /a alone', 'tunnel.test', '/a', 'ERR_ROUTE_NO_AGENT'],
  ];
  for (const [name, host, url, code] of bad) {
    it(name, () => {
      const r = parseRoute({ host, url }, options);
      assert.ok(isRouteError(r), `${String(host)} ${String(url)} is rejected`);
      assert.equal(r.error, code, `${String(host)} ${String(url)} -> ${code}`);
      assert.equal(r.status, code === 'ERR_ROUTE_NO_AGENT' ? 404 : 400, `status for ${code}`);
      assert.equal(typeof routeCodeIsTunnelCode(r.error), 'string', 'the code is a TunnelErrorCode');
    });
  }

  it('takes the base domain in any case and with dots around it', () => {
    assert.deepEqual(parseRoute({ host: 'e.tunnel.test', url: '/' }, { baseDomain: '.Tunnel.Test.' }), { agent: 'e', path: '/', via: 'host' }, 'base domain normalised');
  });
});

describe('parseHostHeader', () => {
  it('returns the lowercase hostname without port', () => {
    assert.equal(parseHostHeader('Example.COM:80'), 'example.com', 'lowercased, port removed');
    assert.equal(parseHostHeader('[::1]:8080'), '[::1]', 'IPv6 literal kept in brackets');
  });
});

describe('hasDotSegment', () => {
  it('finds only whole dot segments', () => {
    assert.equal(hasDotSegment('/a/..b/c.'), false, 'dots inside names are fine');
    assert.equal(hasDotSegment('/a/%2E%2E'), true, 'encoded parent segment found');
  });
});
