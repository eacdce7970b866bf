/**
 * A new user's first hour, through the real executable and the real npm:
 * `npm ci` shows install scripts' output (.npmrc), the demo's URL block is
 * the first thing printed and its logs are human lines (on a terminal, and
 * through a pipe), and the guide's `relay.db` is ignored by git.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI_BIN, cliEnv, REPO_ROOT, startCli, waitFor } from './cli-fixtures.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
/** Start-up lines the demo used to print before its URL block. */
const STARTUP_LINES = /relay listening|tunnel client starting|connecting to relay|connected to relay|agent connected|tunnel state/;

describe('the first hour', () => {
  it('has npm run install scripts in the foreground, so npm ci is not silent', () => {
    const value = execFileSync('npm', ['config', 'get', 'foreground-scripts'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    assert.equal(value, 'true', 'the project .npmrc sets foreground-scripts=true');
  });

  it('ignores the relay.db of the README guide (and SQLite\'s side files)', () => {
    for (const file of ['relay.db', 'relay.db-wal', 'relay.db-shm']) {
      const r = spawnSync('git', ['check-ignore', '-q', file], { cwd: REPO_ROOT });
      assert.equal(r.status, 0, `git ignores ${file} in the repository root`);
    }
  });

  it('prints the demo URL block first, without JSON log lines, through a pipe', async (t) => {
    const demo = startCli(t, ['demo'], { env: cliEnv({ VISIONA_TUNNEL_LOG_FORMAT: undefined }) });
    await demo.waitForStdout((l) => l === 'Press Ctrl-C to stop.', 'the end of the URL block');
    assert.deepEqual(demo.stdoutLines.slice(0, 2), ['', 'visiona-tunnel demo is running:'], 'the block opens stdout');
    assert.equal((await demo.stop('SIGINT')).code, 0, 'Ctrl-C stops it with 0');
    assert.ok(!demo.stderrLines.some((l) => STARTUP_LINES.test(l)), `no start-up lines:\n${demo.stderrLines.join('\n')}`);
    assert.ok(demo.stderrLines.length > 0, 'the shutdown is logged');
    assert.ok(
      demo.stderrLines.every((l) => /^\d\d:\d\d:\d\d (info|warn|error) /.test(l) || /^\s/.test(l)),
      `every log line is a human line:\n${demo.stderrLines.join('\n')}`,
    );
  });

  it('on a terminal (tmux), shows the URL block at the top and pretty logs after it', { skip: hasTmux ? false : 'tmux is not installed' }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'demo-tty-'));
    const socket = join(dir, 'tmux.sock');
    const tmux = (...args: string[]): string => execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
    t.after(() => {
      spawnSync('tmux', ['-S', socket, 'kill-server']);
      rmSync(dir, { recursive: true, force: true });
    });
    const command = `env -u VISIONA_TUNNEL_LOG_FORMAT -u VISIONA_TUNNEL_LOG_LEVEL ${process.execPath} ${CLI_BIN} demo; sleep 60`;
    tmux('new-session', '-d', '-x', '160', '-y', '40', '-s', 'demo', command);
    const screen = (): string => tmux('capture-pane', '-p', '-t', 'demo');
    await waitFor(() => screen().includes('Press Ctrl-C to stop.'), 'the URL block on the terminal');
    const lines = screen().split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines[0], 'visiona-tunnel demo is running:', `the block is at the top:\n${screen()}`);
    assert.ok(!lines.some((l) => l.startsWith('{')), 'no JSON lines');
    tmux('send-keys', '-t', 'demo', 'C-c');
    await waitFor(() => /\d\d:\d\d:\d\d info +relay closed/.test(screen()), 'the shutdown logged as a pretty line');
  });
});
