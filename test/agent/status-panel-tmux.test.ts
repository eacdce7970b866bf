/**
 * The agent's live panel on a real terminal: `visiona-tunnel agent` runs in a
 * detached tmux pane against an in-process relay; the panel must be redrawn
 * in place (one panel on screen however many redraws) and show the request.
 * Skipped, with the reason, when tmux is not installed.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { createAgentToken, startOrigin, startRelay, visit, waitFor, waitForRegistration } from '../relay/relay-fixtures.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const BIN = resolve('bin/visiona-tunnel.js');

describe('Agent status panel in a terminal (tmux)', { skip: hasTmux ? false : 'tmux is not installed' }, () => {
  it('redraws one panel in place and lists a request made through the tunnel', async (t) => {
    const fx = await startRelay(t);
    const origin = await startOrigin(t);
    const token = await createAgentToken(fx.relay, 'edge-tty');
    const dir = mkdtempSync(join(tmpdir(), 'status-panel-tmux-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token);
    const socket = `visiona-status-${process.pid}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
    const registered = waitForRegistration(fx.relay, 'edge-tty');
    const command = [process.execPath, BIN, 'agent', '--relay', fx.addresses.agentUrl, '--local', origin.addr, '--token-file', tokenFile]
      .map((a) => `'${a}'`)
      .join(' ');
    tmux('new-session', '-d', '-x', '100', '-y', '40', '-s', 'agent', `${command}; sleep 60`);
    t.after(() => {
      spawnSync('tmux', ['-L', socket, 'kill-server']);
      rmSync(dir, { recursive: true, force: true });
    });
    const screen = (): string => tmux('capture-pane', '-p', '-t', 'agent');
    await registered;
    await waitFor(() => screen().includes('● online'), 'the panel to show online');

    const res = await visit(fx.addresses, '/a/edge-tty/hello?via=tmux');
    assert.equal(res.status, 200, 'the visitor request went through');
    await waitFor(() => screen().includes('/hello?via=tmux'), 'the request to appear in the panel');
    await waitFor(() => screen().includes('1 served, 0 active'), 'the counters to settle');

    const text = screen();
    assert.equal(text.split('visiona-tunnel agent').length - 1, 1, 'exactly one panel on screen after several redraws');
    assert.match(text, /GET +200 +[\d.]+ m?s +18 B {2}\/hello\?via=tmux/, 'the row shows method, status, duration, size and path');
    assert.equal(text.includes('\x1b'), false, 'no raw escape sequence is left on screen');
  });
});
