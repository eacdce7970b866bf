/**
 * Hostile visitors on the relay's public listener, sent as exact bytes over
 * raw TCP: request smuggling (Content-Length with Transfer-Encoding,
 * duplicated Content-Length, bad chunk sizes, obs-fold), oversized heads,
 * invalid Host values, and `/a/edge-01/../edge-02/` with its encoded
 * variants. Two agents (our TunnelClient), edge-01 and edge-02, serve
 * recording local services: every refused request must reach neither, and a
 * routed request must reach only the agent it was routed to. Credentials of
 * one agent (basic user, visitor bearer token, JWT with `agent: edge-01`,
 * the access cookie) must never open the other.
 *
 * Which layer refuses what (documented in docs/reliability.md): Node's HTTP
 * parser (llhttp, strict mode) answers 400 to malformed framing and heads
 * and 431 (with `X-Tunnel-Error: ERR_RELAY_HEADERS_TOO_LARGE`) to heads over
 * 64 KiB before the relay sees a request; the relay's
 * `parseRoute` answers 400 to invalid Host values, non-origin-form targets,
 * dot segments (literal or encoded) and encoded slashes in the agent name.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import {
  BASE_DOMAIN,
  CleanupScope,
  connectAgent,
  createAgentToken,
  splitHostPort,
  startRelay,
  visit,
  waitFor,
  type RelayFixture,
} from '../relay/relay-fixtures.js';
import { getRequest, rawExchange, startRecordingService, type RecordingService } from './hostile-fixtures.js';

const HOST_01 = `edge-01.${BASE_DOMAIN}`;
const HOST_02 = `edge-02.${BASE_DOMAIN}`;
const HS_SECRET = 'a-shared-hs256-secret-for-both-agents!!';

describe('Relay public ingress under hostile input', () => {
  const scope = new CleanupScope();
  let fx: RelayFixture;
  let edge01: RecordingService;
  let edge02: RecordingService;
  let sentinel = 0;
  let badInputsTried = 0;
  /** Credentials the sentinels need once a test has set an access policy. */
  const sentinelHeaders: Record<'edge-01' | 'edge-02', Record<string, string>> = { 'edge-01': {}, 'edge-02': {} };

  before(async () => {
    // Path routing allowed: the cross-agent checks below try every agent by Host and by path.
    fx = await startRelay(scope, { allowPathRouting: true });
    edge01 = await startRecordingService(scope, 'edge-01');
    edge02 = await startRecordingService(scope, 'edge-02');
    await connectAgent(scope, fx, 'edge-01', edge01.addr, await createAgentToken(fx.relay, 'edge-01', { mode: 'public' }));
    await connectAgent(scope, fx, 'edge-02', edge02.addr, await createAgentToken(fx.relay, 'edge-02', { mode: 'public' }));
  });
  after(async () => {
    process.stdout.write(`# hostile ingress: ${badInputsTried} bad requests tried\n`);
    await scope.run();
  });

  /**
   * Sends a valid request to each agent and waits for both answers: anything
   * an earlier (refused) request had set in motion on a tunnel would have
   * reached the local services first. Returns the sentinel URLs to ignore.
   */
  async function flushWithSentinels(): Promise<string[]> {
    sentinel += 1;
    const path = `/sentinel-${sentinel}`;
    const [a, b] = await Promise.all([
      visit(fx.addresses, path, { agent: 'edge-01', headers: sentinelHeaders['edge-01'] }),
      visit(fx.addresses, path, { agent: 'edge-02', headers: sentinelHeaders['edge-02'] }),
    ]);
    assert.equal(a.status, 200, 'the edge-01 sentinel is served');
    assert.equal(b.status, 200, 'the edge-02 sentinel is served');
    return [path];
  }

  /** Asserts that no request but sentinels ever reached the agents' local services. */
  async function assertNothingReachedAgents(what: string): Promise<void> {
    await flushWithSentinels();
    const isSentinel = (url: string): boolean => url.startsWith('/sentinel-');
    assert.deepEqual(edge01.requests.filter((r) => !isSentinel(r.url)).map((r) => `${r.method} ${r.url}`), [], `${what}: nothing reached edge-01`);
    assert.deepEqual(edge02.requests.filter((r) => !isSentinel(r.url)).map((r) => `${r.method} ${r.url}`), [], `${what}: nothing reached edge-02`);
  }

  /** Sends each case and expects its status; then checks that none reached an agent. */
  async function expectRefused(cases: ReadonlyArray<readonly [name: string, request: string, status: number]>): Promise<void> {
    for (const [name, request, status] of cases) {
      badInputsTried += 1;
      const reply = await rawExchange(fx.addresses.public, request);
      assert.equal(reply.status, status, `${name}: answered ${status} (got: ${JSON.stringify(reply.text.slice(0, 80))})`);
      assert.deepEqual(reply.statuses, [status], `${name}: exactly one response (no smuggled second request answered)`);
      await assertNothingReachedAgents(name);
    }
  }

  it('refuses request smuggling in the head with 400 from the HTTP parser, and nothing reaches any agent', async () => {
    const smuggled = `GET /a/edge-02/smuggled HTTP/1.1\r\nHost: ${HOST_02}\r\n\r\n`;
    await expectRefused([
      ['Content-Length then Transfer-Encoding (CL.TE)', `POST /cl-te HTTP/1.1\r\nHost: ${HOST_01}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, 400],
      ['Transfer-Encoding then Content-Length (TE.CL)', `POST /te-cl HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n${smuggled}\r\n0\r\n\r\n`, 400],
      ['two Content-Length values', `POST /dup-cl HTTP/1.1\r\nHost: ${HOST_01}\r\nContent-Length: 4\r\nContent-Length: 60\r\n\r\nabcd${smuggled}`, 400],
      ['two equal Content-Length headers', `POST /dup-cl-same HTTP/1.1\r\nHost: ${HOST_01}\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`, 400],
      ['a Content-Length list', `POST /cl-list HTTP/1.1\r\nHost: ${HOST_01}\r\nContent-Length: 4, 4\r\n\r\nabcd`, 400],
      ['a negative Content-Length', `POST /cl-neg HTTP/1.1\r\nHost: ${HOST_01}\r\nContent-Length: -1\r\n\r\n`, 400],
      ['a space before the Transfer-Encoding colon', `POST /te-space HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400],
      ['Transfer-Encoding chunked, then identity', `POST /te-dup HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`, 400],
      ['obs-fold header continuation', `GET /obs-fold HTTP/1.1\r\nHost: ${HOST_01}\r\nX-Folded: a\r\n b\r\n\r\n`, 400],
      ['obs-fold continuing the Host header', `GET /obs-fold-host HTTP/1.1\r\nHost: ${HOST_01}\r\n ${HOST_02}\r\n\r\n`, 400],
      ['obs-fold continuing Transfer-Encoding', `POST /obs-fold-te HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 4\r\n\r\nabcd`, 400],
      ['bare LF line endings', `GET /bare-lf HTTP/1.1\nHost: ${HOST_01}\n\n`, 400],
      ['a NUL in a header value', `GET /nul HTTP/1.1\r\nHost: ${HOST_01}\r\nX-A: a\0b\r\n\r\n`, 400],
      ['a bare CR in a header value', `GET /cr HTTP/1.1\r\nHost: ${HOST_01}\r\nX-A: a\rb\r\n\r\n`, 400],
      ['a space in the request target', `GET /a b HTTP/1.1\r\nHost: ${HOST_01}\r\n\r\n`, 400],
      ['a header name with a space', `GET /name-space HTTP/1.1\r\nHost: ${HOST_01}\r\nX A: b\r\n\r\n`, 400],
      ['an unknown HTTP version', `GET /v HTTP/1.7\r\nHost: ${HOST_01}\r\n\r\n`, 400],
    ]);
  });

  it('refuses heads over 64 KiB with 431 (one big header, a long target, many headers), and nothing reaches any agent', async () => {
    await expectRefused([
      ['one 65 KiB header', getRequest('/big-header', HOST_01, `X-Big: ${'a'.repeat(65 * 1024)}\r\n`), 431],
      ['a 65 KiB request target', getRequest(`/long-target?q=${'a'.repeat(65 * 1024)}`, HOST_01), 431],
      ['3000 small headers', getRequest('/many-headers', HOST_01, Array.from({ length: 3000 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}\r\n`).join('')), 431],
    ]);
    const reply = await rawExchange(fx.addresses.public, getRequest('/big-header', HOST_01, `X-Big: ${'a'.repeat(65 * 1024)}\r\n`));
    assert.match(reply.text, /\r\nX-Tunnel-Error: ERR_RELAY_HEADERS_TOO_LARGE\r\n/, 'the 431 names its code');
  });

  it('cuts a request whose chunked body turns out malformed: 400, and no agent ever receives a complete request or the smuggled one', async () => {
    const smuggled = `GET /a/edge-02/smuggled-body HTTP/1.1\r\nHost: ${HOST_02}\r\n\r\n`;
    const cases: Array<[string, string]> = [
      ['a non-hex chunk size', `POST /bad-chunk HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n${smuggled}`],
      ['a chunk size over 64 bits', `POST /huge-chunk HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabcd\r\n0\r\n\r\n${smuggled}`],
      ['a chunk size with bare LF', `POST /lf-chunk HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding: chunked\r\n\r\n4\nabcd\n0\n\n${smuggled}`],
      ['a chunk longer than its size', `POST /long-chunk HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n${smuggled}`],
      ['a final encoding other than chunked', `POST /te-other HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n${smuggled}`],
    ];
    for (const [name, request] of cases) {
      badInputsTried += 1;
      const reply = await rawExchange(fx.addresses.public, request);
      // The head is valid, so the relay may already be forwarding it when the parser reaches the bad body bytes.
      assert.ok(reply.status === 400 || reply.status === 0, `${name}: answered 400 or the connection was cut (got: ${JSON.stringify(reply.text.slice(0, 80))})`);
      assert.ok(reply.statuses.length <= 1, `${name}: never a second response`);
      await flushWithSentinels();
      assert.deepEqual(edge01.requests.filter((r) => r.complete && !r.url.startsWith('/sentinel-')).map((r) => r.url), [], `${name}: edge-01 never received a complete request`);
      assert.deepEqual(edge02.requestsOtherThan().filter((r) => !r.url.startsWith('/sentinel-')).map((r) => r.url), [], `${name}: nothing reached edge-02`);
    }
    edge01.requests.length = 0;
  });

  it('cuts a forwarded request whose body then turns out malformed: the local service sees it aborted, never complete, and the smuggled request never arrives', async () => {
    badInputsTried += 1;
    const [host, port] = splitHostPort(fx.addresses.public);
    const socket = net.connect({ host, port });
    let reply = '';
    socket.on('data', (c: Buffer) => (reply += c.toString('latin1')));
    socket.on('error', () => {});
    const closed = once(socket, 'close');
    socket.write(`POST /staged HTTP/1.1\r\nHost: ${HOST_01}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n`);
    await waitFor(() => edge01.requests.some((r) => r.url === '/staged' && r.bodyBytes === 4), 'the head and first chunk to reach edge-01');
    socket.write(`zz\r\nefgh\r\n0\r\n\r\nGET /a/edge-02/smuggled-late HTTP/1.1\r\nHost: ${HOST_02}\r\n\r\n`);
    await closed;
    await flushWithSentinels();
    const staged = edge01.requests.find((r) => r.url === '/staged');
    assert.equal(staged?.complete, false, 'the local service saw the request cut, never complete');
    assert.equal(staged?.bodyBytes, 4, 'only the well-formed chunk reached it');
    assert.ok(!/ 200 /.test(reply.split('\r\n')[0] ?? ''), `the visitor never got a success (got: ${JSON.stringify(reply.slice(0, 60))})`);
    assert.deepEqual(edge02.requests.filter((r) => !r.url.startsWith('/sentinel-')).map((r) => r.url), [], 'the smuggled request never reached edge-02');
    assert.deepEqual(edge01.requests.filter((r) => !r.url.startsWith('/sentinel-') && r.url !== '/staged').map((r) => r.url), [], 'nor edge-01');
    edge01.requests.length = 0;
  });

  it('refuses invalid Host values with 400, and nothing reaches any agent', async () => {
    const cases: Array<readonly [string, string, number]> = [];
    const hosts: Array<[string, string]> = [
      ['an empty Host', ''],
      ['two names', `${HOST_01} ${HOST_02}`],
      ['userinfo', `${HOST_02}@${HOST_01}`],
      ['userinfo the other way', `${HOST_01}@${HOST_02}`],
      ['a path', `${HOST_01}/a/edge-02`],
      ['a port over 65535', `${HOST_01}:99999`],
      ['an empty label', `edge-01..${BASE_DOMAIN}`],
      ['an underscore', `edge_01.${BASE_DOMAIN}`],
      ['a label starting with a hyphen', `-edge-01.${BASE_DOMAIN}`],
      ['two subdomain levels', `edge-01.edge-02.${BASE_DOMAIN}`],
      ['an unclosed IPv6 bracket', '[::1'],
      ['a percent-encoded name', `edge%2d02.${BASE_DOMAIN}`],
      ['a non-ASCII name', `\u00e9dge-02.${BASE_DOMAIN}`],
      ['a tab inside', `${HOST_01}\t${HOST_02}`],
      ['a 300-character name', `${'a'.repeat(300)}.${BASE_DOMAIN}`],
    ];
    for (const [name, host] of hosts) cases.push([`Host with ${name}`, `GET /a/edge-02/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 400]);
    cases.push(['no Host at all (HTTP/1.1)', 'GET /a/edge-02/ HTTP/1.1\r\nConnection: close\r\n\r\n', 400]);
    cases.push(['no Host at all (HTTP/1.0)', 'GET /a/edge-02/ HTTP/1.0\r\n\r\n', 400]);
    await expectRefused(cases);
  });

  it('refuses /a/edge-01/../edge-02/ and its encoded variants with 400, and nothing reaches any agent', async () => {
    const targets = [
      '/a/edge-01/../edge-02/',
      '/a/edge-01/%2e%2e/edge-02/',
      '/a/edge-01/%2E%2E/edge-02/',
      '/a/edge-01/.%2e/edge-02/',
      '/a/edge-01/%2e./edge-02/',
      '/a/edge-01/..%2fedge-02/',
      '/a/edge-01/..%2Fedge-02/',
      '/a/edge-01/..%5cedge-02/',
      '/a/edge-01/..\\edge-02/',
      '/a/edge-01%2f..%2fedge-02/',
      '/a/edge-01%2F..%2Fedge-02/',
      '/a/edge-01%5c..%5cedge-02/',
      '/a/edge-01%2fedge-02/',
      '/a/edge-01\\..\\edge-02/',
      '/a/./edge-02/',
      '/a/edge-01/./../edge-02/',
      '/a/edge-01/..',
      '/a/edge-01/%2e%2e',
      '/a/%2e%2e/edge-02/',
      '/a/edge-01/x/../../edge-02/',
      '/a/EDGE-02/',
      '/a/edge-02.evil/',
      '/a/edge-02%00/',
      '/a/%65dge-02/',
    ];
    const cases: Array<readonly [string, string, number]> = targets.map((target) => [target, getRequest(target, fx.addresses.public), 400] as const);
    // Host routing wins, and a dot segment is refused whatever the Host names.
    cases.push(['Host edge-01 with /../a/edge-02/', getRequest('/../a/edge-02/', HOST_01), 400]);
    cases.push(['Host edge-01 with /%2e%2e/a/edge-02/', getRequest('/%2e%2e/a/edge-02/', HOST_01), 400]);
    // Absolute-form and authority-form targets are never routed, whatever they name.
    cases.push(['an absolute-form target naming edge-02', getRequest(`http://${HOST_02}/x`, HOST_01), 400]);
    cases.push(['an absolute-form target with path routing', getRequest(`http://${fx.addresses.public}/a/edge-02/x`, fx.addresses.public), 400]);
    cases.push(['an asterisk-form target', `OPTIONS * HTTP/1.1\r\nHost: ${HOST_02}\r\nConnection: close\r\n\r\n`, 400]);
    await expectRefused(cases);
  });

  it('refuses visitor WebSocket upgrades with traversal paths, invalid or doubled Hosts, or smuggled framing with 400, and nothing reaches any agent', async () => {
    const upgrade = (target: string, hostLines: string, extra = ''): string =>
      `GET ${target} HTTP/1.1\r\n${hostLines}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
    const pub = `Host: ${fx.addresses.public}\r\n`;
    await expectRefused([
      ['an upgrade to /a/edge-01/../edge-02/ws', upgrade('/a/edge-01/../edge-02/ws', pub), 400],
      ['an upgrade to /a/edge-01/%2e%2e/edge-02/ws', upgrade('/a/edge-01/%2e%2e/edge-02/ws', pub), 400],
      ['an upgrade to /a/edge-01%2f..%2fedge-02/ws', upgrade('/a/edge-01%2f..%2fedge-02/ws', pub), 400],
      ['an upgrade with an absolute-form target', upgrade(`http://${HOST_02}/ws`, `Host: ${HOST_01}\r\n`), 400],
      ['an upgrade with an invalid Host', upgrade('/ws', `Host: ${HOST_01}@${HOST_02}\r\n`), 400],
      ['an upgrade with two Host headers', upgrade('/ws', `Host: ${HOST_01}\r\nHost: ${HOST_02}\r\n`), 400],
      ['an upgrade with Content-Length and Transfer-Encoding', upgrade('/ws', `Host: ${HOST_01}\r\n`, 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n'), 400],
      ['an upgrade with obs-fold', upgrade('/ws', `Host: ${HOST_01}\r\n`, 'X-Folded: a\r\n b\r\n'), 400],
      ['an upgrade with a 65 KiB header', upgrade('/ws', `Host: ${HOST_01}\r\n`, `X-Big: ${'u'.repeat(65 * 1024)}\r\n`), 431],
    ]);
  });

  it('sends a routed request only to the agent it was routed to, whatever else the request names', async () => {
    const routed: Array<[string, string, 'edge-01' | 'edge-02', string]> = [
      // [what, request, agent expected, URL the agent sees]
      ['Host routing wins over an /a/ path', getRequest('/a/edge-02/x', HOST_01), 'edge-01', '/a/edge-02/x'],
      ['a double-encoded dot segment is data, not a segment', getRequest('/a/edge-01/%252e%252e/edge-02/', fx.addresses.public), 'edge-01', '/%252e%252e/edge-02/'],
      ['X-Forwarded-Host from an untrusted visitor is ignored', getRequest('/xfh', HOST_01, `X-Forwarded-Host: ${HOST_02}\r\n`), 'edge-01', '/xfh'],
      ['an uppercase Host routes by its lowercase name', getRequest('/upper', HOST_01.toUpperCase()), 'edge-01', '/upper'],
      ['a Host with a trailing dot', getRequest('/dot', `${HOST_01}.`), 'edge-01', '/dot'],
      ['a path parameter on a dot-dot segment stays on edge-01', getRequest('/a/edge-01/..;/edge-02/', fx.addresses.public), 'edge-01', '/..;/edge-02/'],
    ];
    for (const [what, request, agent, url] of routed) {
      badInputsTried += 1;
      edge01.requests.length = 0;
      edge02.requests.length = 0;
      const reply = await rawExchange(fx.addresses.public, request);
      assert.equal(reply.status, 200, `${what}: served`);
      const target = agent === 'edge-01' ? edge01 : edge02;
      const other = agent === 'edge-01' ? edge02 : edge01;
      assert.deepEqual(target.requests.map((r) => r.url), [url], `${what}: ${agent} received ${url}`);
      assert.ok(reply.text.includes(`${agent} ${url}`), `${what}: the answer came from ${agent}`);
      await flushWithSentinels();
      assert.deepEqual(other.requestsOtherThan().filter((r) => !r.url.startsWith('/sentinel-')).map((r) => r.url), [], `${what}: the other agent received nothing`);
    }
    edge01.requests.length = 0;
    edge02.requests.length = 0;
  });

  it('refuses a request with two Host headers with 400 (RFC 9112 section 3.2), and nothing reaches any agent', async () => {
    badInputsTried += 2;
    for (const [first, second] of [
      [HOST_01, HOST_02],
      [HOST_02, HOST_01],
    ] as const) {
      edge01.requests.length = 0;
      edge02.requests.length = 0;
      const reply = await rawExchange(fx.addresses.public, `GET /two-hosts HTTP/1.1\r\nHost: ${first}\r\nHost: ${second}\r\nConnection: close\r\n\r\n`);
      assert.equal(reply.status, 400, `Host ${first} then ${second}: refused with 400 (RFC 9112 section 3.2)`);
      await assertNothingReachedAgents(`Host ${first} then ${second}`);
    }
  });

  describe('credentials of one agent', () => {
    let bearer01: string;
    const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
    const jwtFor = (agent: string): Promise<string> =>
      new SignJWT({ agent }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(HS_SECRET));

    /** Both agents on an HS256 policy with the same secret; sentinels carry a JWT for their agent. */
    async function useJwtPolicies(): Promise<void> {
      for (const agent of ['edge-01', 'edge-02'] as const) {
        await fx.relay.accessPolicies.setPolicy(agent, { mode: 'jwt', algorithm: 'HS256', secret: HS_SECRET });
        sentinelHeaders[agent] = { authorization: `Bearer ${await jwtFor(agent)}` };
      }
    }

    /** Visits edge-02 by Host and by path with `headers`; both must be refused with `status`, and nothing may reach edge-02. */
    async function expectEdge02Refuses(what: string, headers: Record<string, string>, status: number, query = ''): Promise<void> {
      edge02.requests.length = 0;
      for (const [how, path, options] of [
        ['by Host', `/secret${query}`, { agent: 'edge-02' }],
        ['by path', `/a/edge-02/secret${query}`, {}],
      ] as const) {
        badInputsTried += 1;
        const r = await visit(fx.addresses, path, { ...options, headers });
        assert.equal(r.status, status, `${what} ${how}: edge-02 refuses with ${status}`);
      }
      const traversal = await rawExchange(fx.addresses.public, getRequest('/a/edge-01/../edge-02/secret', fx.addresses.public, Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')));
      badInputsTried += 1;
      assert.equal(traversal.status, 400, `${what} through /a/edge-01/../edge-02/: 400`);
      await flushWithSentinels();
      assert.deepEqual(edge02.requests.filter((r) => !r.url.startsWith('/sentinel-')).map((r) => r.url), [], `${what}: nothing reached edge-02`);
    }

    it('a basic user of edge-01 (same user name, other password on edge-02) never opens edge-02', async () => {
      for (const agent of ['edge-01', 'edge-02']) await fx.relay.accessPolicies.setPolicy(agent, { mode: 'basic' });
      await fx.relay.accessPolicies.addBasicUser('edge-01', 'alice', 'password-of-edge-01');
      await fx.relay.accessPolicies.addBasicUser('edge-02', 'alice', 'password-of-edge-02');
      sentinelHeaders['edge-01'] = { authorization: basic('alice', 'password-of-edge-01') };
      sentinelHeaders['edge-02'] = { authorization: basic('alice', 'password-of-edge-02') };
      const ok = await visit(fx.addresses, '/mine', { agent: 'edge-01', headers: { authorization: basic('alice', 'password-of-edge-01') } });
      assert.equal(ok.status, 200, 'the user opens edge-01');
      await expectEdge02Refuses('alice:password-of-edge-01', { authorization: basic('alice', 'password-of-edge-01') }, 401);
    });

    it('a visitor bearer token of edge-01 never opens edge-02', async () => {
      for (const agent of ['edge-01', 'edge-02']) await fx.relay.accessPolicies.setPolicy(agent, { mode: 'bearer' });
      bearer01 = (await fx.relay.accessPolicies.addVisitorToken('edge-01')).token.reveal();
      sentinelHeaders['edge-01'] = { authorization: `Bearer ${bearer01}` };
      sentinelHeaders['edge-02'] = { authorization: `Bearer ${(await fx.relay.accessPolicies.addVisitorToken('edge-02')).token.reveal()}` };
      const ok = await visit(fx.addresses, '/mine', { agent: 'edge-01', headers: { authorization: `Bearer ${bearer01}` } });
      assert.equal(ok.status, 200, 'the token opens edge-01');
      await expectEdge02Refuses('the edge-01 visitor token', { authorization: `Bearer ${bearer01}` }, 401);
      await expectEdge02Refuses('the edge-01 visitor token in ?access_token=', {}, 401, `?access_token=${encodeURIComponent(bearer01)}`);
    });

    it('a JWT with agent claim edge-01, signed with a secret both agents share, never opens edge-02', async () => {
      await useJwtPolicies();
      const jwt = await jwtFor('edge-01');
      const ok = await visit(fx.addresses, '/mine', { agent: 'edge-01', headers: { authorization: `Bearer ${jwt}` } });
      assert.equal(ok.status, 200, 'the JWT opens edge-01');
      await expectEdge02Refuses('the edge-01 JWT', { authorization: `Bearer ${jwt}` }, 403);
      await expectEdge02Refuses('the edge-01 JWT in ?access_token=', {}, 403, `?access_token=${jwt}`);
      const noClaim = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(HS_SECRET));
      await expectEdge02Refuses('a JWT without an agent claim', { authorization: `Bearer ${noClaim}` }, 403);
      const listClaim = await new SignJWT({ agent: ['edge-01', 'edge-02'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(HS_SECRET));
      await expectEdge02Refuses('a JWT whose agent claim is a list', { authorization: `Bearer ${listClaim}` }, 403);
    });

    it('the access cookie of edge-01 never opens edge-02, under its own name or renamed', async () => {
      await useJwtPolicies();
      const first = await visit(fx.addresses, `/mine?access_token=${await jwtFor('edge-01')}`, { agent: 'edge-01' });
      assert.equal(first.status, 303, 'the JWT link is turned into a cookie');
      const cookie = String(first.headers['set-cookie']).split(';')[0] as string;
      assert.match(cookie, /^vt_access_edge-01=/, 'the cookie is named after edge-01');
      const ok = await visit(fx.addresses, '/mine', { agent: 'edge-01', headers: { cookie } });
      assert.equal(ok.status, 200, 'the cookie opens edge-01');
      await expectEdge02Refuses('the edge-01 cookie', { cookie }, 401);
      const renamed = cookie.replace(/^vt_access_edge-01=/, 'vt_access_edge-02=');
      await expectEdge02Refuses('the edge-01 cookie renamed for edge-02', { cookie: renamed }, 403);
    });
  });
});
