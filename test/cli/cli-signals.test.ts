/**
 * SIGINT/SIGTERM stop `visiona-tunnel relay` and `agent` processes gracefully
 * with exit code 0: requests in flight finish, a spawned service is stopped.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProcessAlive } from '../../src/cli/spawn/process-group.js';
import { cliEnv, httpGet, runCli, startCli, tempDir, waitFor, type CliProcess, type Scope } from './cli-fixtures.js';

const RELAY_ARGS = (db: string) => ['relay', '--agent-listen', '127.0.0.1:0', '--domain', 'localhost', '--db', db];

async function relayListening(relay: CliProcess): Promise<{ agentUrl: string; publicUrl: string }> {
  const line = await relay.waitForStdout((l) => l.startsWith('{'), 'the listening line');
  return JSON.parse(line) as { agentUrl: string; publicUrl: string };
}

async function publicToken(db: string, agent: string): Promise<string> {
  const created = await runCli(['token', 'create', agent, '--db', db]);
  assert.equal(created.code, 0, 'token create exits 0');
  assert.equal((await runCli(['access', 'set', agent, 'public', '--db', db])).code, 0, 'access set exits 0');
  return created.stdout.trim();
}

/** A local service whose responses wait until `release()`. */
async function startHeldService(t: Scope): Promise<{ address: string; held: ServerResponse[]; release: () => void }> {
  const held: ServerResponse[] = [];
  const server = createServer((_req, res) => held.push(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    release: () => {
      for (const res of held.splice(0)) res.end('finished');
    },
  };
}

describe('signals', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops the relay on ${signal} with exit code 0`, async (t) => {
      const relay = startCli(t, RELAY_ARGS(join(tempDir(t), 'relay.db')));
      await relayListening(relay);
      const exit = await relay.stop(signal);
      assert.equal(exit.code, 0, `the relay exits 0 on ${signal}`);
      assert.ok(relay.stderrLines.some((l) => l.includes('"relay stopped"')), 'the relay logs that it stopped');
    });
  }

  it('lets a request in flight finish when the relay gets SIGTERM', async (t) => {
    const dir = tempDir(t);
    const db = join(dir, 'relay.db');
    const token = await publicToken(db, 'edge-drain');
    const service = await startHeldService(t);
    const relay = startCli(t, RELAY_ARGS(db));
    const { agentUrl, publicUrl } = await relayListening(relay);
    const agent = startCli(t, ['agent', '--relay', agentUrl, '--local', service.address], { env: cliEnv({ VISIONA_TUNNEL_TOKEN: token }) });
    await agent.waitForLog((r) => r.msg === 'tunnel state' && r.state === 'online', 'the agent online');

    const visit = httpGet(`${publicUrl}/a/edge-drain/slow`);
    await waitFor(() => service.held.length > 0, 'the request held by the local service');
    relay.child.kill('SIGTERM');
    await relay.waitForLog((r) => r.msg === 'relay closing', 'the relay draining');
    service.release();
    const res = await visit;
    assert.equal(res.status, 200, 'the request in flight completes during the drain');
    assert.equal(res.body, 'finished', 'its body arrives whole');
    assert.equal((await relay.exited).code, 0, 'the relay then exits 0');
    assert.equal((await agent.stop('SIGTERM')).code, 0, 'the agent exits 0 on SIGTERM');
  });

  it('stops the agent and its spawned service on SIGTERM with exit code 0', async (t) => {
    const dir = tempDir(t);
    const db = join(dir, 'relay.db');
    const token = await publicToken(db, 'edge-spawn');
    const relay = startCli(t, RELAY_ARGS(db));
    const { agentUrl, publicUrl } = await relayListening(relay);
    const server = `${JSON.stringify(process.execPath)} -e "require('http').createServer((q,s)=>s.end('spawned '+process.pid)).listen(process.env.PORT,'127.0.0.1')"`;
    const agent = startCli(t, ['agent', '--relay', agentUrl, '--spawn', server], { env: cliEnv({ VISIONA_TUNNEL_TOKEN: token }) });
    const ready = await agent.waitForLog((r) => r.msg === 'local service ready', 'the spawned service ready');
    assert.match(String(ready.address), /^127\.0\.0\.1:\d+$/, 'the service runs on a loopback port');
    await agent.waitForLog((r) => r.msg === 'tunnel state' && r.state === 'online', 'the agent online');
    const res = await httpGet(`${publicUrl}/a/edge-spawn/`);
    assert.equal(res.status, 200, 'a visitor reaches the spawned service');
    const servicePid = Number(/^spawned (\d+)$/.exec(res.body)?.[1]);
    assert.ok(servicePid > 0, 'the spawned service answered with its pid');

    assert.equal((await agent.stop('SIGTERM')).code, 0, 'the agent exits 0 on SIGTERM');
    assert.ok(agent.stderrLines.some((l) => l.includes('"local service stopped"')), 'the agent logs that the service stopped');
    assert.equal(isProcessAlive(servicePid), false, 'the spawned service is gone');
    assert.equal((await relay.stop('SIGTERM')).code, 0, 'the relay exits 0');
  });
});
