/**
 * Refusals that do not fix themselves, through the real executables: a
 * wrong token (401) and a wrong path (404) are logged at `error` with a
 * hint, and the agent exits with code 3 after `--max-refusals` identical
 * ones, unless `--retry-forever`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliEnv, runCli, startCli, tempDir, type Scope } from './cli-fixtures.js';

interface RelayInfo {
  agentUrl: string;
  agent: string;
}

async function startRelay(t: Scope): Promise<RelayInfo> {
  const dir = tempDir(t);
  const relay = startCli(t, ['relay', '--agent-listen', '127.0.0.1:0', '--domain', 'localhost', '--db', join(dir, 'relay.db')]);
  return JSON.parse(await relay.waitForStdout(() => true, 'the relay listening line')) as RelayInfo;
}

const WRONG_TOKEN = 'vt_0000000000000000_not-a-token';

describe('visiona-tunnel agent refused by the relay', () => {
  it('exits 3 after --max-refusals identical 401s, each logged at error with a hint', async (t) => {
    const relay = await startRelay(t);
    const agent = startCli(t, ['agent', '--relay', relay.agentUrl, '--local', '127.0.0.1:9', '--max-refusals', '2'], {
      env: cliEnv({ VISIONA_TUNNEL_TOKEN: WRONG_TOKEN }),
    });
    const exit = await agent.exited;
    assert.deepEqual(exit, { code: 3, signal: null }, `exit code 3:\n${agent.stderrLines.join('\n')}`);
    const records = agent.stderrLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const refusals = records.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('relay refused the agent'));
    assert.deepEqual(
      refusals.map((r) => [r.level, r.msg, r.code, r.status, r.refusals]),
      [
        ['error', 'relay refused the agent; retrying', 'ERR_AGENT_AUTH_REJECTED', 401, 1],
        ['error', 'relay refused the agent; giving up', 'ERR_AGENT_AUTH_REJECTED', 401, 2],
      ],
      'one error line per refusal, the last one giving up',
    );
    assert.match(String(refusals[1]?.hint), /wrong or revoked: create one on the relay \(visiona-tunnel token create NAME\)/, 'the hint says what to do');
    const lastState = records.filter((r) => r.msg === 'tunnel state').at(-1);
    assert.equal(lastState?.state, 'stopped', 'the last state is stopped');
    assert.equal(lastState?.lastError, 'ERR_AGENT_AUTH_REJECTED', 'with the refusal as last error');
    assert.ok(!agent.stderrLines.some((l) => l.includes(WRONG_TOKEN)), 'the token never appears in the log');
  });

  it('exits 3 on a --relay URL without /tunnel/connect (404), naming the expected path', async (t) => {
    const relay = await startRelay(t);
    const agent = startCli(t, ['agent', '--relay', `ws://${relay.agent}/`, '--local', '127.0.0.1:9', '--max-refusals', '1'], {
      env: cliEnv({ VISIONA_TUNNEL_TOKEN: WRONG_TOKEN }),
    });
    const exit = await agent.exited;
    assert.deepEqual(exit, { code: 3, signal: null }, `exit code 3:\n${agent.stderrLines.join('\n')}`);
    const gaveUp = agent.stderrLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.msg === 'relay refused the agent; giving up');
    assert.equal(gaveUp?.level, 'error', 'logged at error');
    assert.equal(gaveUp?.code, 'ERR_AGENT_ENDPOINT_NOT_FOUND', 'a wrong path has its own code');
    assert.equal(gaveUp?.status, 404, 'status 404');
    assert.equal(gaveUp?.hint, "the relay's tunnel endpoint is /tunnel/connect: dial ws(s)://HOST:PORT/tunnel/connect", 'the hint names the expected path');
  });

  it('keeps retrying with --retry-forever, and exits 0 on SIGTERM', async (t) => {
    const relay = await startRelay(t);
    const agent = startCli(t, ['agent', '--relay', relay.agentUrl, '--local', '127.0.0.1:9', '--max-refusals', '1', '--retry-forever'], {
      env: cliEnv({ VISIONA_TUNNEL_TOKEN: WRONG_TOKEN }),
    });
    await agent.waitForLog((r) => r.msg === 'relay refused the agent; retrying' && r.refusals === 2, 'a second refusal, past --max-refusals 1');
    assert.ok(!agent.stderrLines.some((l) => l.includes('giving up')), 'it did not give up');
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, 'SIGTERM still stops it with 0');
  });

  it('documents --max-refusals, --retry-forever and exit code 3 in --help', async () => {
    const help = await runCli(['agent', '--help']);
    assert.match(help.stdout, /--max-refusals N \| --retry-forever/, 'the flags are in the usage');
    assert.match(help.stdout, /\n {2}3 {2}gave up: the relay refused the agent --max-refusals times/, 'exit code 3 is documented');
  });
});
