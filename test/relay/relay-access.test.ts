/**
 * Visitor access control through the relay, with our agent: every policy
 * allowed and denied, JWT expiry and `agent` claim, `?access_token=` turned
 * into a cookie and a redirect, and relay credentials never reaching the agent.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportSPKI, generateKeyPair, type CryptoKey } from 'jose';
import { WebSocket } from 'ws';
import {
  BASE_DOMAIN,
  CleanupScope,
  connectAgent,
  createAgentToken,
  startOrigin,
  startRelay,
  visit,
  type OriginFixture,
  type RelayFixture,
} from './relay-fixtures.js';

const HS_SECRET = 'an-hs256-secret-of-at-least-32-bytes!';

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
}

function hsToken(claims: Record<string, unknown>, expiresIn: string | number = '5m'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('test-issuer').setExpirationTime(expiresIn).sign(new TextEncoder().encode(HS_SECRET));
}

describe('Relay visitor access control', () => {
  const scope = new CleanupScope();
  let fx: RelayFixture;
  let origin: OriginFixture;
  let bearerToken: string;
  let esPrivateKey: CryptoKey;

  const seen = async (agent: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; seen?: Seen; code?: string; responseHeaders: IncomingHttpHeaders }> => {
    const r = await visit(fx.addresses, path, { agent, headers });
    if (r.status !== 200) return { status: r.status, code: r.headers['x-tunnel-error'] as string | undefined, responseHeaders: r.headers };
    return { status: r.status, seen: JSON.parse(r.body.toString()) as Seen, responseHeaders: r.headers };
  };

  before(async () => {
    fx = await startRelay(scope);
    origin = await startOrigin(scope);
    const { relay } = fx;
    const connect = async (name: string): Promise<void> => {
      const token = (await relay.tokens.createToken(name)).token.reveal();
      await connectAgent(scope, fx, name, origin.addr, token);
    };
    await relay.tokens.ensureAgent('edge-private');
    await connect('edge-private');
    await createAgentToken(relay, 'edge-public', { mode: 'public' });
    await connect('edge-public');
    await relay.tokens.ensureAgent('edge-basic');
    await relay.accessPolicies.setPolicy('edge-basic', { mode: 'basic' });
    await relay.accessPolicies.addBasicUser('edge-basic', 'alice', 'correct horse');
    await connect('edge-basic');
    await relay.tokens.ensureAgent('edge-bearer');
    await relay.accessPolicies.setPolicy('edge-bearer', { mode: 'bearer' });
    bearerToken = (await relay.accessPolicies.addVisitorToken('edge-bearer')).token.reveal();
    await connect('edge-bearer');
    for (const name of ['edge-jwt', 'edge-jwt2']) {
      await relay.tokens.ensureAgent(name);
      await relay.accessPolicies.setPolicy(name, { mode: 'jwt', algorithm: 'HS256', secret: HS_SECRET, issuer: 'test-issuer' });
      await connect(name);
    }
    const es = await generateKeyPair('ES256');
    esPrivateKey = es.privateKey;
    await relay.tokens.ensureAgent('edge-es');
    await relay.accessPolicies.setPolicy('edge-es', { mode: 'jwt', algorithm: 'ES256', publicKeyPem: await exportSPKI(es.publicKey) });
    await connect('edge-es');
  });
  after(() => scope.run());

  it('refuses every visitor of a private agent (the default) with 401 ERR_ACCESS_DENIED', async () => {
    const r = await seen('edge-private', '/headers');
    assert.equal(r.status, 401, 'status');
    assert.equal(r.code, 'ERR_ACCESS_DENIED', 'code');
  });

  it('lets every visitor of a public agent in', async () => {
    assert.equal((await seen('edge-public', '/headers')).status, 200, 'status');
  });

  it('checks basic credentials and strips them before forwarding', async () => {
    const none = await seen('edge-basic', '/headers');
    assert.equal(none.status, 401, 'no credentials: 401');
    assert.equal(none.code, 'ERR_ACCESS_CREDENTIALS_REQUIRED', 'no credentials: code');
    assert.match(String(none.responseHeaders['www-authenticate']), /^Basic realm="edge-basic"/, 'Basic challenge');
    const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });
    const wrong = await seen('edge-basic', '/headers', basic('alice', 'wrong'));
    assert.equal(wrong.code, 'ERR_ACCESS_BAD_CREDENTIALS', 'wrong password refused');
    const ok = await seen('edge-basic', '/headers', basic('alice', 'correct horse'));
    assert.equal(ok.status, 200, 'right password accepted');
    assert.equal(ok.seen?.headers.authorization, undefined, 'Authorization not forwarded');
  });

  it('checks visitor bearer tokens and strips them before forwarding', async () => {
    const wrong = await seen('edge-bearer', '/headers', { authorization: 'Bearer vtv_0000000000000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' });
    assert.equal(wrong.status, 401, 'unknown token refused');
    const ok = await seen('edge-bearer', '/headers', { authorization: `Bearer ${bearerToken}`, 'x-app': 'kept' });
    assert.equal(ok.status, 200, 'issued token accepted');
    assert.equal(ok.seen?.headers.authorization, undefined, 'Authorization not forwarded');
    assert.equal(ok.seen?.headers['x-app'], 'kept', 'other headers forwarded');
    const other = await seen('edge-public', '/headers', { authorization: `Bearer ${bearerToken}` });
    assert.equal(other.seen?.headers.authorization, `Bearer ${bearerToken}`, 'a public agent gets its visitors own Authorization (not meant for the relay)');
  });

  it('accepts a valid JWT, and refuses an expired one, a wrong issuer and a token for another agent', async () => {
    const ok = await seen('edge-jwt', '/headers', { authorization: `Bearer ${await hsToken({ agent: 'edge-jwt', sub: 'v1' })}` });
    assert.equal(ok.status, 200, 'valid JWT');
    assert.equal(ok.seen?.headers.authorization, undefined, 'JWT not forwarded');
    const expired = await seen('edge-jwt', '/headers', { authorization: `Bearer ${await hsToken({ agent: 'edge-jwt' }, Math.floor(Date.now() / 1000) - 3600)}` });
    assert.equal(expired.status, 401, 'expired: 401');
    assert.equal(expired.code, 'ERR_ACCESS_TOKEN_EXPIRED', 'expired: code');
    const wrongAgent = await seen('edge-jwt', '/headers', { authorization: `Bearer ${await hsToken({ agent: 'edge-jwt2' })}` });
    assert.equal(wrongAgent.status, 403, 'wrong agent claim: 403');
    assert.equal(wrongAgent.code, 'ERR_ACCESS_WRONG_AGENT', 'wrong agent claim: code');
    const badIssuer = await seen('edge-jwt', '/headers', {
      authorization: `Bearer ${await new SignJWT({ agent: 'edge-jwt' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('someone-else').setExpirationTime('5m').sign(new TextEncoder().encode(HS_SECRET))}`,
    });
    assert.equal(badIssuer.code, 'ERR_ACCESS_BAD_CREDENTIALS', 'wrong issuer refused');
  });

  it('verifies ES256 JWTs with a public key', async () => {
    const jwt = await new SignJWT({ agent: 'edge-es' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('5m').sign(esPrivateKey);
    assert.equal((await seen('edge-es', '/headers', { authorization: `Bearer ${jwt}` })).status, 200, 'ES256 token accepted');
    const forged = await hsToken({ agent: 'edge-es' });
    assert.equal((await seen('edge-es', '/headers', { authorization: `Bearer ${forged}` })).status, 401, 'an HS256 token is refused by an ES256 policy');
  });

  it('turns ?access_token= into an HttpOnly cookie and a redirect without the token, and the cookie then opens the page', async () => {
    const jwt = await hsToken({ agent: 'edge-jwt' });
    const first = await visit(fx.addresses, `/headers?x=1&access_token=${jwt}`, { agent: 'edge-jwt' });
    assert.equal(first.status, 303, 'redirect');
    assert.equal(first.headers.location, '/headers?x=1', 'Location without the token, other parameters kept');
    const setCookie = String(first.headers['set-cookie']);
    assert.match(setCookie, /^vt_access_edge-jwt=/, 'cookie named after the agent');
    assert.match(setCookie, /HttpOnly/, 'HttpOnly');
    assert.doesNotMatch(setCookie, /Secure/, 'not Secure on plain HTTP');
    const cookie = setCookie.split(';')[0] as string;
    const second = await seen('edge-jwt', '/headers?x=1', { cookie: `${cookie}; app=1` });
    assert.equal(second.status, 200, 'the cookie opens the page');
    assert.equal(second.seen?.headers.cookie, 'app=1', 'the relay cookie is stripped, the app cookie kept');
    const elsewhere = await seen('edge-jwt2', '/headers', { cookie });
    assert.equal(elsewhere.status, 401, "one agent's cookie does not open another agent");
    assert.ok(origin.requests.every((r) => !r.url.includes('access_token')), 'no access_token ever reached the origin');
  });

  it('refuses a path-routed request to an access-controlled agent with 403 ERR_ROUTE_PATH_ROUTING_DISABLED by default', async () => {
    const before = origin.requests.length;
    const jwt = await hsToken({ agent: 'edge-jwt' });
    const r = await visit(fx.addresses, `/a/edge-jwt/app/?access_token=${jwt}`);
    assert.equal(r.status, 403, 'refused');
    assert.equal(r.headers['x-tunnel-error'], 'ERR_ROUTE_PATH_ROUTING_DISABLED', 'code');
    assert.equal(r.headers['set-cookie'], undefined, 'no access cookie for a refused path route');
    assert.equal(origin.requests.length, before, 'nothing forwarded');
    const pub = await visit(fx.addresses, '/a/edge-public/echo');
    assert.equal(pub.status, 200, 'a public agent is still path-routed');
  });

  it('accepts ?access_token= on a WebSocket upgrade and strips it from the forwarded URL', async () => {
    const jwt = await hsToken({ agent: 'edge-jwt' });
    const ws = new WebSocket(`ws://${fx.addresses.public}/ws?room=1&access_token=${jwt}`, { headers: { host: `edge-jwt.${BASE_DOMAIN}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send('ping');
    const echo = await new Promise<Buffer>((resolve) => ws.once('message', (data) => resolve(data as Buffer)));
    assert.equal(echo.toString(), 'ping', 'echo through an authorized WebSocket');
    ws.close();
    const upgrade = origin.requests.findLast((r) => r.url.startsWith('/ws'));
    assert.equal(upgrade?.url, '/ws?room=1', 'the token was removed from the upgrade target');
  });

  it('refuses a WebSocket upgrade to a private agent with 401 before any stream is opened', async () => {
    const ws = new WebSocket(`ws://${fx.addresses.public}/ws`, { headers: { host: `edge-private.${BASE_DOMAIN}` } });
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => {});
    });
    assert.equal(status, 401, 'refused with 401');
  });
});
