import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ReconnectLoop, type LoopConnect, type LoopConnection, type ReconnectLoopOptions } from '../../src/agent/reconnect-loop.js';
import { AgentAuthRejectedError, AgentEndpointNotFoundError } from '../../src/agent/errors.js';
import { createSinkLogger, type LogRecord } from '../../src/shared/logger.js';
import type { TunnelClientHooks } from '../../src/agent/tunnel-client-hooks.js';
import { KeepAliveTimeoutError } from '../../src/mux/index.js';
import { FakeClock } from '../helpers/mux-fake-clock.js';
import { waitFor } from '../helpers/mux-sessions.js';

type HookEvent =
  | { hook: 'dial'; attempt: number }
  | { hook: 'up' }
  | { hook: 'down'; err: Error | undefined }
  | { hook: 'failed'; attempt: number; err: Error }
  | { hook: 'retry'; attempt: number; delayMs: number };

/** One turn of the event loop, so promise continuations run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A session the test ends by hand. */
function controlledConnection(): { connection: LoopConnection; end(err?: Error): void; closeCalls: () => number } {
  let resolveClosed!: (err: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((resolve) => (resolveClosed = resolve));
  let calls = 0;
  return {
    connection: {
      closed,
      close: () => {
        calls += 1;
        resolveClosed(undefined);
        return closed.then(() => undefined);
      },
    },
    end: (err) => resolveClosed(err),
    closeCalls: () => calls,
  };
}

function startLoop(t: TestContext, connect: LoopConnect, options: Partial<ReconnectLoopOptions> = {}) {
  const clock = new FakeClock();
  const events: HookEvent[] = [];
  const hooks: TunnelClientHooks = {
    onDialAttempt: (attempt) => events.push({ hook: 'dial', attempt }),
    onSessionUp: () => events.push({ hook: 'up' }),
    onSessionDown: (err) => events.push({ hook: 'down', err }),
    onDialFailed: (attempt, err) => events.push({ hook: 'failed', attempt, err }),
    onRetryScheduled: (attempt, delayMs) => events.push({ hook: 'retry', attempt, delayMs }),
  };
  const loop = new ReconnectLoop({ connect, clock, jitterRatio: 0, hooks, ...options });
  t.after(() => loop.stop());
  loop.start();
  const count = (hook: HookEvent['hook']) => events.filter((e) => e.hook === hook).length;
  const retries = () => events.filter((e): e is Extract<HookEvent, { hook: 'retry' }> => e.hook === 'retry');
  return { clock, events, loop, count, retries };
}

const refuse: LoopConnect = () => Promise.reject(new Error('connection refused'));

describe('ReconnectLoop', () => {
  it('waits exactly 1, 2, 4, 8, 16, 30, 30, 30 s between consecutive dial failures', async (t) => {
    const { clock, count, retries } = startLoop(t, refuse);
    const expected = [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
    for (let i = 0; i < expected.length; i++) {
      await waitFor(() => retries().length === i + 1, `retry ${i + 1} scheduled`);
      const r = retries()[i];
      assert.deepEqual(r, { hook: 'retry', attempt: i + 1, delayMs: expected[i] }, `retry ${i + 1} waits ${expected[i]} ms`);
      clock.advance((expected[i] as number) - 1);
      await flush();
      assert.equal(count('dial'), i + 1, `no dial before the ${expected[i]} ms delay has passed`);
      clock.advance(1);
      await waitFor(() => count('dial') === i + 2, `dial ${i + 2} once the delay has passed`);
    }
  });

  it('reports to onRetryScheduled the jittered delay it actually waits', async (t) => {
    const { clock, count, retries } = startLoop(t, refuse, { jitterRatio: 0.2, random: () => 0 });
    await waitFor(() => retries().length === 1, 'first retry scheduled');
    assert.equal(retries()[0]?.delayMs, 800, 'random 0 with 20 % jitter gives 800 ms');
    clock.advance(799);
    await flush();
    assert.equal(count('dial'), 1, 'no dial before 800 ms');
    clock.advance(1);
    await waitFor(() => count('dial') === 2, 'second dial after 800 ms');
  });

  it('keeps jittered delays within +/-20 % of the schedule', async (t) => {
    let i = 0;
    const randoms = [0, 0.999, 0.5, 0.25, 0.75, 0.1];
    const { clock, retries } = startLoop(t, refuse, { jitterRatio: 0.2, random: () => randoms[i++ % randoms.length] as number });
    const base = [1000, 2000, 4000, 8000, 16000, 30000];
    for (let n = 0; n < base.length; n++) {
      await waitFor(() => retries().length === n + 1, `retry ${n + 1}`);
      const d = retries()[n]?.delayMs as number;
      const b = base[n] as number;
      assert.ok(d >= b * 0.8 && d <= b * 1.2, `retry ${n + 1}: ${d} ms within +/-20 % of ${b}`);
      clock.advance(d);
    }
  });

  it('backs off after sessions shorter than the stability threshold, so accept-and-drop gives no storm', async (t) => {
    const dropAtOnce: LoopConnect = () => {
      const c = controlledConnection();
      c.end(new Error('dropped'));
      return Promise.resolve(c.connection);
    };
    const { clock, count, retries } = startLoop(t, dropAtOnce);
    // One minute of fake time in 100 ms steps: the Go client would redial thousands of times.
    for (let elapsed = 0; elapsed < 60_000; elapsed += 100) {
      await flush();
      clock.advance(100);
    }
    await flush();
    assert.ok(count('dial') <= 7, `at most 7 dials in a minute (got ${count('dial')})`);
    assert.deepEqual(
      retries().slice(0, 5).map((r) => r.delayMs),
      [1000, 2000, 4000, 8000, 16000],
      'short sessions follow the backoff schedule',
    );
    assert.equal(count('up'), count('dial'), 'every dial brought a session up');
  });

  it('resets the attempt counter and redials at once after a session that outlived the threshold', async (t) => {
    const sessions: Array<ReturnType<typeof controlledConnection>> = [];
    let dials = 0;
    const connect: LoopConnect = () => {
      dials += 1;
      if (dials <= 2) return Promise.reject(new Error('refused'));
      const c = controlledConnection();
      sessions.push(c);
      return Promise.resolve(c.connection);
    };
    const { clock, events, count } = startLoop(t, connect, { stabilityThresholdMs: 5000 });
    await waitFor(() => count('retry') === 1, 'first retry');
    clock.advance(1000);
    await waitFor(() => count('retry') === 2, 'second retry');
    clock.advance(2000);
    await waitFor(() => count('up') === 1, 'session up on attempt 3');
    clock.advance(5000);
    const cause = new KeepAliveTimeoutError(15000);
    sessions[0]?.end(cause);
    await waitFor(() => count('dial') === 4, 'redial after the session ended');
    const downAt = events.findIndex((e) => e.hook === 'down');
    assert.deepEqual(
      events.slice(downAt - 1, downAt + 2),
      [{ hook: 'up' }, { hook: 'down', err: cause }, { hook: 'dial', attempt: 1 }],
      'session down then dial attempt 1 with no retry wait',
    );
  });

  it('spreads the redial after a long session within 2 x jitter x the first step, so a fleet does not redial at once', async (t) => {
    const sessions: Array<ReturnType<typeof controlledConnection>> = [];
    const connect: LoopConnect = () => {
      const c = controlledConnection();
      sessions.push(c);
      return Promise.resolve(c.connection);
    };
    const { clock, count } = startLoop(t, connect, { stabilityThresholdMs: 5000, jitterRatio: 0.2, random: () => 0.75 });
    await waitFor(() => count('up') === 1, 'first session up');
    clock.advance(60_000);
    sessions[0]?.end(new Error('relay restarted'));
    await waitFor(() => count('down') === 1, 'session down');
    clock.advance(299);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(count('dial'), 1, 'no redial before the spread delay (0.75 x 2 x 0.2 x 1000 = 300 ms)');
    clock.advance(1);
    await waitFor(() => count('dial') === 2, 'redial once the 300 ms spread has passed');
    assert.equal(count('retry'), 0, 'a spread redial is not a retry after failure');
  });

  it('counts a session that lived just under the threshold as a failed attempt', async (t) => {
    const sessions: Array<ReturnType<typeof controlledConnection>> = [];
    const connect: LoopConnect = () => {
      const c = controlledConnection();
      sessions.push(c);
      return Promise.resolve(c.connection);
    };
    const { clock, events, count } = startLoop(t, connect, { stabilityThresholdMs: 5000 });
    await waitFor(() => count('up') === 1, 'first session up');
    clock.advance(4999);
    sessions[0]?.end(new Error('dropped'));
    await waitFor(() => count('retry') === 1, 'retry scheduled');
    assert.deepEqual(events.at(-1), { hook: 'retry', attempt: 1, delayMs: 1000 }, 'backs off 1 s after a 4999 ms session');
    clock.advance(1000);
    await waitFor(() => count('dial') === 2, 'second dial');
    assert.deepEqual(events.filter((e) => e.hook === 'dial')[1], { hook: 'dial', attempt: 2 }, 'the next dial is attempt 2');
  });

  it('retries at the cap after N consecutive auth refusals, and resets that count on another failure', async (t) => {
    const errors = [
      new AgentAuthRejectedError(401),
      new AgentAuthRejectedError(403),
      new AgentAuthRejectedError(401),
      new Error('refused'),
      new AgentAuthRejectedError(401),
    ];
    let i = 0;
    const connect: LoopConnect = () => Promise.reject(errors[Math.min(i++, errors.length - 1)] as Error);
    const { clock, retries } = startLoop(t, connect, { authFailureCapAfter: 2 });
    const expected = [1000, 30000, 30000, 8000, 16000, 30000];
    for (let n = 0; n < expected.length; n++) {
      await waitFor(() => retries().length === n + 1, `retry ${n + 1}`);
      assert.equal(retries()[n]?.delayMs, expected[n], `retry ${n + 1} waits ${expected[n]} ms`);
      clock.advance(expected[n] as number);
    }
  });

  it('passes the dial error to onDialFailed and the session cause to onSessionDown', async (t) => {
    const refusal = new AgentAuthRejectedError(401);
    const cause = new KeepAliveTimeoutError(1000);
    const session = controlledConnection();
    let dials = 0;
    const connect: LoopConnect = () => {
      dials += 1;
      if (dials === 2) return Promise.resolve(session.connection);
      return Promise.reject(dials === 1 ? refusal : new Error('refused'));
    };
    const { clock, events, count } = startLoop(t, connect, { stabilityThresholdMs: 0 });
    await waitFor(() => count('retry') === 1, 'retry after the refusal');
    assert.deepEqual(events[1], { hook: 'failed', attempt: 1, err: refusal }, 'onDialFailed gets attempt 1 and the refusal');
    clock.advance(1000);
    await waitFor(() => count('up') === 1, 'session up');
    session.end(cause);
    await waitFor(() => count('down') === 1, 'session down');
    assert.equal((events.find((e) => e.hook === 'down') as { err: Error }).err, cause, 'onSessionDown gets the cause');
  });

  it('reports undefined to onSessionDown when stop() ends the session, and closes it', async (t) => {
    const session = controlledConnection();
    const { loop, events, count } = startLoop(t, () => Promise.resolve(session.connection));
    await waitFor(() => count('up') === 1, 'session up');
    await loop.stop();
    assert.equal(session.closeCalls(), 1, 'stop() closed the session once');
    assert.deepEqual(events.at(-1), { hook: 'down', err: undefined }, 'onSessionDown(undefined) for our own stop');
    assert.equal(count('dial'), 1, 'no redial after stop');
  });

  it('aborts an in-flight dial at once on stop()', async (t) => {
    let aborted = false;
    const hanging: LoopConnect = (_attempt, signal) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(new Error('aborted'));
        });
      });
    const { loop, count } = startLoop(t, hanging);
    await waitFor(() => count('dial') === 1, 'dial started');
    await loop.stop();
    assert.ok(aborted, 'the dial saw the abort');
    assert.equal(count('failed'), 0, 'an aborted dial is not reported as a failure');
    assert.equal(count('retry'), 0, 'no retry after stop');
  });

  it('stops during a backoff wait without waiting for the delay', async (t) => {
    const { loop, clock, count } = startLoop(t, refuse);
    await waitFor(() => count('retry') === 1, 'retry scheduled');
    await loop.stop();
    assert.equal(clock.pendingCount, 0, 'the backoff timer was cleared');
    assert.equal(count('dial'), 1, 'no further dial');
  });

  it('closes a session that came up after stop() was called', async (t) => {
    const session = controlledConnection();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { loop, count } = startLoop(t, () => gate.then(() => session.connection));
    await waitFor(() => count('dial') === 1, 'dial started');
    const stopping = loop.stop();
    release();
    await stopping;
    assert.equal(session.closeCalls(), 1, 'the late session was closed');
    assert.equal(count('up'), 0, 'no onSessionUp after stop');
  });

  it('makes start() and stop() idempotent', async (t) => {
    const { loop, count } = startLoop(t, refuse);
    loop.start();
    loop.start();
    await waitFor(() => count('retry') === 1, 'retry scheduled');
    assert.equal(count('dial'), 1, 'a second start() did not start a second loop');
    const first = loop.stop();
    const second = loop.stop();
    assert.equal(first, second, 'a second stop() returns the same promise');
    await second;
    loop.start();
    await flush();
    assert.equal(count('dial'), 1, 'start() after stop() does nothing');
    assert.equal(loop.isRunning, false, 'the loop is not running');
  });

  it('resolves stop() on a loop that was never started', async () => {
    const loop = new ReconnectLoop({ connect: refuse, clock: new FakeClock() });
    await loop.stop();
    assert.equal(loop.isRunning, false, 'not running');
  });

  it('keeps going when every hook throws', async (t) => {
    const clock = new FakeClock();
    let dials = 0;
    const boom = (): never => {
      throw new Error('hook failure');
    };
    const loop = new ReconnectLoop({
      connect: () => {
        dials += 1;
        return dials % 2 === 0 ? Promise.resolve(controlledConnection().connection) : Promise.reject(new Error('refused'));
      },
      clock,
      jitterRatio: 0,
      hooks: { onDialAttempt: boom, onSessionUp: boom, onSessionDown: boom, onDialFailed: boom, onRetryScheduled: boom },
    });
    t.after(() => loop.stop());
    loop.start();
    await waitFor(() => clock.pendingCount === 1, 'backoff timer set despite throwing hooks');
    clock.advance(1000);
    await waitFor(() => dials === 2, 'second dial after the delay');
    await loop.stop();
    assert.equal(dials, 2, 'the loop ran through throwing hooks');
  });

  it('never waits for a hook that returns a promise that never settles, nor fails on one that rejects', async (t) => {
    const clock = new FakeClock();
    let dials = 0;
    const never = (): Promise<void> => new Promise<void>(() => {});
    const rejects = (): Promise<void> => Promise.reject(new Error('async hook failure'));
    const session = controlledConnection();
    const loop = new ReconnectLoop({
      connect: () => (++dials < 3 ? Promise.reject(new Error('refused')) : Promise.resolve(session.connection)),
      clock,
      jitterRatio: 0,
      hooks: { onDialAttempt: never, onSessionUp: rejects, onSessionDown: never, onDialFailed: rejects, onRetryScheduled: never },
    });
    t.after(() => loop.stop());
    loop.start();
    await waitFor(() => clock.pendingCount === 1, 'first backoff');
    clock.advance(1000);
    await waitFor(() => dials === 2 && clock.pendingCount === 1, 'second backoff');
    clock.advance(2000);
    await waitFor(() => dials === 3, 'third dial');
    await loop.stop();
    assert.equal(session.closeCalls(), 1, 'the session came up and stop() closed it');
  });

  describe('refusals that do not fix themselves', () => {
    const wrongPath = () => new AgentEndpointNotFoundError(404, '/', '/tunnel/connect');

    it('gives up after maxRefusals identical refusals, calling onGaveUp once and dialling no more', async (t) => {
      const gaveUp: Array<{ err: Error; refusals: number }> = [];
      const logs: LogRecord[] = [];
      const { clock, loop } = startLoop(t, () => Promise.reject(new AgentAuthRejectedError(401)), {
        maxRefusals: 3,
        hooks: {
          onGaveUp: (err, refusals) => gaveUp.push({ err, refusals }),
        },
        logger: createSinkLogger((r) => logs.push(r)),
      });
      await waitFor(() => logs.filter((l) => l.msg === 'relay refused the agent; retrying').length === 1, 'first refusal logged');
      clock.advance(1000);
      await waitFor(() => logs.filter((l) => l.msg === 'relay refused the agent; retrying').length === 2, 'second refusal logged');
      clock.advance(2000);
      await waitFor(() => gaveUp.length === 1, 'gave up on the third');
      assert.equal(gaveUp[0]?.refusals, 3, 'after 3 refusals');
      assert.ok(gaveUp[0]?.err instanceof AgentAuthRejectedError, 'with the last refusal');
      assert.equal(loop.gaveUp, gaveUp[0]?.err, 'loop.gaveUp is that refusal');
      const retrying = logs.filter((l) => l.msg === 'relay refused the agent; retrying');
      assert.ok(retrying.every((l) => l.level === 'error'), 'refusals are logged at error');
      assert.deepEqual(
        retrying.map((l) => [l.fields['code'], l.fields['status'], l.fields['refusals'], l.fields['maxRefusals']]),
        [
          ['ERR_AGENT_AUTH_REJECTED', 401, 1, 3],
          ['ERR_AGENT_AUTH_REJECTED', 401, 2, 3],
        ],
        'each names code, status and the count',
      );
      assert.match(String(retrying[0]?.fields['hint']), /token create/, 'with a hint');
      const last = logs.find((l) => l.msg === 'relay refused the agent; giving up');
      assert.equal(last?.level, 'error', 'giving up is logged at error');
      clock.advance(60_000);
      await flush();
      assert.equal(logs.filter((l) => l.msg.startsWith('relay refused')).length, 3, 'no dial after giving up');
      assert.equal(loop.isRunning, true, 'stop() is still the way to end it');
    });

    it('counts only identical refusals in a row: another refusal or a session starts the count again', async (t) => {
      const outcomes: Array<() => Promise<LoopConnection>> = [
        () => Promise.reject(new AgentAuthRejectedError(401)),
        () => Promise.reject(wrongPath()),
        () => Promise.reject(wrongPath()),
        () => Promise.resolve(controlledConnection().connection),
      ];
      let dials = 0;
      const gaveUp: Error[] = [];
      const { clock, events } = startLoop(t, () => (outcomes[dials++] ?? outcomes[0]!)(), {
        maxRefusals: 3,
        stabilityThresholdMs: 0,
        hooks: {
          onDialAttempt: (attempt) => events.push({ hook: 'dial', attempt }),
          onSessionUp: () => events.push({ hook: 'up' }),
          onRetryScheduled: (attempt, delayMs) => events.push({ hook: 'retry', attempt, delayMs }),
          onGaveUp: (err) => gaveUp.push(err),
        },
      });
      for (let i = 1; i <= 3; i++) {
        await waitFor(() => events.filter((e) => e.hook === 'retry').length === i, `retry ${i}`);
        clock.advance(60_000);
      }
      await waitFor(() => events.some((e) => e.hook === 'up'), 'the session came up: 401, 404, 404 never made 3 identical ones');
      assert.deepEqual(gaveUp, [], 'never gave up');
    });

    it('retries forever with maxRefusals 0, still logging each refusal at error', async (t) => {
      const logs: LogRecord[] = [];
      const gaveUp: Error[] = [];
      const { clock } = startLoop(t, () => Promise.reject(wrongPath()), {
        hooks: { onGaveUp: (err) => gaveUp.push(err) },
        logger: createSinkLogger((r) => logs.push(r)),
      });
      for (let i = 1; i <= 8; i++) {
        await waitFor(() => logs.filter((l) => l.msg === 'relay refused the agent; retrying').length === i, `refusal ${i} logged`);
        clock.advance(60_000);
      }
      assert.deepEqual(gaveUp, [], 'never gave up');
      const first = logs.find((l) => l.msg === 'relay refused the agent; retrying');
      assert.equal(first?.level, 'error', 'at error');
      assert.equal(first?.fields['hint'], "the relay's tunnel endpoint is /tunnel/connect: dial ws(s)://HOST:PORT/tunnel/connect", 'the hint names the expected path');
      assert.equal(first?.fields['maxRefusals'], undefined, 'no limit to name');
    });

    it('keeps other dial failures at info', async (t) => {
      const logs: LogRecord[] = [];
      startLoop(t, refuse, { maxRefusals: 1, logger: createSinkLogger((r) => logs.push(r)) });
      await waitFor(() => logs.some((l) => l.msg === 'tunnel connection failed; retrying'), 'a retry logged');
      assert.equal(logs.find((l) => l.msg === 'tunnel connection failed; retrying')?.level, 'info', 'a refused TCP connection may fix itself: info');
    });
  });
});
