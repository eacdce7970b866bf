/**
 * `visiona-tunnel agent --relay A --relay B`: every URL given is kept, in
 * the order given (a relay cluster's nodes), not only the last one.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import { listenOnLoopback } from '../helpers/loopback.js';
import { runMain } from './cli-fixtures.js';

/** A TCP listener that reports each dial reaching it by `name` and drops the connection at once. */
async function dialTarget(t: Parameters<typeof listenOnLoopback>[0], name: string, record: (name: string) => void): Promise<string> {
  const server = net.createServer((socket) => {
    record(name);
    socket.destroy();
  });
  const port = await listenOnLoopback(t, server);
  return `ws://127.0.0.1:${port}/tunnel/connect`;
}

describe('agent --relay given several times', () => {
  it('dials the first --relay first, then the next one', async (t) => {
    const seen: string[] = [];
    let twoDials!: () => void;
    const dialledTwice = new Promise<void>((resolve) => (twoDials = resolve));
    const record = (name: string): void => {
      seen.push(name);
      if (seen.length === 2) twoDials();
    };
    const first = await dialTarget(t, 'first', record);
    const second = await dialTarget(t, 'second', record);
    const run = runMain(t, ['agent', '--relay', first, '--relay', second, '--local', '127.0.0.1:9'], {
      VISIONA_TUNNEL_TOKEN: `vt_0123456789abcdef_${'x'.repeat(43)}`,
      VISIONA_TUNNEL_LOG_LEVEL: 'warn',
    });
    // The first failed dial backs off about a second before the second one.
    await dialledTwice;
    run.abort();
    assert.equal(await run.exit, 0, 'the agent exits 0 when stopped');
    assert.deepEqual(seen.slice(0, 2), ['first', 'second'], 'the first --relay is dialled first, then the second');
  });
});
