/**
 * The agent's `Forwarding <public URL> -> <local>` line, through the real
 * executables: from the URL our relay announces on the 101
 * (`X-Tunnel-Public-Url`, derived from --domain and the public port, or
 * --agent-public-url), from --visitor-url, and not at all with the Go relay,
 * which announces none.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { agentPublicUrlOf, resolveRelayConfig } from '../../src/relay/relay-config.js';
import { ConfigError } from '../../src/shared/errors.js';
import { listenOnLoopback } from '../helpers/loopback.js';
import { interopSkip } from '../helpers/interop-skip.js';
import { startRef } from '../helpers/ref-process.js';
import { cliEnv, httpGet, runCli, startCli, tempDir, type Scope } from './cli-fixtures.js';

interface RelayInfo {
  agentUrl: string;
  public: string;
  publicUrl: string;
}

/** A local service answering `hello from local` on every path. */
async function startLocal(t: Scope): Promise<string> {
  const server = http.createServer((_req, res) => res.end('hello from local'));
  return `127.0.0.1:${await listenOnLoopback(t, server)}`;
}

/** Our relay, a token for `edge-01` and its access set public. */
async function startOurRelay(t: Scope, extraArgs: string[] = []): Promise<RelayInfo & { token: string }> {
  const db = join(tempDir(t), 'relay.db');
  const created = await runCli(['token', 'create', 'edge-01', '--db', db]);
  assert.equal(created.code, 0, 'token create exits 0');
  assert.equal((await runCli(['access', 'set', 'edge-01', 'public', '--db', db])).code, 0, 'access set exits 0');
  const relay = startCli(t, ['relay', '--agent-listen', '127.0.0.1:0', '--domain', 'localhost', '--db', db, ...extraArgs]);
  const info = JSON.parse(await relay.waitForStdout(() => true, 'the relay listening line')) as RelayInfo;
  return { ...info, token: created.stdout.trim() };
}

describe('visiona-tunnel agent: the Forwarding line', () => {
  it('prints the URL our relay announces, and that URL reaches the local service', async (t) => {
    const local = await startLocal(t);
    const relay = await startOurRelay(t);
    const agent = startCli(t, ['agent', '--relay', relay.agentUrl, '--local', local], { env: cliEnv({ VISIONA_TUNNEL_TOKEN: relay.token }) });
    const port = relay.public.split(':')[1];
    const expected = `Forwarding http://edge-01.localhost:${port}/ -> ${local}`;
    const line = await agent.waitForStdout((l) => l.startsWith('Forwarding '), 'the Forwarding line');
    assert.equal(line, expected, 'the subdomain URL of the relay\'s domain and public port');
    const logged = await agent.waitForLog((r) => r.msg === 'forwarding', 'the forwarding log line');
    assert.equal(logged.publicUrl, `http://edge-01.localhost:${port}/`, 'the JSON log has it too');
    // *.localhost is loopback: ask the relay with that Host, as a browser would.
    const res = await httpGet(`${relay.publicUrl}/`, { headers: { host: `edge-01.localhost:${port}` } });
    assert.equal(res.body, 'hello from local', 'the announced host reaches the local service');
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, 'exit 0 on SIGTERM');
    assert.deepEqual(agent.stdoutLines, [expected], 'one line on stdout, once');
  });

  it('prints the relay\'s --agent-public-url, and --visitor-url wins over it', async (t) => {
    const local = await startLocal(t);
    const relay = await startOurRelay(t, ['--agent-public-url', 'https://{agent}.tunnel.example.com/']);
    const env = cliEnv({ VISIONA_TUNNEL_TOKEN: relay.token });
    const agent = startCli(t, ['agent', '--relay', relay.agentUrl, '--local', local], { env });
    assert.equal(await agent.waitForStdout((l) => l.startsWith('Forwarding '), 'the Forwarding line'), `Forwarding https://edge-01.tunnel.example.com/ -> ${local}`, 'the template with the agent name');
    await agent.stop();
    const own = startCli(t, ['agent', '--relay', relay.agentUrl, '--local', local, '--visitor-url', 'https://device.example.org/'], { env });
    assert.equal(await own.waitForStdout((l) => l.startsWith('Forwarding '), 'the Forwarding line'), `Forwarding https://device.example.org/ -> ${local}`, '--visitor-url wins');
  });

  it('prints no Forwarding line with the Go relay, unless --visitor-url', { skip: interopSkip('ref-relay') }, async (t) => {
    const local = await startLocal(t);
    const goRelay = startRef(t, 'ref-relay', ['-listen', '127.0.0.1:0', '-public', '127.0.0.1:0', '-token', 'go-relay-token']);
    const listening = await goRelay.waitForEvent('listening', () => true, { what: 'ref-relay listening' });
    const relayUrl = String(listening['url']);
    const env = cliEnv({ VISIONA_TUNNEL_TOKEN: 'go-relay-token' });
    const agent = startCli(t, ['agent', '--relay', relayUrl, '--local', local], { env });
    await agent.waitForLog((r) => r.msg === 'tunnel state' && r.state === 'online', 'online through the Go relay');
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, 'exit 0 on SIGTERM');
    assert.deepEqual(agent.stdoutLines, [], 'no Forwarding line: the Go relay announces no URL');
    assert.ok(!agent.stderrLines.some((l) => l.includes('"forwarding"')), 'no forwarding log line either');
    const withUrl = startCli(t, ['agent', '--relay', relayUrl, '--local', local, '--visitor-url', `http://${String(listening['public'])}/`], { env });
    assert.equal(
      await withUrl.waitForStdout((l) => l.startsWith('Forwarding '), 'the Forwarding line'),
      `Forwarding http://${String(listening['public'])}/ -> ${local}`,
      'the --visitor-url line',
    );
  });
});

describe('agentPublicUrlOf', () => {
  const base = { agentPublicUrl: null, baseDomain: 'tunnel.example.com', trustProxy: [] as string[], tls: null };

  it('derives the URL from the domain and the public port, without the default port', () => {
    assert.equal(agentPublicUrlOf('edge-01', base, 8080), 'http://edge-01.tunnel.example.com:8080/', 'a port');
    assert.equal(agentPublicUrlOf('edge-01', base, 80), 'http://edge-01.tunnel.example.com/', 'port 80 is left out');
    assert.equal(agentPublicUrlOf('edge-01', { ...base, tls: { cert: 'c', key: 'k' } }, 443), 'https://edge-01.tunnel.example.com/', 'TLS on 443');
  });

  it('sends nothing behind trusted proxies unless told, and fills in a template', () => {
    assert.equal(agentPublicUrlOf('edge-01', { ...base, trustProxy: ['127.0.0.1'] }, 8080), undefined, 'the listener port is not the visitors\'');
    assert.equal(agentPublicUrlOf('edge-01', { ...base, trustProxy: ['127.0.0.1'], agentPublicUrl: 'https://x.example/a/{agent}/' }, 8080), 'https://x.example/a/edge-01/', 'the template');
  });

  it('refuses a template without {agent} or that is not an http(s) URL, naming the field', () => {
    const options = { agentListen: '127.0.0.1:0', baseDomain: 'localhost', dbPath: ':memory:' };
    for (const bad of ['https://tunnel.example.com/', 'ftp://{agent}.example.com/', '{agent}']) {
      assert.throws(
        () => resolveRelayConfig({ ...options, agentPublicUrl: bad }),
        (err: unknown) => err instanceof ConfigError && err.code === 'ERR_CONFIG_INVALID' && err.message.includes('agentPublicUrl'),
        `${bad} is refused`,
      );
    }
    assert.equal(resolveRelayConfig({ ...options, agentPublicUrl: 'https://{agent}.example.com/' }).agentPublicUrl, 'https://{agent}.example.com/', 'a good one is kept');
  });
});
