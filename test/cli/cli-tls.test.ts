/**
 * TLS through the CLI: the relay terminates TLS with --tls-cert/--tls-key, the
 * agent dials wss:// trusting --ca-file, a visitor uses https. Certificates
 * are made with openssl at test time. Also --trust-proxy.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hasOpenssl, httpGet, makeTestCertificates, runMain, tempDir, waitFor, type InProcessRun, type Scope } from './cli-fixtures.js';

/** A local service that answers with the headers it received, as JSON. */
async function startEchoHeaders(t: Scope): Promise<{ address: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, headers: req.headers }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** Runs `token create` and `access set ... public` in-process; returns the token. */
async function publicAgentToken(t: Scope, db: string, agent: string): Promise<string> {
  const create = runMain(t, ['token', 'create', agent, '--db', db]);
  assert.equal(await create.exit, 0, 'token create exits 0');
  const access = runMain(t, ['access', 'set', agent, 'public', '--db', db]);
  assert.equal(await access.exit, 0, 'access set exits 0');
  return create.stdout.join('').trim();
}

/** Waits for the relay's `listening` line and returns it. */
async function listening(run: InProcessRun): Promise<{ agentUrl: string; publicUrl: string }> {
  await waitFor(() => run.stdout.join('').includes('\n'), 'the relay listening line');
  return JSON.parse(run.stdout.join('').split('\n')[0] as string) as { agentUrl: string; publicUrl: string };
}

/** The JSON log lines of an in-process run. */
function logLines(run: InProcessRun): Array<Record<string, unknown>> {
  return run.stderr
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('TLS and trusted proxies through the CLI', { skip: hasOpenssl() ? false : 'openssl is not installed' }, () => {
  it('serves agents over wss:// and visitors over https:// with a certificate the agent trusts through --ca-file', async (t) => {
    const dir = tempDir(t);
    const certs = makeTestCertificates(dir);
    const db = join(dir, 'relay.db');
    const token = await publicAgentToken(t, db, 'edge-tls');
    const origin = await startEchoHeaders(t);
    const relay = runMain(t, ['relay', '--agent-listen', '127.0.0.1:0', '--domain', 'localhost', '--db', db, '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey]);
    const addresses = await listening(relay);
    assert.match(addresses.agentUrl, /^wss:\/\/127\.0\.0\.1:\d+\/tunnel\/connect$/, 'the relay announces a wss:// agent URL');
    assert.match(addresses.publicUrl, /^https:\/\//, 'the relay announces an https:// public URL');

    const agent = runMain(t, ['agent', '--relay', addresses.agentUrl, '--local', origin.address, '--ca-file', certs.caCert], { VISIONA_TUNNEL_TOKEN: token });
    await waitFor(() => logLines(agent).some((r) => r.msg === 'tunnel state' && r.state === 'online'), 'the agent online over wss');

    const ca = readFileSync(certs.caCert);
    const res = await httpGet(`${addresses.publicUrl}/a/edge-tls/hello?x=1`, { ca });
    assert.equal(res.status, 200, 'the visitor request over https succeeds');
    const body = JSON.parse(res.body) as { path: string; headers: IncomingHttpHeaders };
    assert.equal(body.path, '/hello?x=1', 'the local service gets the path without the /a/edge-tls prefix');
    assert.equal(body.headers['x-forwarded-proto'], 'https', 'the local service learns the visitor used https');
    await assert.rejects(httpGet(`${addresses.publicUrl}/a/edge-tls/`), /self.signed|unable to verify|certificate/i, 'a visitor without the CA refuses the certificate');
  });

  it('fails the wss:// dial without the CA, and reports why', async (t) => {
    const dir = tempDir(t);
    const certs = makeTestCertificates(dir);
    const db = join(dir, 'relay.db');
    const token = await publicAgentToken(t, db, 'edge-noca');
    const origin = await startEchoHeaders(t);
    const relay = runMain(t, ['relay', '--agent-listen', '127.0.0.1:0', '--domain', 'localhost', '--db', db, '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey]);
    const addresses = await listening(relay);
    const agent = runMain(t, ['agent', '--relay', addresses.agentUrl, '--local', origin.address], { VISIONA_TUNNEL_TOKEN: token });
    const failedDial = (r: Record<string, unknown>) => r.msg === 'tunnel state' && r.lastError !== undefined;
    await waitFor(() => logLines(agent).some(failedDial), 'the agent reporting a failed dial');
    const failed = logLines(agent).find(failedDial) as Record<string, unknown>;
    assert.equal(failed.lastError, 'ERR_TRANSPORT_DIAL_FAILED', 'the dial failure is reported with its code');
    assert.match(String(failed.lastErrorMessage), /certificate/i, 'the reason names the certificate');
    assert.ok(!logLines(agent).some((r) => r.state === 'online'), 'the agent never came online');
  });

  it('believes X-Forwarded-* only from --trust-proxy addresses', async (t) => {
    const dir = tempDir(t);
    const db = join(dir, 'relay.db');
    const token = await publicAgentToken(t, db, 'edge-proxy');
    const origin = await startEchoHeaders(t);
    const spoof = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' };

    const untrusting = runMain(t, ['relay', '--agent-listen', '127.0.0.1:0', '--domain', 'localhost', '--db', db, '--trust-proxy', '192.0.2.1']);
    const a1 = await listening(untrusting);
    const agent1 = runMain(t, ['agent', '--relay', a1.agentUrl, '--local', origin.address], { VISIONA_TUNNEL_TOKEN: token });
    await waitFor(() => logLines(agent1).some((r) => r.msg === 'tunnel state' && r.state === 'online'), 'agent online on the untrusting relay');
    const r1 = JSON.parse((await httpGet(`${a1.publicUrl}/a/edge-proxy/`, { headers: spoof })).body) as { headers: IncomingHttpHeaders };
    assert.equal(r1.headers['x-forwarded-for'], '127.0.0.1', 'an untrusted peer cannot claim another address');
    assert.equal(r1.headers['x-forwarded-proto'], 'http', 'an untrusted peer cannot claim https');
    agent1.abort();
    untrusting.abort();
    assert.equal(await agent1.exit, 0, 'the first agent stops with exit code 0');
    assert.equal(await untrusting.exit, 0, 'the first relay stops with exit code 0');

    const trusting = runMain(t, ['relay', '--agent-listen', '127.0.0.1:0', '--domain', 'localhost', '--db', db, '--trust-proxy', '127.0.0.1,::1']);
    const a2 = await listening(trusting);
    const agent2 = runMain(t, ['agent', '--relay', a2.agentUrl, '--local', origin.address], { VISIONA_TUNNEL_TOKEN: token });
    await waitFor(() => logLines(agent2).some((r) => r.msg === 'tunnel state' && r.state === 'online'), 'agent online on the trusting relay');
    const r2 = JSON.parse((await httpGet(`${a2.publicUrl}/a/edge-proxy/`, { headers: spoof })).body) as { headers: IncomingHttpHeaders };
    assert.equal(r2.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'a trusted proxy\'s client address is kept');
    assert.equal(r2.headers['x-forwarded-proto'], 'https', 'a trusted proxy\'s scheme is kept');
  });
});
