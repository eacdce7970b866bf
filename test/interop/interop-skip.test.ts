/**
 * A fresh clone has no .interop-bin/ and no ../shared/interop/go beside it:
 * the interop tests must then skip with one line naming what is missing and
 * the command that builds it (never fail, never hang), and under
 * VISIONA_REQUIRE_INTEROP=1 (CI) fail instead, still without hanging. The
 * "clone" is a copy of the working tree's files (tracked, or new and not
 * ignored) in a temp folder with no `shared` folder beside it, with
 * node_modules linked in.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../cli/cli-fixtures.js';
import { interopSkipReason, REQUIRE_INTEROP_ENV } from '../helpers/interop-skip.js';

/** Failure deadline of one child test run (they take seconds). */
const RUN_DEADLINE_MS = 120_000;
/** Go build cache of this tree (scripts/build-interop.sh's default). */
const GO_CACHE = join(REPO_ROOT, '.interop-bin', '.gocache');
/** The build test needs Debian's Go toolchain and yamux sources. */
const goSkip: false | string =
  spawnSync('go', ['version']).status === 0 && existsSync('/usr/share/gocode/src/github.com/hashicorp/yamux/go.mod')
    ? false
    : 'no go command or no /usr/share/gocode/src/github.com/hashicorp/yamux (bash scripts/install-system-deps.sh)';

/** Copies the tracked files of the working tree into `<tmp>/clone` (no `shared` beside it) and links node_modules. */
function freshClone(t: { after(fn: () => unknown): void }): string {
  const parent = mkdtempSync(join(tmpdir(), 'fresh-clone-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const clone = join(parent, 'clone');
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\0').filter((f) => f !== '');
  for (const f of files) {
    mkdirSync(dirname(join(clone, f)), { recursive: true });
    try {
      cpSync(join(REPO_ROOT, f), join(clone, f));
    } catch (err) {
      // A tracked file deleted in the working tree is not part of it.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
  return clone;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs `files` with node:test in `cwd`; kills the run (and fails) if it outlives the deadline. */
function runTests(cwd: string, files: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the test run did not end within ${RUN_DEADLINE_MS} ms (a hang):\n${output.slice(-4000)}`));
    }, RUN_DEADLINE_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(deadline);
      resolve({ code, signal, output });
    });
  });
}

/** This process's environment without `name`, and without node:test's marker (a child would take itself for a subtest run). */
function envWithout(name: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[name];
  delete env.NODE_TEST_CONTEXT;
  return env;
}

describe('interopSkip', () => {
  it('names each missing binary, and the sources that are not beside the clone', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'interop-skip-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const binDir = join(dir, 'bin');
    const refSources = join(dir, 'shared-interop-go');
    mkdirSync(binDir);
    writeFileSync(join(binDir, 'ref-origin'), '');
    const where = { binDir, refSources, env: {} };
    assert.equal(interopSkipReason(['ref-origin'], where), false, 'nothing is missing: no skip');
    const noSources = interopSkipReason(['ref-origin', 'ref-relay', 'ref-tap'], where);
    assert.equal(
      noSources,
      `Go interop peers ref-relay, ref-tap not built in .interop-bin/; their sources (../shared/interop/go) are not beside this clone: put them there, then run bash scripts/build-interop.sh (${REQUIRE_INTEROP_ENV}=1 fails instead of skipping)`,
      'the reason names the missing binaries and their missing sources',
    );
    mkdirSync(refSources);
    writeFileSync(join(refSources, 'build.sh'), '');
    const withSources = interopSkipReason(['ref-relay'], where);
    assert.ok(typeof withSources === 'string' && withSources.startsWith('Go interop peer ref-relay not built in .interop-bin/: run bash scripts/build-interop.sh'), `the build command: ${String(withSources)}`);
    const yamuxPeer = interopSkipReason(['go-yamux-peer'], { ...where, refSources: join(dir, 'absent') });
    assert.ok(typeof yamuxPeer === 'string' && yamuxPeer.includes('run bash scripts/build-interop.sh'), 'go-yamux-peer is built from this repository');
    assert.equal(interopSkipReason(['ref-relay', 'go-yamux-peer'], { ...where, env: { [REQUIRE_INTEROP_ENV]: '1' } }), false, 'required: never skipped');
  });
});

describe('interop tests on a fresh clone without the Go peers', () => {
  const files = ['test/interop/yamux-go.test.ts', 'test/interop/agent-ref-relay.test.ts', 'test/interop/transparency/go-agent-our-relay.test.ts'];

  it('skip with one line per file naming what is missing, and pass', { timeout: RUN_DEADLINE_MS + 10_000 }, async (t) => {
    const clone = freshClone(t);
    const r = await runTests(clone, files, envWithout(REQUIRE_INTEROP_ENV));
    assert.equal(r.code, 0, `the run passes:\n${r.output.slice(-4000)}`);
    const skipLines = r.output.split('\n').filter((l) => l.includes('# Go interop peer'));
    assert.equal(skipLines.length, files.length, `one skip line per file:\n${r.output}`);
    assert.ok(skipLines.some((l) => l.includes('go-yamux-peer not built in .interop-bin/: run bash scripts/build-interop.sh')), `the yamux line:\n${skipLines.join('\n')}`);
    assert.ok(
      skipLines.some((l) => l.includes('ref-relay, ref-origin, ref-tap not built') && l.includes('../shared/interop/go) are not beside this clone')),
      `the ref-relay line says the sources are absent:\n${skipLines.join('\n')}`,
    );
    assert.match(r.output, /ℹ fail 0/, 'nothing failed');
  });

  it(`fail, without hanging, under ${REQUIRE_INTEROP_ENV}=1`, { timeout: RUN_DEADLINE_MS + 10_000 }, async (t) => {
    const clone = freshClone(t);
    const r = await runTests(clone, ['test/interop/yamux-go.test.ts'], { ...envWithout(REQUIRE_INTEROP_ENV), [REQUIRE_INTEROP_ENV]: '1' });
    assert.equal(r.code, 1, `the run fails:\n${r.output.slice(-4000)}`);
    assert.match(r.output, /go-yamux-peer binary not found at .*: run `bash scripts\/build-interop.sh`/, 'the failures name the build command');
  });

  it('has build-interop.sh build what it can and say in one line what it cannot', { skip: goSkip, timeout: RUN_DEADLINE_MS + 10_000 }, (t) => {
    const clone = freshClone(t);
    // The GOCACHE of this tree keeps the go-yamux-peer build quick.
    const build = (env: NodeJS.ProcessEnv) =>
      spawnSync('bash', ['scripts/build-interop.sh'], { cwd: clone, env: { ...env, GOCACHE: GO_CACHE }, encoding: 'utf8', timeout: RUN_DEADLINE_MS });
    const plain = build(envWithout(REQUIRE_INTEROP_ENV));
    assert.equal(plain.status, 0, `absent sources: exit 0 (${plain.stderr})`);
    assert.equal(plain.stdout, '', 'nothing on stdout');
    assert.match(
      plain.stderr,
      /^build-interop: built go-yamux-peer in .*\nbuild-interop: \.\.\/shared\/interop\/go not found beside this clone: ref-agent, ref-relay, ref-origin, ref-tap not built; the tests that need them skip\n$/,
      'one line for what was built, one for what was not',
    );
    assert.ok(existsSync(join(clone, '.interop-bin', 'go-yamux-peer')), 'go-yamux-peer is built from this repository alone');
    const required = build({ ...envWithout(REQUIRE_INTEROP_ENV), [REQUIRE_INTEROP_ENV]: '1' });
    assert.equal(required.status, 1, `required and absent: exit 1 (${required.stderr})`);
    assert.match(
      required.stderr,
      /\nbuild-interop: \.\.\/shared\/interop\/go not found beside this clone, and VISIONA_REQUIRE_INTEROP=1: ref-agent, ref-relay, ref-origin, ref-tap cannot be built\n$/,
      'required: the one line says why it fails',
    );
  });
});
