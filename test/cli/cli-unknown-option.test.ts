/**
 * Mistyped command lines, through the real executable: every command names
 * the unknown option in our words, suggests the flag it probably meant,
 * exits 2 and points at its own --help; `-v` prints the version.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { closestName, describeArgsError, editDistance } from '../../src/cli/option-suggestion.js';
import { runCli } from './cli-fixtures.js';

/** Each command (with its subcommand), a typo of one of its flags, and that flag. */
const TYPOS: ReadonlyArray<{ argv: string[]; typo: string; meant?: string; help: string }> = [
  { argv: ['relay'], typo: '--domian', meant: '--domain', help: 'relay' },
  { argv: ['agent'], typo: '--relya', meant: '--relay', help: 'agent' },
  { argv: ['demo'], typo: '--agent-name', help: 'demo' },
  { argv: ['token', 'create', 'edge-01'], typo: '--bd', meant: '--db', help: 'token' },
  { argv: ['token', 'list'], typo: '--jsno', meant: '--json', help: 'token' },
  { argv: ['access', 'set', 'edge-01', 'public'], typo: '--d', meant: '--db', help: 'access' },
];

describe('visiona-tunnel with an unknown option', () => {
  for (const { argv, typo, meant, help } of TYPOS) {
    it(`${argv.join(' ')} ${typo}: names it${meant === undefined ? '' : `, suggests ${meant}`}, exits 2`, async () => {
      const r = await runCli([...argv, typo, 'x']);
      assert.equal(r.code, 2, `exit code 2 (stderr: ${r.stderr})`);
      const hint = meant === undefined ? '' : ` (did you mean ${meant}?)`;
      assert.equal(
        r.stderr,
        `visiona-tunnel: unknown option ${typo}${hint}\nRun 'visiona-tunnel ${help} --help' for usage.\n`,
        'one line in our words, then the help hint, and nothing else',
      );
      assert.equal(r.stdout, '', 'nothing on stdout');
    });
  }

  it('says which option needs a value, and which takes none', async () => {
    const missing = await runCli(['relay', '--domain']);
    assert.equal(missing.code, 2, 'a flag without its value exits 2');
    assert.equal(missing.stderr.split('\n')[0], 'visiona-tunnel: option --domain needs a value', 'the flag is named');
    const extra = await runCli(['token', 'list', '--json=yes', '--db', ':memory:']);
    assert.equal(extra.code, 2, 'a value given to a boolean flag exits 2');
    assert.equal(extra.stderr.split('\n')[0], 'visiona-tunnel: option --json takes no value', 'the flag is named');
  });

  it('suggests the command an unknown one was probably meant to be', async () => {
    const r = await runCli(['agnet']);
    assert.equal(r.code, 2, 'exit code 2');
    assert.equal(r.stderr, "visiona-tunnel: unknown command agnet (did you mean agent?)\nRun 'visiona-tunnel --help' for usage.\n", 'the suggestion');
    const flag = await runCli(['--verison']);
    assert.equal(flag.code, 2, 'an unknown top-level option exits 2');
    assert.equal(flag.stderr.split('\n')[0], 'visiona-tunnel: unknown option --verison', 'named as an option');
  });

  it('prints the version for -v', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['-v']);
    assert.equal(r.code, 0, '-v exits 0');
    assert.equal(r.stdout, `visiona-tunnel ${pkg.version} (node ${process.version})\n`, '-v prints the version line');
  });
});

describe('closestName and describeArgsError', () => {
  it('counts an adjacent swap as one edit', () => {
    assert.equal(editDistance('domian', 'domain'), 1, 'a swap');
    assert.equal(editDistance('', 'db'), 2, 'insertions');
  });

  it('suggests only names that are close', () => {
    const known = ['domain', 'db', 'agent-listen', 'public-listen'];
    assert.equal(closestName('domian', known), 'domain', 'a swap');
    assert.equal(closestName('agent-listne', known), 'agent-listen', 'a swap at the end');
    assert.equal(closestName('bd', known), 'db', 'a swap in a short name');
    assert.equal(closestName('zzzzzz', known), undefined, 'nothing close');
    assert.equal(closestName('publ', known), 'public-listen', 'a unique prefix');
  });

  it('reads short options and stops at --', () => {
    const options = { db: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;
    assert.equal(describeArgsError('ERR_PARSE_ARGS_UNKNOWN_OPTION', ['-x'], options), 'unknown option -x', 'a short option');
    assert.equal(describeArgsError('ERR_PARSE_ARGS_UNKNOWN_OPTION', ['--', '--dbb'], options), undefined, 'after -- nothing is an option');
    assert.equal(describeArgsError('ERR_PARSE_ARGS_UNKNOWN_OPTION', ['--dbb=1'], options), 'unknown option --dbb (did you mean --db?)', 'a value after =');
  });
});
