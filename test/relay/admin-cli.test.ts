/**
 * `visiona-tunnel relay` with an admin listener: the admin token comes from
 * --admin-token-file or VISIONA_TUNNEL_ADMIN_TOKEN, --admin-metrics-public
 * opens /metrics alone. Run in-process through `main()`, on 127.0.0.1:0.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RelayAddresses } from '../../src/relay/index.js';
import { runMain, tempDir, waitFor, type InProcessRun } from '../cli/cli-fixtures.js';
import { admin } from './admin-fixtures.js';

const TOKEN = 'cli-admin-token-0123456789abcdef';

function relayArgs(dir: string, ...extra: string[]): string[] {
  return ['relay', '--agent-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--domain', 'tunnel.test', '--db', join(dir, 'relay.db'), ...extra];
}

async function listening(run: InProcessRun): Promise<RelayAddresses> {
  await waitFor(() => run.stdout.some((l) => l.includes('"listening"')), 'the listening line');
  return JSON.parse(run.stdout.find((l) => l.includes('"listening"')) as string) as RelayAddresses;
}

describe('visiona-tunnel relay admin token', () => {
  it('reads the admin token from --admin-token-file and guards the API and /metrics with it', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'admin.token');
    writeFileSync(file, `${TOKEN}\n`);
    const run = runMain(t, relayArgs(dir, '--admin-token-file', file));
    const addresses = await listening(run);
    assert.equal((await admin(addresses, 'GET', '/api/agents', { token: TOKEN })).status, 200, 'the file token (newline trimmed) works');
    assert.equal((await admin(addresses, 'GET', '/api/agents', { token: null })).status, 401, 'no token: 401');
    const metrics = await admin(addresses, 'GET', '/metrics', { token: TOKEN });
    assert.equal(metrics.status, 200, 'metrics with the token');
    assert.match(metrics.text, /visiona_tunnel_process_resident_memory_bytes/, 'the CLI adds process metrics');
    assert.equal((await admin(addresses, 'GET', '/metrics', { token: null })).status, 401, 'metrics need the token');
    assert.ok(!run.stderr.join('').includes(TOKEN), 'the token is never logged');
  });

  it('reads VISIONA_TUNNEL_ADMIN_TOKEN, and --admin-metrics-public opens /metrics only', async (t) => {
    const dir = tempDir(t);
    const run = runMain(t, relayArgs(dir, '--admin-metrics-public'), { VISIONA_TUNNEL_ADMIN_TOKEN: TOKEN });
    const addresses = await listening(run);
    assert.equal((await admin(addresses, 'GET', '/api/agents', { token: TOKEN })).status, 200, 'the environment token works');
    assert.equal((await admin(addresses, 'GET', '/metrics', { token: null })).status, 200, 'public metrics');
    assert.equal((await admin(addresses, 'GET', '/api/tokens', { token: null })).status, 401, 'the API still needs the token');
  });

  it('refuses a too-short admin token with exit code 2', async (t) => {
    const dir = tempDir(t);
    const run = runMain(t, relayArgs(dir), { VISIONA_TUNNEL_ADMIN_TOKEN: 'short' });
    assert.equal(await run.exit, 2, 'configuration error');
    assert.match(run.stderr.join(''), /adminToken/, 'the message names the setting');
  });
});
