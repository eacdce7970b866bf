/**
 * HA links on the agent side: a relay that sends a link elsewhere is redialed
 * after a short pause, then backed off; a session the relay releases
 * (GoAway normal) is replaced at once while it keeps serving until it ends by
 * itself (make before break), and `stop()` closes both; the manager runs one
 * client per link, online while any link is, with every link in `status()`.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ELSEWHERE_RETRY_MAX_MS, ReconnectLoop, type LoopConnect, type LoopConnection } from '../../src/agent/reconnect-loop.js';
import { RelayElsewhereError, RelayMovedError } from '../../src/agent/errors.js';
import type { TunnelClientHooks } from '../../src/agent/tunnel-client-hooks.js';
import type { TunnelClientOptions } from '../../src/agent/tunnel-client-config.js';
import { TunnelManager, type ManagedTunnelClient } from '../../src/agent/tunnel-manager.js';
import { FakeClock } from '../helpers/mux-fake-clock.js';
import { waitFor } from '../helpers/mux-sessions.js';

/** A session the test ends or releases by hand. */
function controlledConnection(): { connection: LoopConnection; end(err?: Error): void; release(): void; closeCalls: () => number } {
  let resolveClosed!: (err: Error | undefined) => void;
  let resolveReleased!: (err: Error) => void;
  const closed = new Promise<Error | undefined>((resolve) => (resolveClosed = resolve));
  const released = new Promise<Error>((resolve) => (resolveReleased = resolve));
  let calls = 0;
  return {
    connection: {
      closed,
      released,
      close: () => {
        calls += 1;
        resolveClosed(undefined);
        return closed.then(() => undefined);
      },
    },
    end: (err) => resolveClosed(err),
    release: () => resolveReleased(new RelayMovedError()),
    closeCalls: () => calls,
  };
}

function startLoop(t: TestContext, connect: LoopConnect, random = () => 0.5) {
  const clock = new FakeClock();
  const downs: Array<Error | undefined> = [];
  const released: Error[] = [];
  const retries: number[] = [];
  let dials = 0;
  const hooks: TunnelClientHooks = {
    onDialAttempt: () => (dials += 1),
    onSessionDown: (err) => downs.push(err),
    onSessionReleased: (err) => released.push(err),
    onRetryScheduled: (_attempt, delayMs) => retries.push(delayMs),
  };
  const loop = new ReconnectLoop({ connect, clock, jitterRatio: 0, random, hooks, stabilityThresholdMs: 0 });
  t.after(() => loop.stop());
  loop.start();
  return { clock, loop, downs, released, retries, dials: () => dials };
}

describe('HA links: the reconnect loop', () => {
  it('redials a link sent elsewhere after a pause under 250 ms, 8 times in a row, then backs off as usual', async (t) => {
    const { clock, retries } = startLoop(t, () => Promise.reject(new RelayElsewhereError('ERR_RELAY_LINK_ON_THIS_NODE')));
    for (let i = 1; i <= 10; i++) {
      await waitFor(() => retries.length === i, `retry ${i} scheduled`);
      clock.advance(retries[i - 1] as number);
    }
    const quick = (ELSEWHERE_RETRY_MAX_MS * 0.5) | 0;
    assert.deepEqual(retries, [quick, quick, quick, quick, quick, quick, quick, quick, 1000, 2000], 'eight quick redials, then 1 s, 2 s');
  });

  it('reports the end of a released session that ends before its replacement is up (a kick) as the session going down', async (t) => {
    const sessions: ReturnType<typeof controlledConnection>[] = [];
    let failNext = false;
    const connect: LoopConnect = (_attempt, signal) => {
      // The replacement dial hangs until the loop is stopped.
      if (failNext) return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
      const c = controlledConnection();
      sessions.push(c);
      failNext = true;
      return Promise.resolve(c.connection);
    };
    const { downs, released } = startLoop(t, connect);
    await waitFor(() => sessions.length === 1, 'first session');
    sessions[0]?.release();
    await waitFor(() => released.length === 1, 'released');
    const kicked = new Error('kicked');
    sessions[0]?.end(kicked);
    await waitFor(() => downs.length === 1, 'a session down');
    assert.equal(downs[0], kicked, 'with the end of the old session as its cause');
  });

  it('dials the replacement of a released session at once and leaves the old one to end by itself; stop() closes both', async (t) => {
    const sessions: ReturnType<typeof controlledConnection>[] = [];
    const connect: LoopConnect = () => {
      const c = controlledConnection();
      sessions.push(c);
      return Promise.resolve(c.connection);
    };
    const { loop, downs, released, dials } = startLoop(t, connect);
    await waitFor(() => sessions.length === 1, 'first session');
    sessions[0]?.release();
    await waitFor(() => sessions.length === 2, 'the replacement dialed without any delay (the fake clock never moved)');
    assert.equal(dials(), 2, 'two dials');
    assert.ok(released[0] instanceof RelayMovedError, 'the hooks hear that the link moved');
    assert.deepEqual(downs, [], 'and no session down: the old one still serves');
    assert.equal(sessions[0]?.closeCalls(), 0, 'the old session is not closed by the agent: its streams finish');
    await waitFor(() => sessions.length === 2, 'the replacement up');
    sessions[0]?.end(new Error('drained'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(downs, [], 'the old session ends silently once its replacement is up');
    sessions[1]?.release();
    await waitFor(() => sessions.length === 3, 'the next replacement');
    await loop.stop();
    assert.equal(sessions[1]?.closeCalls(), 1, 'stop() closes the released session too');
    assert.equal(sessions[2]?.closeCalls(), 1, 'and the current one');
  });
});

/** A client stub: the test fires the hooks the manager gave it. */
class StubClient implements ManagedTunnelClient {
  readonly hooks: Required<TunnelClientHooks>;
  readonly options: TunnelClientOptions;
  relayHeaders: Record<string, string> | null = null;
  started = 0;
  constructor(options: TunnelClientOptions) {
    this.options = options;
    this.hooks = options.hooks as Required<TunnelClientHooks>;
  }
  start(): void {
    this.started += 1;
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

function manager(links: number | 'auto', moreRelayUrls: string[] = []) {
  const stubs: StubClient[] = [];
  const m = new TunnelManager({
    relayUrl: 'ws://127.0.0.1:9/tunnel/connect',
    moreRelayUrls,
    token: 'secret-token',
    localAddr: '127.0.0.1:3000',
    clock: new FakeClock(),
    links,
    createClient: (o) => {
      const s = new StubClient(o);
      stubs.push(s);
      return s;
    },
  });
  return { m, stubs };
}

describe('HA links: the manager', () => {
  it('runs one client per link with a shared instance id and its link index; online while any link is', () => {
    const { m, stubs } = manager(2);
    assert.equal(stubs.length, 2, 'two clients');
    assert.equal(stubs[0]?.options.instanceId, stubs[1]?.options.instanceId, 'one agent instance');
    assert.deepEqual(stubs.map((s) => s.options.linkIndex ?? 0), [0, 1], 'link indexes 0 and 1');
    m.start();
    assert.deepEqual(stubs.map((s) => s.started), [1, 1], 'both started');
    stubs[1]?.hooks.onDialAttempt(1);
    stubs[1]?.hooks.onSessionUp();
    assert.equal(m.status().state, 'online', 'online with link 1 alone');
    stubs[0]?.hooks.onDialAttempt(1);
    stubs[0]?.hooks.onDialFailed(1, new RelayElsewhereError('ERR_RELAY_DRAINING'));
    const links = m.status().links ?? [];
    assert.deepEqual(links.map((l) => [l.index, l.state, l.lastError?.code ?? null]), [
      [0, 'connecting', 'ERR_AGENT_RELAY_ELSEWHERE'],
      [1, 'online', null],
    ], 'each link with its own state and error');
    assert.equal(m.status().lastError, null, 'the manager reports the online link');
    stubs[1]?.hooks.onSessionDown(new RelayMovedError());
    assert.equal(m.status().state, 'reconnecting', 'no link online: reconnecting');
  });

  it("'auto' holds two links for two relay URLs, one for one URL, and adds the second once the relay answers as a cluster node", () => {
    assert.equal(manager('auto', ['ws://127.0.0.1:10/tunnel/connect']).stubs.length, 2, 'two URLs: two links');
    const { m, stubs } = manager('auto');
    assert.equal(stubs.length, 1, 'one URL: one link');
    m.start();
    (stubs[0] as StubClient).relayHeaders = { 'x-tunnel-node': 'n1' };
    stubs[0]?.hooks.onSessionUp();
    assert.equal(stubs.length, 2, 'a cluster node: a second link');
    assert.equal(stubs[1]?.started, 1, 'started at once');
    assert.equal(m.status().links?.[0]?.node, 'n1', 'link 0 shows its node');
  });

  it("'auto' on one relay URL gives up the second link after 5 refusals from the node of the first, and does not add it again", () => {
    const { m, stubs } = manager('auto');
    m.start();
    (stubs[0] as StubClient).relayHeaders = { 'x-tunnel-node': 'n1' };
    stubs[0]?.hooks.onSessionUp();
    for (let i = 1; i <= 5; i++) stubs[1]?.hooks.onDialFailed(i, new RelayElsewhereError('ERR_RELAY_LINK_ON_THIS_NODE'));
    assert.equal(m.status().links?.length, 1, 'one link left');
    stubs[0]?.hooks.onSessionDown(new RelayMovedError());
    stubs[0]?.hooks.onSessionUp();
    assert.equal(stubs.length, 2, 'no third client: the second link is not added again');
    assert.equal(m.status().links?.length, 1, 'still one link');
  });

  it('keeps an explicit --links 2 whatever the refusals', () => {
    const { m, stubs } = manager(2);
    m.start();
    for (let i = 1; i <= 10; i++) stubs[1]?.hooks.onDialFailed(i, new RelayElsewhereError('ERR_RELAY_LINK_ON_THIS_NODE'));
    assert.equal(m.status().links?.length, 2, 'two links');
  });

  it('refuses a links value outside 1-8 with a ConfigError naming it', () => {
    assert.throws(() => manager(0), (err: Error & { code?: string; field?: string }) => err.code === 'ERR_CONFIG_INVALID' && err.field === 'links');
    assert.throws(() => manager(9), /links/);
  });
});
