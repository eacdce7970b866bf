import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { CryptoKey, JWTPayload } from 'jose';
import {
  VisitorAccessChecker,
  checkVisitorAccess,
  isRelayCookieName,
  removeRelaySetCookies,
  stripVisitorCredentials,
  stripVisitorCredentialsRaw,
} from '../../../src/relay/access/index.js';
import type {
  EffectiveAccessPolicy,
  VisitorAccessDecision,
  VisitorAccessGranted,
  VisitorAccessRefused,
  VisitorAccessRequest,
} from '../../../src/relay/access/index.js';
import type { RelayStore } from '../../../src/relay/store/index.js';
import { makeTempDir, openTestStore } from './fixtures.js';

const HS_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const OTHER_SECRET = 'another-shared-secret-of-32-bytes-or-more';
const ISSUER = 'https://issuer.example';
const AUDIENCE = 'visiona';

interface Fixture {
  store: RelayStore;
  checker: VisitorAccessChecker;
  policy(agent: string): EffectiveAccessPolicy;
  check(agent: string, request: Partial<VisitorAccessRequest>): Promise<VisitorAccessDecision>;
}

async function setup(t: TestContext, agents: string[] = ['cam-1', 'cam-2']): Promise<Fixture> {
  const store = openTestStore(t, await makeTempDir(t));
  for (const a of agents) await store.tokens.createAgent(a);
  const checker = new VisitorAccessChecker();
  const policy = (agent: string): EffectiveAccessPolicy => {
    const p = store.access.getPolicy(agent);
    assert.ok(p !== undefined, `${agent} has a policy`);
    return p;
  };
  return {
    store,
    checker,
    policy,
    check: (agent, request) => checker.check(agent, { headers: {}, url: '/', ...request }, policy(agent)),
  };
}

function granted(d: VisitorAccessDecision, what: string): VisitorAccessGranted {
  assert.equal(d.allowed, true, `${what}: allowed (got ${JSON.stringify(d)})`);
  return d as VisitorAccessGranted;
}

function refused(d: VisitorAccessDecision, status: number, code: string, what: string): VisitorAccessRefused {
  assert.equal(d.allowed, false, `${what}: refused`);
  const r = d as VisitorAccessRefused;
  assert.equal(r.status, status, `${what}: status ${status}`);
  assert.equal(r.code, code, `${what}: code ${code}`);
  return r;
}

function basicHeader(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

interface SignOptions {
  key?: Uint8Array | CryptoKey;
  alg?: string;
  kid?: string;
  expSec?: number | null;
  issuer?: string;
  audience?: string;
}

async function signJwt(claims: JWTPayload, options: SignOptions = {}): Promise<string> {
  const nowSec = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', ...(options.kid === undefined ? {} : { kid: options.kid }) })
    .setIssuedAt(nowSec - 60)
    .setSubject('visitor-7')
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE);
  if (options.expSec !== null) jwt.setExpirationTime(options.expSec ?? nowSec + 600);
  return jwt.sign(options.key ?? new TextEncoder().encode(HS_SECRET));
}

async function useHs256(f: Fixture, agent: string): Promise<void> {
  await f.store.access.setPolicy(agent, { mode: 'jwt', algorithm: 'HS256', secret: HS_SECRET, issuer: ISSUER, audience: AUDIENCE });
}

describe('checkVisitorAccess: private and public', () => {
  it('refuses every visitor of a private agent with 401 ERR_ACCESS_DENIED', async (t) => {
    const f = await setup(t);
    refused(await f.check('cam-1', {}), 401, 'ERR_ACCESS_DENIED', 'no credentials');
    refused(
      await f.check('cam-1', { headers: { authorization: basicHeader('a', 'b') } }),
      401,
      'ERR_ACCESS_DENIED',
      'with credentials',
    );
  });

  it('lets every visitor of a public agent in, leaving its own Authorization and query alone', async (t) => {
    const f = await setup(t);
    await f.store.access.setPolicy('cam-1', { mode: 'public' });
    const d = granted(
      await f.check('cam-1', { url: '/x?access_token=app-own', headers: { authorization: 'Bearer app-own' } }),
      'public',
    );
    assert.deepEqual(d.stripHeaders, [], 'no header is stripped');
    assert.equal(d.forwardUrl, '/x?access_token=app-own', 'the URL is forwarded as is');
    assert.equal(d.redirectTo, undefined, 'no redirect');
  });
});

describe('checkVisitorAccess: basic', () => {
  it('lets in a user with the right password and strips the Authorization header', async (t) => {
    const f = await setup(t);
    await f.store.access.setPolicy('cam-1', { mode: 'basic' });
    await f.store.access.addBasicUser('cam-1', 'alice', 'wonderland');
    const headers = { authorization: basicHeader('alice', 'wonderland'), accept: 'text/html' };
    const d = granted(await f.check('cam-1', { headers }), 'right password');
    assert.equal(d.principal, 'alice', 'the principal is the user name');
    assert.deepEqual(d.stripHeaders, ['authorization'], 'Authorization is stripped');
    assert.deepEqual(stripVisitorCredentials(headers, d), { accept: 'text/html' }, 'the forwarded headers lack Authorization');
    granted(await f.check('cam-1', { headers }), 'the same pair again (cached)');
  });

  it('refuses a wrong password, an unknown user, missing or malformed credentials, with a Basic challenge', async (t) => {
    const f = await setup(t);
    await f.store.access.setPolicy('cam-1', { mode: 'basic' });
    await f.store.access.addBasicUser('cam-1', 'alice', 'wonderland');
    const challenge = 'Basic realm="cam-1", charset="UTF-8"';
    const cases: [string, string | undefined, string][] = [
      ['wrong password', basicHeader('alice', 'nope'), 'ERR_ACCESS_BAD_CREDENTIALS'],
      ['unknown user', basicHeader('mallory', 'wonderland'), 'ERR_ACCESS_BAD_CREDENTIALS'],
      ['no colon', `Basic ${Buffer.from('alice').toString('base64')}`, 'ERR_ACCESS_BAD_CREDENTIALS'],
      ['not base64', 'Basic !!!', 'ERR_ACCESS_BAD_CREDENTIALS'],
      ['no header', undefined, 'ERR_ACCESS_CREDENTIALS_REQUIRED'],
      ['bearer scheme', 'Bearer abc', 'ERR_ACCESS_CREDENTIALS_REQUIRED'],
    ];
    for (const [name, authorization, code] of cases) {
      const r = refused(
        await f.check('cam-1', { headers: authorization === undefined ? {} : { authorization } }),
        401,
        code,
        name,
      );
      assert.equal(r.wwwAuthenticate, challenge, `${name}: the challenge names the agent as realm`);
    }
  });

  it('stops accepting the old password as soon as it is replaced, despite the cache', async (t) => {
    const f = await setup(t);
    await f.store.access.setPolicy('cam-1', { mode: 'basic' });
    await f.store.access.addBasicUser('cam-1', 'alice', 'old-password');
    const headers = { authorization: basicHeader('alice', 'old-password') };
    granted(await f.check('cam-1', { headers }), 'old password before the change');
    await f.store.access.addBasicUser('cam-1', 'alice', 'new-password', { replace: true });
    refused(await f.check('cam-1', { headers }), 401, 'ERR_ACCESS_BAD_CREDENTIALS', 'old password after the change');
    granted(await f.check('cam-1', { headers: { authorization: basicHeader('alice', 'new-password') } }), 'new password');
    await f.store.access.removeBasicUser('cam-1', 'alice');
    refused(
      await f.check('cam-1', { headers: { authorization: basicHeader('alice', 'new-password') } }),
      401,
      'ERR_ACCESS_BAD_CREDENTIALS',
      'a removed user',
    );
  });
});

describe('checkVisitorAccess: bearer', () => {
  it('lets in the agent’s visitor token and refuses tampered, removed and malformed ones', async (t) => {
    const f = await setup(t);
    await f.store.access.setPolicy('cam-1', { mode: 'bearer' });
    const { token, tokenId } = await f.store.access.addVisitorToken('cam-1');
    const text = token.reveal();
    const d = granted(await f.check('cam-1', { headers: { authorization: `Bearer ${text}` } }), 'right token');
    assert.equal(d.principal, tokenId, 'the principal is the token id');
    assert.deepEqual(d.stripHeaders, ['authorization'], 'Authorization is stripped');

    const tampered = text.slice(0, -1) + (text.endsWith('A') ? 'B' : 'A');
    const r = refused(
      await f.check('cam-1', { headers: { authorization: `Bearer ${tampered}` } }),
      401,
      'ERR_ACCESS_BAD_CREDENTIALS',
      'tampered token',
    );
    assert.equal(r.wwwAuthenticate, 'Bearer realm="cam-1", error="invalid_token"', 'an RFC 6750 challenge');
    refused(await f.check('cam-1', { headers: { authorization: 'Bearer nope' } }), 401, 'ERR_ACCESS_BAD_CREDENTIALS', 'malformed');
    refused(await f.check('cam-1', {}), 401, 'ERR_ACCESS_CREDENTIALS_REQUIRED', 'no token');
    await f.store.access.removeVisitorToken('cam-1', tokenId);
    refused(
      await f.check('cam-1', { headers: { authorization: `Bearer ${text}` } }),
      401,
      'ERR_ACCESS_BAD_CREDENTIALS',
      'removed token',
    );
  });

  it('turns a visitor token in ?access_token= into a session cookie and a redirect', async (t) => {
    const f = await setup(t);
    await f.store.access.setPolicy('cam-1', { mode: 'bearer' });
    const text = (await f.store.access.addVisitorToken('cam-1')).token.reveal();
    const d = granted(await f.check('cam-1', { url: `/?access_token=${text}` }), 'token in query');
    assert.equal(d.redirectTo, '/', 'redirect to the same URL without the token');
    assert.equal(d.setCookie, `vt_access_cam-1=${text}; Path=/; HttpOnly; SameSite=Lax`, 'a session cookie');
    granted(await f.check('cam-1', { headers: { cookie: `vt_access_cam-1=${text}` } }), 'the cookie afterwards');
  });
});

describe('checkVisitorAccess: jwt', () => {
  it('lets in an HS256 token with the right issuer, audience and agent claim', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    const d = granted(await f.check('cam-1', { headers: { authorization: `Bearer ${jwt}` } }), 'valid HS256');
    assert.equal(d.principal, 'visitor-7', 'the principal is the sub claim');
    assert.deepEqual(d.stripHeaders, ['authorization'], 'Authorization is stripped');
  });

  it('refuses expired, foreign-agent, wrong-issuer, wrong-audience, badly signed and expiry-less tokens', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const nowSec = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<string>, number, string][] = [
      ['expired', signJwt({ agent: 'cam-1' }, { expSec: nowSec - 3600 }), 401, 'ERR_ACCESS_TOKEN_EXPIRED'],
      ['other agent claim', signJwt({ agent: 'cam-2' }), 403, 'ERR_ACCESS_WRONG_AGENT'],
      ['no agent claim', signJwt({}), 403, 'ERR_ACCESS_WRONG_AGENT'],
      ['agent claim not a string', signJwt({ agent: ['cam-1'] }), 403, 'ERR_ACCESS_WRONG_AGENT'],
      ['wrong issuer', signJwt({ agent: 'cam-1' }, { issuer: 'https://evil.example' }), 401, 'ERR_ACCESS_BAD_CREDENTIALS'],
      ['wrong audience', signJwt({ agent: 'cam-1' }, { audience: 'someone-else' }), 401, 'ERR_ACCESS_BAD_CREDENTIALS'],
      [
        'bad signature',
        signJwt({ agent: 'cam-1' }, { key: new TextEncoder().encode(OTHER_SECRET) }),
        401,
        'ERR_ACCESS_BAD_CREDENTIALS',
      ],
      ['no exp', signJwt({ agent: 'cam-1' }, { expSec: null }), 401, 'ERR_ACCESS_BAD_CREDENTIALS'],
      ['not a JWT', Promise.resolve('abc.def.ghi'), 401, 'ERR_ACCESS_BAD_CREDENTIALS'],
    ];
    for (const [name, token, status, code] of cases) {
      refused(await f.check('cam-1', { headers: { authorization: `Bearer ${await token}` } }), status, code, name);
    }
  });

  it('verifies RS256 with a PEM key and ES256 with a JWKS generated at test time, refusing other keys', async (t) => {
    const f = await setup(t);
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256', { extractable: true });
    const otherEc = await generateKeyPair('ES256');
    await f.store.access.setPolicy('cam-1', {
      mode: 'jwt',
      algorithm: 'RS256',
      publicKeyPem: await exportSPKI(rsa.publicKey),
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    await f.store.access.setPolicy('cam-2', {
      mode: 'jwt',
      algorithm: 'ES256',
      jwks: { keys: [{ ...(await exportJWK(ec.publicKey)), kid: 'k1', alg: 'ES256' }] },
    });

    const rs = await signJwt({ agent: 'cam-1' }, { alg: 'RS256', key: rsa.privateKey });
    granted(await f.check('cam-1', { headers: { authorization: `Bearer ${rs}` } }), 'RS256 signed by the key');
    const hsForRs = await signJwt({ agent: 'cam-1' });
    refused(
      await f.check('cam-1', { headers: { authorization: `Bearer ${hsForRs}` } }),
      401,
      'ERR_ACCESS_BAD_CREDENTIALS',
      'an HS256 token under an RS256 policy (algorithm confusion)',
    );

    const es = await signJwt({ agent: 'cam-2' }, { alg: 'ES256', key: ec.privateKey, kid: 'k1' });
    granted(await f.check('cam-2', { headers: { authorization: `Bearer ${es}` } }), 'ES256 signed by the JWKS key');
    const forged = await signJwt({ agent: 'cam-2' }, { alg: 'ES256', key: otherEc.privateKey, kid: 'k1' });
    refused(
      await f.check('cam-2', { headers: { authorization: `Bearer ${forged}` } }),
      401,
      'ERR_ACCESS_BAD_CREDENTIALS',
      'ES256 signed by another key',
    );
  });

  it('turns ?access_token= into an HttpOnly agent cookie and a redirect to the URL without it', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    const d = granted(
      await f.check('cam-1', { url: `/a/cam-1/page?x=1&access_token=${jwt}&y=%20z`, headers: { cookie: 'theme=dark' } }),
      'token in query',
    );
    assert.equal(d.redirectTo, '/a/cam-1/page?x=1&y=%20z', 'redirect keeps the other parameters, exactly');
    assert.equal(d.forwardUrl, '/a/cam-1/page?x=1&y=%20z', 'forwardUrl lacks the token');
    assert.deepEqual(d.stripQueryParams, ['access_token'], 'access_token is reported as stripped');
    const cookie = d.setCookie ?? '';
    assert.ok(cookie.startsWith(`vt_access_cam-1=${jwt}; `), 'the cookie is named after the agent and holds the JWT');
    for (const attr of ['Path=/', 'HttpOnly', 'SameSite=Lax']) assert.ok(cookie.split('; ').includes(attr), `cookie has ${attr}`);
    assert.ok(!cookie.includes('Secure'), 'no Secure flag over plain HTTP');
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)?.[1]);
    assert.ok(maxAge > 500 && maxAge <= 600, 'the cookie lives until the token expires');

    const tls = granted(await f.check('cam-1', { url: `/?access_token=${jwt}`, isTls: true }), 'over TLS');
    assert.ok(tls.setCookie?.split('; ').includes('Secure'), 'Secure over TLS');

    const after = granted(
      await f.check('cam-1', { url: '/a/cam-1/page?x=1', headers: { cookie: `theme=dark; vt_access_cam-1=${jwt}` } }),
      'cookie afterwards',
    );
    assert.equal(after.redirectTo, undefined, 'no redirect once the cookie is set');
    assert.equal(after.setCookie, undefined, 'no new cookie');
    assert.deepEqual(after.stripCookies, ['vt_access_cam-1'], 'the access cookie is stripped');
    assert.deepEqual(
      stripVisitorCredentials({ cookie: `theme=dark; vt_access_cam-1=${jwt}` }, after),
      { cookie: 'theme=dark' },
      'the agent gets only its own cookies',
    );
  });

  it('does not redirect a POST or an upgrade carrying ?access_token=, but still strips it and sets the cookie', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    const post = granted(await f.check('cam-1', { method: 'POST', url: `/api?access_token=${jwt}` }), 'POST');
    assert.equal(post.redirectTo, undefined, 'a POST is not redirected');
    assert.equal(post.forwardUrl, '/api', 'its URL loses the token');
    assert.ok(post.setCookie?.startsWith('vt_access_cam-1='), 'the cookie is still set');
    const ws = granted(
      await f.check('cam-1', { url: `/ws?access_token=${jwt}`, headers: { upgrade: 'websocket', connection: 'Upgrade' } }),
      'upgrade',
    );
    assert.equal(ws.redirectTo, undefined, 'an upgrade is not redirected');
    assert.equal(ws.forwardUrl, '/ws', 'its URL loses the token');
  });

  it('never redirects off-site, whatever the request target', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    for (const url of [`//evil.example/x?access_token=${jwt}`, `/\\evil.example/?access_token=${jwt}`]) {
      const d = granted(await f.check('cam-1', { url }), url);
      assert.ok(d.redirectTo?.startsWith('/') === true && !/^\/[/\\]/.test(d.redirectTo), `${url} redirects on-site`);
    }
  });

  it('refuses an expired cookie and tells the visitor to drop it', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const expired = await signJwt({ agent: 'cam-1' }, { expSec: Math.floor(Date.now() / 1000) - 3600 });
    const r = refused(
      await f.check('cam-1', { headers: { cookie: `vt_access_cam-1=${expired}` } }),
      401,
      'ERR_ACCESS_TOKEN_EXPIRED',
      'expired cookie',
    );
    assert.ok(r.setCookie?.startsWith('vt_access_cam-1=;') === true && r.setCookie.includes('Max-Age=0'), 'the cookie is cleared');
  });

  it('accepts a valid cookie next to an Authorization header that belongs to the app, and forwards that header', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    const d = granted(
      await f.check('cam-1', { headers: { authorization: 'Bearer app-session-123', cookie: `vt_access_cam-1=${jwt}` } }),
      'cookie plus app header',
    );
    assert.deepEqual(d.stripHeaders, [], 'the app’s Authorization header is not stripped');
  });
});

describe('checkVisitorAccess across agents', () => {
  it('never opens agent B with credentials of agent A', async (t) => {
    const f = await setup(t);
    // basic: alice belongs to cam-1 only
    await f.store.access.setPolicy('cam-1', { mode: 'basic' });
    await f.store.access.setPolicy('cam-2', { mode: 'basic' });
    await f.store.access.addBasicUser('cam-1', 'alice', 'wonderland');
    const basic = { headers: { authorization: basicHeader('alice', 'wonderland') } };
    granted(await f.check('cam-1', basic), 'alice on cam-1');
    refused(await f.check('cam-2', basic), 401, 'ERR_ACCESS_BAD_CREDENTIALS', 'alice on cam-2');

    // bearer: a visitor token of cam-1
    await f.store.access.setPolicy('cam-1', { mode: 'bearer' });
    await f.store.access.setPolicy('cam-2', { mode: 'bearer' });
    const vt = (await f.store.access.addVisitorToken('cam-1')).token.reveal();
    granted(await f.check('cam-1', { headers: { authorization: `Bearer ${vt}` } }), 'cam-1 token on cam-1');
    refused(await f.check('cam-2', { headers: { authorization: `Bearer ${vt}` } }), 401, 'ERR_ACCESS_BAD_CREDENTIALS', 'cam-1 token on cam-2');

    // jwt: same secret on both agents, the agent claim decides
    await useHs256(f, 'cam-1');
    await useHs256(f, 'cam-2');
    const jwt = await signJwt({ agent: 'cam-1' });
    granted(await f.check('cam-1', { headers: { authorization: `Bearer ${jwt}` } }), 'cam-1 JWT on cam-1');
    refused(await f.check('cam-2', { headers: { authorization: `Bearer ${jwt}` } }), 403, 'ERR_ACCESS_WRONG_AGENT', 'cam-1 JWT on cam-2');
    refused(await f.check('cam-2', { url: `/?access_token=${jwt}` }), 403, 'ERR_ACCESS_WRONG_AGENT', 'cam-1 JWT in query on cam-2');

    // cookie: cam-1's cookie is neither used by nor forwarded to cam-2
    refused(
      await f.check('cam-2', { headers: { cookie: `vt_access_cam-1=${jwt}` } }),
      401,
      'ERR_ACCESS_CREDENTIALS_REQUIRED',
      'cam-1 cookie on cam-2',
    );
    await f.store.access.setPolicy('cam-2', { mode: 'public' });
    const pub = granted(await f.check('cam-2', { headers: { cookie: `a=1; vt_access_cam-1=${jwt}` } }), 'public cam-2');
    assert.deepEqual(pub.stripCookies, ['vt_access_cam-1'], 'cam-1’s cookie is stripped even for a public agent');
    assert.deepEqual(
      stripVisitorCredentialsRaw(['Cookie', `a=1; vt_access_cam-1=${jwt}`, 'X-Test', 'y'], pub),
      ['Cookie', 'a=1', 'X-Test', 'y'],
      'the raw-header variant strips it too',
    );
  });
});

describe('checkVisitorAccess (one-shot function)', () => {
  it('evaluates a policy without a long-lived checker', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    const d = await checkVisitorAccess('cam-1', { headers: { authorization: `Bearer ${jwt}` }, url: '/' }, f.policy('cam-1'));
    granted(d, 'valid JWT');
    const r = await checkVisitorAccess('cam-1', { headers: {}, url: '/' }, { mode: 'private' });
    refused(r, 401, 'ERR_ACCESS_DENIED', 'private');
  });
});

describe('relay access cookies, scoped to one agent (issue 14)', () => {
  it('scopes the cookie of a path-routed request to /a/<agent>/, and its clear-cookie too', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    const d = granted(await f.check('cam-1', { headers: {}, url: `/a/cam-1/x?access_token=${jwt}`, cookiePath: '/a/cam-1/' }), 'query token');
    assert.match(d.setCookie ?? '', /^vt_access_cam-1=[^;]+; Path=\/a\/cam-1\/; HttpOnly; SameSite=Lax/, 'cookie scoped to the agent path');
    const bad = refused(await f.check('cam-1', { headers: { cookie: 'vt_access_cam-1=garbage' }, url: '/a/cam-1/', cookiePath: '/a/cam-1/' }), 401, 'ERR_ACCESS_BAD_CREDENTIALS', 'bad cookie');
    assert.equal(bad.setCookie, 'vt_access_cam-1=; Path=/a/cam-1/; HttpOnly; SameSite=Lax; Max-Age=0', 'the clear-cookie has the same scope');
  });

  it('names the cookie __Host-vt_access_<agent> under host routing over TLS, and reads it back', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    const d = granted(await f.check('cam-1', { headers: {}, url: `/x?access_token=${jwt}`, isTls: true }), 'query token over TLS');
    assert.match(d.setCookie ?? '', /^__Host-vt_access_cam-1=[^;]+; Path=\/; HttpOnly; SameSite=Lax.*; Secure$/, '__Host- prefixed, Secure, Path=/');
    const back = granted(await f.check('cam-1', { headers: { cookie: `__Host-vt_access_cam-1=${jwt}` }, url: '/y', isTls: true }), '__Host- cookie');
    assert.deepEqual(back.stripCookies, ['__Host-vt_access_cam-1'], 'the __Host- cookie is stripped before forwarding');
  });

  it('lets a good cookie through when a tossed bad copy comes first, and never clears it', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    const d = granted(await f.check('cam-1', { headers: { cookie: `vt_access_cam-1=tossed; vt_access_cam-1=${jwt}` }, url: '/' }), 'good copy second');
    assert.equal(d.setCookie, undefined, 'no clear-cookie while a good copy exists');
  });

  it('strips the Authorization copy of a token that came in ?access_token= as well', async (t) => {
    const f = await setup(t);
    await useHs256(f, 'cam-1');
    const jwt = await signJwt({ agent: 'cam-1' });
    const d = granted(await f.check('cam-1', { headers: { authorization: `Bearer ${jwt}` }, url: `/x?access_token=${jwt}`, method: 'POST' }), 'both copies');
    assert.deepEqual(d.stripHeaders, ['authorization'], 'the header copy is stripped');
    assert.deepEqual(d.stripQueryParams, ['access_token'], 'the query copy is stripped');
  });

  it('drops every Set-Cookie of an agent that names a relay cookie, in any spelling', () => {
    const raw = [
      'Set-Cookie', 'vt_access_bear=x; Path=/a/bear/',
      'Set-Cookie', '__Host-vt_access_bear=x; Path=/; Secure',
      'set-cookie', 'VT_ACCESS_bear=x; Domain=tunnel.test',
      'Set-Cookie', '__Secure-vt_access_x=1',
      'Set-Cookie', 'app=1; Path=/',
      'Content-Type', 'text/plain',
    ];
    assert.deepEqual(removeRelaySetCookies(raw), ['Set-Cookie', 'app=1; Path=/', 'Content-Type', 'text/plain'], 'only the app cookie and other headers kept');
    assert.equal(isRelayCookieName('vt_accessory'), false, 'a lookalike without the prefix is the app’s');
  });
});
