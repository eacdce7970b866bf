/**
 * The relay's access log: one 'visitor request' line per request through
 * the injected logger, with agent, method, path, status, duration, bytes
 * and tunnel error code, and never a token or credential, even when the
 * visitor put one in the URL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { createCliLogger } from '../../src/cli/log-sink.js';
import { ACCESS_LOG_MESSAGE } from '../../src/relay/index.js';
import type { LogRecord } from '../../src/shared/logger.js';
import { connectAgent, createAgentToken, startOrigin, startRelay, visit, waitFor } from './relay-fixtures.js';

const AGENT = 'edge-log';
const JWT_SECRET = 'a-jwt-secret-of-at-least-thirty-two-bytes!';

function accessLines(logs: LogRecord[]): LogRecord[] {
  return logs.filter((r) => r.msg === ACCESS_LOG_MESSAGE);
}

describe('Relay access log', () => {
  it('logs one line per request with agent, method, path, status, duration and bytes', async (t) => {
    const fx = await startRelay(t);
    const origin = await startOrigin(t);
    await connectAgent(t, fx, AGENT, origin.addr);
    const res = await visit(fx.addresses, '/echo?x=1', { agent: AGENT, method: 'POST', body: 'hello' });
    assert.equal(res.status, 200, 'echo answered');
    await waitFor(() => accessLines(fx.logs).length === 1, 'the access log line');
    const { level, fields } = accessLines(fx.logs)[0] as LogRecord;
    assert.equal(level, 'info', 'logged at info');
    assert.equal(fields['agent'], AGENT, 'agent');
    assert.equal(fields['method'], 'POST', 'method');
    assert.equal(fields['path'], '/echo?x=1', 'path with its harmless query');
    assert.equal(fields['status'], 200, 'status');
    assert.equal(fields['outcome'], 'completed', 'outcome');
    assert.equal(fields['remote'], '127.0.0.1', 'visitor address');
    assert.equal(typeof fields['durationMs'], 'number', 'duration');
    assert.equal(typeof fields['responseHeadersMs'], 'number', 'time to response headers');
    assert.equal(fields['bytesIn'], 5, 'bytes sent to the agent');
    assert.equal(fields['bytesOut'], 5, 'bytes received from the agent');
    assert.equal(fields['code'], undefined, "no tunnel code on the agent's own response");
  });

  it('logs the tunnel error code of refusals, with the agent only when it is known', async (t) => {
    const fx = await startRelay(t);
    await fx.relay.tokens.ensureAgent(AGENT);
    assert.equal((await visit(fx.addresses, '/', { agent: AGENT })).status, 401, 'private agent');
    assert.equal((await visit(fx.addresses, '/', { agent: 'not-an-agent' })).status, 404, 'unknown agent');
    await waitFor(() => accessLines(fx.logs).length === 2, 'two access log lines');
    const [denied, unknown] = accessLines(fx.logs).map((r) => r.fields);
    assert.equal(denied?.['agent'], AGENT, 'the known agent is logged');
    assert.equal(denied?.['code'], 'ERR_ACCESS_DENIED', 'refusal code');
    assert.equal(denied?.['outcome'], 'refused', 'refused outcome');
    assert.equal(unknown?.['agent'], undefined, 'an unknown name is not logged as an agent');
    assert.equal(unknown?.['code'], 'ERR_RELAY_TUNNEL_NOT_FOUND', 'not-found code');
  });

  it('never logs ?token=, ?access_token=, Authorization or the agent token', async (t) => {
    const fx = await startRelay(t, { allowPathRouting: true });
    const origin = await startOrigin(t);
    const agentToken = await createAgentToken(fx.relay, AGENT, { mode: 'jwt', algorithm: 'HS256', secret: JWT_SECRET });
    await connectAgent(t, fx, AGENT, origin.addr, agentToken);
    const jwt = await new SignJWT({ agent: AGENT })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JWT_SECRET));
    const queryToken = 'query-token-value-that-must-not-leak';
    const badAccessToken = 'bad-access-token-that-must-not-leak';

    const viaQuery = await visit(fx.addresses, `/hello?token=${queryToken}&keep=1`, { agent: AGENT, headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(viaQuery.status, 200, 'bearer JWT accepted');
    const redirected = await visit(fx.addresses, `/a/${AGENT}/hello?access_token=${jwt}`);
    assert.equal(redirected.status, 303, 'query JWT turned into a cookie and a redirect');
    const refused = await visit(fx.addresses, `/hello?access_token=${badAccessToken}`, { agent: AGENT });
    assert.equal(refused.status, 401, 'bad query token refused');
    await waitFor(() => accessLines(fx.logs).length === 3, 'three access log lines');

    const paths = accessLines(fx.logs).map((r) => r.fields['path']);
    assert.deepEqual(
      paths,
      ['/hello?token=[redacted]&keep=1', `/a/${AGENT}/hello?access_token=[redacted]`, '/hello?access_token=[redacted]'],
      'query secrets replaced in the logged paths',
    );
    const everything = JSON.stringify(fx.logs);
    for (const [what, secret] of [
      ['query token', queryToken],
      ['JWT', jwt],
      ['bad access token', badAccessToken],
      ['agent token', agentToken],
      ['JWT secret', JWT_SECRET],
    ] as const) {
      assert.ok(!everything.includes(secret), `the ${what} appears in no log line`);
    }
  });

  it('comes out of the CLI logger as JSON lines', async (t) => {
    const lines: string[] = [];
    const logger = createCliLogger({ format: 'json', write: (line) => lines.push(line) });
    const fx = await startRelay(t, { logger });
    await fx.relay.tokens.ensureAgent(AGENT);
    await visit(fx.addresses, '/?access_token=cli-secret-value', { agent: AGENT });
    await waitFor(() => lines.some((l) => l.includes(ACCESS_LOG_MESSAGE)), 'the access log line');
    const line = lines.find((l) => l.includes(ACCESS_LOG_MESSAGE)) as string;
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(parsed['msg'], ACCESS_LOG_MESSAGE, 'a JSON object with msg');
    assert.equal(parsed['status'], 401, 'and the status');
    assert.equal(parsed['path'], '/?access_token=[redacted]', 'and the redacted path');
    assert.ok(!lines.join('\n').includes('cli-secret-value'), 'the secret is on no line');
  });
});
