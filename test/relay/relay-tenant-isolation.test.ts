/**
 * Issue 14, high and medium: one agent's content can never carry or change
 * another agent's access. Path routing of access-controlled agents is opt-in
 * (`allowPathRouting`), and then their access cookie is scoped to
 * `/a/<agent>/`; no agent can set a relay cookie (cookie tossing), on an
 * ordinary response or on a refused upgrade.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { listenOnLoopback } from '../helpers/loopback.js';
import { RawHttpConnection, formatRequest, headerValues } from '../helpers/raw-http-client.js';
import { BASE_DOMAIN, CleanupScope, connectAgent, startRelay, visit, type RelayFixture } from './relay-fixtures.js';

const HS_SECRET = 'an-hs256-secret-of-at-least-32-bytes!';

/** A device that tries to toss the access cookie of agent `bear` (and sets one of its own). */
async function startTossingDevice(scope: CleanupScope): Promise<{ addr: string; requests: http.IncomingHttpHeaders[] }> {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    res.writeHead(200, [
      ['Set-Cookie', 'vt_access_bear=evil; Path=/a/bear/'],
      ['Set-Cookie', `vt_access_bear=evil; Domain=${BASE_DOMAIN}; Path=/`],
      ['Set-Cookie', '__Host-vt_access_bear=evil; Path=/; Secure'],
      ['Set-Cookie', 'app=1; Path=/'],
      ['Content-Type', 'text/plain'],
    ].flat());
    res.end('tossed');
  });
  const port = await listenOnLoopback(scope, server);
  return { addr: `127.0.0.1:${port}`, requests };
}

describe('Tenant isolation in the browser origin', () => {
  const scope = new CleanupScope();
  let fx: RelayFixture;
  let device: { addr: string; requests: http.IncomingHttpHeaders[] };

  before(async () => {
    fx = await startRelay(scope, { allowPathRouting: true });
    device = await startTossingDevice(scope);
    await connectAgent(scope, fx, 'delta', device.addr);
    await connectAgent(scope, fx, 'bear', device.addr);
    await fx.relay.accessPolicies.setPolicy('bear', { mode: 'jwt', algorithm: 'HS256', secret: HS_SECRET });
  });
  after(() => scope.run());

  it("drops an agent's Set-Cookie that names a relay cookie, keeping the app's own", async () => {
    const r = await visit(fx.addresses, '/a/delta/steal');
    assert.equal(r.status, 200, 'status');
    assert.deepEqual(r.headers['set-cookie'], ['app=1; Path=/'], 'only the app cookie reaches the visitor');
  });

  it('drops them on a refused upgrade too', async (t) => {
    const conn = await RawHttpConnection.connect(t, fx.addresses.public);
    await conn.write(
      formatRequest('/ws', {
        headers: [
          ['Host', `delta.${BASE_DOMAIN}`],
          ['Connection', 'Upgrade'],
          ['Upgrade', 'websocket'],
          ['Sec-WebSocket-Version', '13'],
          ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
        ],
      }),
    );
    const res = await conn.readResponse();
    assert.equal(res.status, 200, 'the device answer passed on as an ordinary response');
    assert.deepEqual(headerValues(res.headers, 'set-cookie'), ['app=1; Path=/'], 'only the app cookie');
  });

  it('scopes the access cookie of a path-routed agent to /a/<agent>/ when path routing is allowed', async () => {
    const jwt = await new SignJWT({ agent: 'bear' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(HS_SECRET));
    const r = await visit(fx.addresses, `/a/bear/app/?access_token=${jwt}`);
    assert.equal(r.status, 303, 'redirect');
    assert.equal(r.headers.location, '/a/bear/app/', 'same visitor path without the token');
    const cookie = r.headers['set-cookie']?.[0] ?? '';
    assert.match(cookie, /^vt_access_bear=[^;]+; Path=\/a\/bear\/; HttpOnly; SameSite=Lax/, 'cookie scoped to the agent');
  });
});
