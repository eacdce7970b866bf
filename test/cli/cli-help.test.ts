/**
 * `--help` of every command: exit code 0, a usage, examples and exit codes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { runCli } from './cli-fixtures.js';

async function help(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    env: {},
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    signal: new AbortController().signal,
    isTty: false,
  });
  return { code, stdout, stderr };
}

const COMMANDS: readonly string[][] = [[], ['demo'], ['relay'], ['agent'], ['token'], ['token', 'create'], ['access'], ['access', 'set']];

describe('visiona-tunnel --help', () => {
  for (const command of COMMANDS) {
    const line = ['visiona-tunnel', ...command, '--help'].join(' ');
    it(`${line} exits 0 with a usage, examples and exit codes`, async () => {
      const { code, stdout } = await help([...command, '--help']);
      assert.equal(code, 0, `${line} exits 0`);
      assert.match(stdout, /Usage/, `${line} prints a usage`);
      assert.match(stdout, /Example/, `${line} prints examples`);
      assert.match(stdout, /Exit codes/, `${line} documents exit codes`);
    });
  }

  it('accepts -h as --help', async () => {
    const { code, stdout } = await help(['relay', '-h']);
    assert.equal(code, 0, 'relay -h exits 0');
    assert.match(stdout, /visiona-tunnel relay --agent-listen/, 'relay -h prints the relay usage');
  });

  it('documents --config, --trust-proxy and --spawn where they apply', async () => {
    const relay = (await help(['relay', '--help'])).stdout;
    const agent = (await help(['agent', '--help'])).stdout;
    assert.match(relay, /--config FILE/, 'relay help mentions --config');
    assert.match(relay, /--trust-proxy ADDR/, 'relay help mentions --trust-proxy');
    assert.match(agent, /--spawn 'COMMAND'/, 'agent help mentions --spawn');
    assert.match(agent, /--config FILE/, 'agent help mentions --config');
  });

  it('exits 2 with the usage hint for an unknown command or flag', async () => {
    const unknownCommand = await help(['bogus']);
    assert.equal(unknownCommand.code, 2, 'an unknown command exits 2');
    assert.match(unknownCommand.stderr, /unknown command: bogus/, 'the unknown command is named');
    const unknownFlag = await help(['relay', '--bogus']);
    assert.equal(unknownFlag.code, 2, 'an unknown flag exits 2');
    assert.match(unknownFlag.stderr, /--bogus/, 'the unknown flag is named');
  });

  it('prints help from the installed executable with exit code 0', async () => {
    const result = await runCli(['agent', '--help']);
    assert.equal(result.code, 0, 'bin/visiona-tunnel.js agent --help exits 0');
    assert.match(result.stdout, /Usage/, 'it prints the usage on stdout');
    assert.match(result.stdout, /Example/, 'it prints examples on stdout');
  });
});
