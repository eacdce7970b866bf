import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  buildAccessCookie,
  decodeBasicCredentials,
  getQueryParam,
  parseAuthorization,
  parseCookieHeader,
  removeCookies,
  removeQueryParam,
  safeRedirectPath,
} from '../../../src/relay/access/visitor-credentials.js';

describe('removeQueryParam', () => {
  it('removes every access_token and keeps the other parameters byte for byte, in order', () => {
    const cases: [string, string][] = [
      ['/p?access_token=x', '/p'],
      ['/p?a=1&access_token=x', '/p?a=1'],
      ['/p?access_token=x&a=1', '/p?a=1'],
      ['/p?a=%2F&access_token=x&access_token=y&b', '/p?a=%2F&b'],
      ['/p?access%5Ftoken=x&a=1', '/p?a=1'],
      ['/p?a=1', '/p?a=1'],
      ['/p', '/p'],
      ['/p?', '/p'],
      ['/p?a=1&access_token=x#frag', '/p?a=1'],
    ];
    for (const [input, expected] of cases) assert.equal(removeQueryParam(input, 'access_token'), expected, input);
  });

  it('round-trips any query: the other parameters survive whatever position the token had', () => {
    const part = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), fc.stringMatching(/^[A-Za-z0-9%._~-]{0,8}$/));
    fc.assert(
      fc.property(fc.array(part, { maxLength: 6 }), fc.nat(), fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/), (parts, pos, token) => {
        const kept = parts.filter(([k]) => k !== 'access_token').map(([k, v]) => `${k}=${v}`);
        const withToken = [...kept];
        withToken.splice(pos % (kept.length + 1), 0, `access_token=${token}`);
        const url = `/x?${withToken.join('&')}`;
        assert.equal(getQueryParam(url, 'access_token'), token, 'the token is found');
        assert.equal(removeQueryParam(url, 'access_token'), kept.length === 0 ? '/x' : `/x?${kept.join('&')}`, 'the rest is intact');
      }),
    );
  });
});

describe('visitor credential helpers', () => {
  it('parses cookies, first occurrence winning, and removes only the named ones', () => {
    assert.deepEqual({ ...parseCookieHeader('a=1; b="2"; a=3;junk; c=') }, { a: '1', b: '2', c: '' }, 'parsed');
    assert.equal(removeCookies('a=1; vt_access_x=t; b=2', ['vt_access_x']), 'a=1; b=2', 'one removed');
    assert.equal(removeCookies('vt_access_x=t', ['vt_access_x']), undefined, 'nothing left');
  });

  it('splits Authorization headers and decodes Basic credentials', () => {
    assert.deepEqual(parseAuthorization('BASIC  YTpi '), { scheme: 'basic', credentials: 'YTpi' }, 'scheme lower-cased');
    assert.equal(parseAuthorization('Bearer'), null, 'no credentials');
    assert.equal(parseAuthorization('Bearer a b'), null, 'two tokens');
    assert.deepEqual(decodeBasicCredentials(Buffer.from('ü:p:q').toString('base64')), { username: 'ü', password: 'p:q' }, 'UTF-8, first colon splits');
    assert.equal(decodeBasicCredentials('***'), null, 'not base64');
  });

  it('makes only same-origin redirect paths', () => {
    assert.equal(safeRedirectPath('/a/b?c'), '/a/b?c', 'plain path kept');
    assert.equal(safeRedirectPath('//evil.example/'), '/evil.example/', 'protocol-relative collapsed');
    assert.equal(safeRedirectPath('/\\evil.example/'), '/evil.example/', 'backslash collapsed');
    assert.equal(safeRedirectPath('http://evil.example/'), undefined, 'absolute-form refused');
  });

  it('builds the access cookie with its attributes', () => {
    assert.equal(
      buildAccessCookie('cam-1', 'v', { secure: true, maxAgeSec: 59.9 }),
      '__Host-vt_access_cam-1=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=59; Secure',
      'all attributes; __Host- over TLS under host routing',
    );
    assert.equal(
      buildAccessCookie('cam-1', 'v', { secure: true, path: '/a/cam-1/' }),
      'vt_access_cam-1=v; Path=/a/cam-1/; HttpOnly; SameSite=Lax; Secure',
      'scoped to the agent path when path-routed',
    );
    assert.equal(buildAccessCookie('cam-1', 'v', { secure: false }), 'vt_access_cam-1=v; Path=/; HttpOnly; SameSite=Lax', 'plain HTTP');
  });
});
