/**
 * `--help` of every command: exit code 0, a usage, examples and exit codes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { CLI_BIN, cliEnv, runCli } from './cli-fixtures.js';

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
    assert.match(unknownCommand.stderr, /unknown command bogus\n/, 'the unknown command is named');
    assert.match(unknownCommand.stderr, /Run 'visiona-tunnel --help' for usage/, 'the hint points at the main help, not at the unknown command');
    const unknownFlag = await help(['relay', '--bogus']);
    assert.equal(unknownFlag.code, 2, 'an unknown flag exits 2');
    assert.match(unknownFlag.stderr, /--bogus/, 'the unknown flag is named');
    assert.match(unknownFlag.stderr, /Run 'visiona-tunnel relay --help' for usage/, 'the hint points at the command\'s help');
  });

  it('prints the version of the package and of Node for --version, -V and version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V', 'version']) {
      const { code, stdout } = await help([flag]);
      assert.equal(code, 0, `${flag} exits 0`);
      assert.equal(stdout, `visiona-tunnel ${pkg.version} (node ${process.version})\n`, `${flag} prints the version line`);
    }
  });

  it('runs as an executable through sh, starting Node with the heap flag of its second line', async () => {
    // A preload in NODE_OPTIONS (which drops double quotes) reports the flags Node was started with.
    const report = 'data:text/javascript,process.stderr.write(JSON.stringify({execArgv:process.execArgv}))';
    const result = await runCli(['--version'], { asExecutable: true, env: cliEnv({ NODE_OPTIONS: `--import=${report}` }) });
    assert.equal(result.code, 0, `executing ${CLI_BIN} directly exits 0`);
    assert.match(result.stdout, /^visiona-tunnel \d+\.\d+\.\d+ \(node v/, 'it printed the version');
    assert.match(result.stderr, /\{"execArgv":\["--initial-heap-size=64"\]\}/, 'Node ran with --initial-heap-size=64 and nothing else');
  });

  it('prints help from the installed executable with exit code 0', async () => {
    const result = await runCli(['agent', '--help']);
    assert.equal(result.code, 0, 'bin/visiona-tunnel.js agent --help exits 0');
    assert.match(result.stdout, /Usage/, 'it prints the usage on stdout');
    assert.match(result.stdout, /Example/, 'it prints examples on stdout');
  });
});
