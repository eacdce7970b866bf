/**
 * End to end through the command line, as a user types it: every step is a
 * `node bin/visiona-tunnel.js ...` child process on 127.0.0.1.
 *
 * 1. token create prints the token alone; 2. relay --config prints a JSON
 * listening line; 3. access set ... public; 4. agent with VISIONA_TUNNEL_TOKEN
 * comes online; 5. a visitor request and a WebSocket go through; 6. token
 * revoke disconnects the agent, and after the offline grace visitors get 502;
 * 7. demo prints a URL that serves its page.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { cliEnv, httpGet, runCli, startCli, tempDir, type Scope } from './cli-fixtures.js';

/** The device's local service: a page, its request echoed as JSON, and a WebSocket echo at /ws. */
async function startLocalService(t: Scope): Promise<string> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, host: req.headers.host }));
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Sends `text` over a WebSocket at `url` and resolves with the echo. */
async function webSocketEcho(url: string, text: string): Promise<string> {
  const ws = new WebSocket(url);
  try {
    await once(ws, 'open');
    ws.send(text);
    const [data] = (await once(ws, 'message')) as [Buffer];
    return data.toString('utf8');
  } finally {
    ws.close();
  }
}

describe('visiona-tunnel end to end through the CLI', () => {
  it('creates a token, runs relay and agent, serves a visitor and a WebSocket, and cuts the agent off on revoke', async (t) => {
    const dir = tempDir(t);
    const local = await startLocalService(t);

    // 1. token create: the token alone on stdout.
    const created = await runCli(['token', 'create', 'edge-01', '--db', join(dir, 'relay.db')]);
    assert.equal(created.code, 0, 'token create exits 0');
    assert.match(created.stdout, /^[A-Za-z0-9_-]{32,}\n$/, 'stdout is the token alone on one line');
    const token = created.stdout.trim();

    // 2. relay from a config file (small offline grace), db relative to it.
    const config = join(dir, 'relay.yaml');
    writeFileSync(config, ['agentListen: 127.0.0.1:0', 'domain: localhost', 'db: relay.db', 'limits:', '  offlineGraceMs: 300', '  revocationPollIntervalMs: 50', ''].join('\n'));
    const relay = startCli(t, ['relay', '--config', config]);
    const first = await relay.waitForStdout(() => true, 'the first stdout line of the relay');
    const listening = JSON.parse(first) as { event: string; agent: string; public: string; agentUrl: string; publicUrl: string };
    assert.equal(listening.event, 'listening', 'the first stdout line is the listening event');
    assert.match(listening.agent, /^127\.0\.0\.1:\d+$/, 'it carries the agent listener address');
    assert.equal(listening.agentUrl, `ws://${listening.agent}/tunnel/connect`, 'it carries the URL agents dial');

    // 3. access set: the agent is public.
    const access = await runCli(['access', 'set', 'edge-01', 'public', '--db', join(dir, 'relay.db')]);
    assert.equal(access.code, 0, 'access set exits 0');

    // 4. the agent, token from the environment.
    const agent = startCli(t, ['agent', '--relay', listening.agentUrl, '--local', local], { env: cliEnv({ VISIONA_TUNNEL_TOKEN: token }) });
    await agent.waitForLog((r) => r.msg === 'tunnel state' && r.state === 'online', 'the agent online');
    assert.ok(!agent.stderrLines.some((l) => l.includes(token)), 'the token never appears in the agent log');

    // 5. a visitor request and a WebSocket through the relay.
    const res = await httpGet(`${listening.publicUrl}/a/edge-01/hello?q=1`);
    assert.equal(res.status, 200, 'the visitor request succeeds');
    assert.equal((JSON.parse(res.body) as { url: string }).url, '/hello?q=1', 'the local service gets the path and query');
    const byHost = await httpGet(`${listening.publicUrl}/by-host`, { headers: { host: `edge-01.localhost:${listening.public.split(':')[1]}` } });
    assert.equal(byHost.status, 200, 'host routing reaches the same agent');
    const echo = await webSocketEcho(`ws://${listening.public}/a/edge-01/ws`, 'hello through the tunnel');
    assert.equal(echo, 'hello through the tunnel', 'the WebSocket echo comes back through the relay');

    // 6. token revoke disconnects the agent; visitors get 502 after the offline grace.
    const revoked = await runCli(['token', 'revoke', 'edge-01', '--db', join(dir, 'relay.db')]);
    assert.equal(revoked.code, 0, 'token revoke exits 0');
    assert.match(revoked.stdout, /revoked 1 token/, 'one token was revoked');
    await agent.waitForLog((r) => r.msg === 'tunnel state' && r.lastError === 'ERR_AGENT_AUTH_REJECTED', 'the agent refused on its redial');
    const offline = await httpGet(`${listening.publicUrl}/a/edge-01/hello`, { headers: { accept: 'application/json' } });
    assert.equal(offline.status, 502, 'the visitor gets 502 once the offline grace has passed');
    assert.equal(offline.headers['x-tunnel-error'], 'ERR_RELAY_AGENT_OFFLINE', 'the error code says the agent is offline');

    assert.equal((await agent.stop('SIGTERM')).code, 0, 'the agent exits 0 on SIGTERM');
    assert.equal((await relay.stop('SIGTERM')).code, 0, 'the relay exits 0 on SIGTERM');
    assert.ok(!relay.stderrLines.some((l) => l.includes(token)), 'the token never appears in the relay log');
  });

  it('runs the demo, whose printed visitor URL serves the page', async (t) => {
    const demo = startCli(t, ['demo']);
    const line = await demo.waitForStdout((l) => /visitor URL\s+http:\/\//.test(l), 'the visitor URL');
    const url = /(http:\/\/\S+)/.exec(line)?.[1] as string;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/a\/demo\/$/, 'the URL is on loopback under /a/demo/');
    const page = await httpGet(url);
    assert.equal(page.status, 200, 'the page is served');
    assert.match(page.body, /<title>visionA device \(via visiona-tunnel\)<\/title>/, 'it is the demo page');
    const api = await httpGet(new URL('api/info', url).href);
    assert.equal((JSON.parse(api.body) as { device: string }).device, 'demo', 'the demo API answers through the tunnel');
    assert.equal((await demo.stop('SIGINT')).code, 0, 'Ctrl-C stops the demo with exit code 0');
  });
});
