/**
 * The terminal status panel: the pure renderer, the in-place redraw on a
 * terminal (escape sequences, throttling on a fake clock, output printed
 * above it), and one log line per event elsewhere.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { ConnectionStatus } from '../../src/agent/connection-status.js';
import type { LocalRequestRecord } from '../../src/agent/local-forwarder.js';
import { RequestRecorder, type RecordedRequest } from '../../src/agent/request-recorder.js';
import { renderStatusPanel, StatusPanel, type StatusPanelStatus } from '../../src/cli/status-panel.js';
import { AgentEndpointNotFoundError } from '../../src/agent/errors.js';
import { describeConnectionError } from '../../src/agent/connection-status.js';
import { createSinkLogger, type LogRecord } from '../../src/shared/logger.js';
import { FakeClock } from '../helpers/mux-fake-clock.js';

const NOW = 1_700_000_000_000;

function status(over: Partial<StatusPanelStatus> = {}): StatusPanelStatus {
  return {
    state: 'online',
    attempt: 0,
    lastError: null,
    nextRetryAt: null,
    since: NOW - 65_000,
    lastPingRttMs: 1.25,
    requestsServed: 12,
    bytesIn: 2048,
    bytesOut: 3 * 1024 * 1024,
    activeStreams: 2,
    relayUrl: 'ws://127.0.0.1:8080/tunnel/connect',
    visitorUrl: 'http://edge-01.example.test/',
    localAddr: '127.0.0.1:3000',
    ...over,
  };
}

function request(id: number, over: Partial<RecordedRequest> = {}): RecordedRequest {
  return {
    id,
    time: NOW,
    method: 'GET',
    path: `/r/${id}`,
    status: 200,
    durationMs: 3.14,
    bytesIn: 0,
    bytesOut: 1536,
    upgrade: false,
    headers: [],
    replayable: true,
    ...over,
  };
}

function localRecord(path: string): LocalRequestRecord {
  return { method: 'GET', path, status: 200, durationMs: 1, bytesIn: 0, bytesOut: 5, upgrade: false };
}

/** A stand-in for the TunnelManager. */
class FakeSource extends EventEmitter {
  current: ConnectionStatus = status();
  status(): ConnectionStatus {
    return this.current;
  }
  subscribe(listener: (s: ConnectionStatus) => void): () => void {
    this.on('state', listener);
    return () => this.off('state', listener);
  }
  set(over: Partial<ConnectionStatus>): void {
    this.current = { ...this.current, ...over };
    this.emit('state', this.current);
  }
}

describe('renderStatusPanel', () => {
  it('shows one line per HA link (node, state, ping, error) once there are two or more, none for one', () => {
    const link = (index: number, over: object) => ({ index, state: 'online' as const, since: NOW - 5_000, attempt: 0, lastError: null, nextRetryAt: null, node: null, relayUrl: null, rttMs: null, ...over });
    const two = renderStatusPanel(
      status({
        links: [
          link(0, { node: 'n1', rttMs: 2 }),
          link(1, { state: 'connecting', lastError: { code: 'ERR_AGENT_RELAY_ELSEWHERE', message: 'sent elsewhere' } }),
        ],
      }),
      [],
      { width: 120, now: NOW },
    );
    const lines = two.filter((l) => l.includes('link '));
    assert.equal(lines.length, 2, 'two link lines');
    assert.match(lines[0] as string, /link 0 +● online {2}node n1 {2}ping 2(\.0+)? ms/, 'link 0: state, node and ping');
    assert.match(lines[1] as string, /link 1 +● connecting.*ERR_AGENT_RELAY_ELSEWHERE/, 'link 1: state and its error code');
    const one = renderStatusPanel(status({ links: [link(0, { node: 'n1' })] }), [], { width: 120, now: NOW });
    assert.equal(one.filter((l) => l.includes('link 0')).length, 0, 'no link line for a single link');
  });

  it('shows state, relay, visitor URL, ping, requests and bytes', () => {
    const text = renderStatusPanel(status(), [], { width: 100, now: NOW }).join('\n');
    assert.match(text, /● online {2}for 1 min 5 s/, 'state and how long');
    assert.match(text, /relay +ws:\/\/127\.0\.0\.1:8080\/tunnel\/connect/, 'relay URL');
    assert.match(text, /visitor +http:\/\/edge-01\.example\.test\//, 'visitor URL');
    assert.match(text, /ping +1\.3 ms/, 'ping RTT');
    assert.match(text, /12 served, 2 active, 2\.0 KiB in, 3\.0 MiB out/, 'counters and bytes');
    assert.match(text, /no requests yet/, 'an empty request list says so');
    assert.equal(text.includes('\x1b['), false, 'no escape sequences without colour');
  });

  it('shows the reconnect attempt, the countdown to the next retry and the last error', () => {
    const lines = renderStatusPanel(
      status({
        state: 'reconnecting',
        attempt: 3,
        nextRetryAt: NOW + 4_000,
        lastPingRttMs: null,
        lastError: { code: 'ERR_MUX_KEEPALIVE_TIMEOUT', message: 'keepalive timed out' },
        visitorUrl: null,
      }),
      [],
      { width: 100, now: NOW },
    );
    const text = lines.join('\n');
    assert.match(text, /● reconnecting/, 'state');
    assert.match(text, /attempt 3, next retry in 4 s/, 'attempt and countdown');
    assert.match(text, /ERR_MUX_KEEPALIVE_TIMEOUT: keepalive timed out/, 'last error');
    assert.match(text, /visitor +unknown/, 'unknown visitor URL');
    assert.match(text, /ping +-/, 'no RTT yet');
  });

  it('shows the hint of a refusal that does not fix itself under the last error', () => {
    const err = new AgentEndpointNotFoundError(404, '/', '/tunnel/connect');
    const lines = renderStatusPanel(status({ state: 'connecting', attempt: 2, lastError: describeConnectionError(err) }), [], { width: 200, now: NOW });
    const at = lines.findIndex((l) => l.includes('last error'));
    assert.match(lines[at] ?? '', /ERR_AGENT_ENDPOINT_NOT_FOUND: Relay has no tunnel endpoint at this path \(status: 404, path: \/\)/, 'the error');
    assert.equal(lines[at + 1], "  hint       the relay's tunnel endpoint is /tunnel/connect: dial ws(s)://HOST:PORT/tunnel/connect", 'the hint, on the next line');
    const plain = renderStatusPanel(status({ lastError: { code: 'ERR_TRANSPORT_CLOSED', message: 'closed' } }), [], { width: 200, now: NOW });
    assert.ok(!plain.some((l) => l.includes('hint')), 'no hint line for errors without one');
  });

  it('lists the last requests newest first, at most maxRequests', () => {
    const requests = Array.from({ length: 12 }, (_, i) => request(i + 1));
    requests.push(request(13, { method: 'POST', path: '/fail', status: 502, error: 'ERR_AGENT_LOCAL_REFUSED' }));
    const lines = renderStatusPanel(status(), requests, { width: 120, now: NOW });
    const rows = lines.filter((l) => /\/r\/\d+|\/fail/.test(l));
    assert.equal(rows.length, 10, 'ten requests shown');
    assert.match(rows[0] as string, /POST +502 +3\.1 ms +1\.5 KiB {2}\/fail {2}ERR_AGENT_LOCAL_REFUSED/, 'newest first with status, duration, size, path, error');
    assert.match(rows[9] as string, /\/r\/4$/, 'the oldest shown is the tenth newest');
  });

  it('cuts every line to the width and strips control characters', () => {
    const long = request(1, { path: `/${'x'.repeat(300)}\x1b[2J` });
    const lines = renderStatusPanel(status({ relayUrl: `ws://${'r'.repeat(200)}` }), [long], { width: 40, now: NOW, color: true });
    for (const line of lines) {
      // eslint-disable-next-line no-control-regex -- removing our colour codes to measure
      const visible = line.replace(/\x1b\[\d+m/g, '');
      assert.ok(visible.length <= 39, `line fits 39 columns: ${JSON.stringify(visible)}`);
      assert.equal(line.includes('\x1b[2J'), false, 'a clear-screen sequence from a path never reaches the terminal');
    }
    assert.ok(lines.some((l) => l.includes('…')), 'cut lines end with an ellipsis');
  });

  it('colours the state and statuses when asked', () => {
    const text = renderStatusPanel(status(), [request(1, { status: 404 })], { width: 100, now: NOW, color: true }).join('\n');
    assert.ok(text.includes('\x1b[32m● online'), 'online in green');
    assert.ok(text.includes('\x1b[33m404'), '4xx in yellow');
  });
});

describe('StatusPanel', () => {
  it('on a terminal, redraws in place at most once per interval, and prints other output above it', () => {
    const clock = new FakeClock();
    const source = new FakeSource();
    source.current = status({ since: clock.now() });
    const recorder = new RequestRecorder({ clock });
    const writes: string[] = [];
    const panel = new StatusPanel({
      source,
      recorder,
      isTty: true,
      write: (t) => writes.push(t),
      logger: createSinkLogger(() => {}),
      columns: () => 80,
      color: false,
      clock,
      minRedrawIntervalMs: 250,
      refreshIntervalMs: 1000,
    });
    panel.start();
    assert.equal(writes.length, 1, 'drawn once at start');
    const firstLines = (writes[0] as string).split('\n').length - 1;
    assert.equal((writes[0] as string).startsWith('\r\x1b['), false, 'the first drawing erases nothing');

    recorder.record(localRecord('/one'));
    recorder.record(localRecord('/two'));
    source.set({ state: 'reconnecting' });
    assert.equal(writes.length, 1, 'events within 250 ms wait for the next slot');
    clock.advance(250);
    assert.equal(writes.length, 2, 'one redraw for the three events');
    const second = writes[1] as string;
    assert.ok(second.startsWith(`\r\x1b[${firstLines}A\x1b[J`), 'the redraw moves up over the previous panel and clears it');
    assert.match(second, /\/two[\s\S]*\/one/, 'both requests, newest first');
    assert.match(second, /reconnecting/, 'the new state');

    const secondLines = second.split('\n').length - 1;
    panel.print('a log line\n');
    const printed = writes[2] as string;
    assert.ok(printed.startsWith(`\r\x1b[${secondLines}A\x1b[J${'a log line\n'}`), 'the log line replaces the panel');
    assert.match(writes[3] as string, /visiona-tunnel agent/, 'and the panel is drawn again below it');

    clock.advance(1000);
    assert.ok(writes.length >= 5, 'the panel refreshes on its own (countdowns)');
    panel.stop();
    panel.stop();
    const count = writes.length;
    clock.advance(5000);
    source.set({ state: 'stopped' });
    assert.equal(writes.length, count, 'nothing is drawn after stop()');
  });

  it('elsewhere, logs one line per state change and per request, and no escape sequence', () => {
    const source = new FakeSource();
    const recorder = new RequestRecorder();
    const logs: LogRecord[] = [];
    const writes: string[] = [];
    const panel = new StatusPanel({ source, recorder, isTty: false, write: (t) => writes.push(t), logger: createSinkLogger((r) => logs.push(r)) });
    panel.start();
    source.set({ state: 'reconnecting', attempt: 2, lastError: { code: 'ERR_TRANSPORT_CLOSED', message: 'closed' } });
    recorder.record({ ...localRecord('/x?token=abc'), requestHeaders: ['Authorization', 'Bearer zzz'] });
    panel.stop();
    recorder.record(localRecord('/after'));
    assert.deepEqual(logs.map((l) => l.msg), ['tunnel state', 'request'], 'one line per event, none after stop()');
    assert.equal(logs[0]?.fields.state, 'reconnecting', 'state logged');
    assert.equal(logs[0]?.fields.lastError, 'ERR_TRANSPORT_CLOSED', 'error code logged');
    assert.equal(logs[1]?.fields.path, '/x?token=[masked]', 'the query token is masked');
    assert.equal(JSON.stringify(logs).includes('zzz'), false, 'no header credential in any log line');
    assert.equal(writes.length, 0, 'nothing drawn');
  });
});
