/**
 * Chaos scenario 1: the relay process is SIGKILLed while a visitor downloads
 * 200 MiB through it. The visitor's connection fails (the cut body is never
 * presented as complete), the agent redials on its backoff schedule (1 s,
 * 2 s ... with +/-20 % jitter) while the relay is down, reconnects at its
 * first dial once the relay is back on the same port, and the next request
 * succeeds.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { backoff } from '../../src/shared/backoff.js';
import { startOrigin } from '../relay/relay-fixtures.js';
import {
  isAgentState,
  prepareSingleAgentStore,
  startAgentProcess,
  startRelayProcess,
  visitAgent,
  within,
} from './chaos-fixtures.js';

const AGENT = 'relay-kill';
const DOWNLOAD_BYTES = 200 * 1024 * 1024;
/** The visitor stops reading after this much, so the relay dies mid-body whatever the machine's speed. */
const PAUSE_AFTER_BYTES = 8 * 1024 * 1024;
/** Retries the agent must schedule while the relay is down before it is restarted. */
const RETRIES_WHILE_DOWN = 2;

describe('Chaos: relay SIGKILLed during a 200 MiB download', () => {
  it('resets the visitor, and the agent redials on the backoff schedule and serves again once the relay is back', async (t) => {
    const { dbPath, token } = await prepareSingleAgentStore(t, AGENT);
    const origin = await startOrigin(t);
    const first = await startRelayProcess(t, { dbPath, name: 'relay-1' });
    const agent = startAgentProcess(t, { relayUrl: first.addresses.agentUrl, token, local: origin.addr });
    await agent.waitForLine(isAgentState('online'), 'the agent to come online');

    // 1. A visitor starts the download and stops reading mid-body.
    let paused!: () => void;
    const pausedMidBody = new Promise<void>((resolve) => (paused = resolve));
    let response: IncomingMessage | undefined;
    const download = visitAgent(first.addresses.public, AGENT, `/bytes?n=${DOWNLOAD_BYTES}`, {
      keepBody: false,
      onResponse: (res) => {
        response = res;
        let seen = 0;
        const onData = (chunk: Buffer): void => {
          seen += chunk.length;
          if (seen < PAUSE_AFTER_BYTES) return;
          res.off('data', onData);
          res.pause();
          paused();
        };
        res.on('data', onData);
      },
    });
    await within(pausedMidBody, 60_000, 'the download to reach 8 MiB');

    // 2. The relay is killed; the visitor reads what is left and must see the cut.
    const killedAtMs = Date.now();
    await first.proc.kill('SIGKILL');
    response?.resume();
    const outcome = await within(download, 30_000, 'the visitor of the killed relay');
    assert.equal(outcome.status, 200, 'the download had started');
    assert.equal(outcome.headers['content-length'], String(DOWNLOAD_BYTES), 'the response declared 200 MiB');
    assert.equal(outcome.complete, false, 'the cut body is not presented as complete');
    assert.ok(outcome.errorCode !== undefined, 'the visitor sees its connection fail');
    assert.ok(outcome.bytes < DOWNLOAD_BYTES, `fewer bytes than declared arrived (${outcome.bytes})`);
    t.diagnostic(`visitor got ${outcome.bytes} of ${DOWNLOAD_BYTES} bytes, then ${outcome.errorCode}`);

    // 3. The agent backs off while the relay is down.
    const retryLine = (attempt: number) => (d: Record<string, unknown>) => d.msg === 'tunnel connection failed; retrying' && d.attempt === attempt;
    for (let attempt = 1; attempt <= RETRIES_WHILE_DOWN; attempt++) {
      await agent.waitForLine(retryLine(attempt), `retry ${attempt} to be scheduled`, 60_000, killedAtMs);
    }

    // 4. The relay comes back on the same port; the agent reconnects, every retry on the schedule.
    const restartAtMs = Date.now();
    const second = await startRelayProcess(t, { dbPath, agentPort: first.agentPort, name: 'relay-2' });
    const online = await agent.waitForLine(isAgentState('online'), 'the agent to reconnect', 60_000, restartAtMs);
    await second.proc.waitForLine((d) => d.msg === 'agent connected' && d.agent === AGENT, 'the new relay to register the agent');
    const retries = agent.lines.filter((l) => l.atMs >= killedAtMs && l.atMs <= online.atMs && l.data.msg === 'tunnel connection failed; retrying');
    assert.ok(retries.length >= RETRIES_WHILE_DOWN, `the agent retried while the relay was down (${retries.length} retries)`);
    for (const r of retries) {
      const attempt = r.data.attempt as number;
      const delayMs = r.data.delayMs as number;
      const base = backoff(attempt);
      assert.ok(delayMs >= base * 0.8 && delayMs <= base * 1.2, `retry ${attempt} waits backoff(${attempt}) = ${base} ms +/-20 % (got ${delayMs})`);
    }
    assert.deepEqual(
      retries.map((r) => r.data.attempt),
      Array.from({ length: retries.length }, (_, i) => i + 1),
      'attempts count up 1, 2, 3 ... until the relay is back',
    );
    const listeningAtMs = (second.proc.linesNamed('listening')[0]?.atMs ?? restartAtMs);
    t.diagnostic(
      `retries: ${retries.map((r) => `#${String(r.data.attempt)} ${String(r.data.delayMs)} ms`).join(', ')}; ` +
        `online ${online.atMs - listeningAtMs} ms after the new relay listened`,
    );

    // 5. The next request succeeds.
    const next = await within(visitAgent(second.addresses.public, AGENT, '/hello'), 30_000, 'the visitor after the restart');
    assert.equal(next.status, 200, 'the next request succeeds');
    assert.equal(String(next.body), 'hello from origin\n', 'with the right body');
  });
});
