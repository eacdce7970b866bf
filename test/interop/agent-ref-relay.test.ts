/**
 * Our agent (TunnelClient/TunnelManager) against the Go reference relay and
 * origin: every scenario ../shared/interop/go/smoke.sh checks for the Go
 * client, plus relay restarts, an accept-and-drop relay, a blackholed relay
 * and a wrong token. Needs .interop-bin/ (`bash scripts/build-interop.sh`);
 * skips with one line when it is missing (fails under VISIONA_REQUIRE_INTEROP=1).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { TunnelManager } from '../../src/agent/tunnel-manager.js';
import { AgentAuthRejectedError, RelayDisconnectedError } from '../../src/agent/errors.js';
import { KeepAliveTimeoutError } from '../../src/mux/index.js';
import {
  HookRecorder,
  httpRequest,
  originPattern,
  startLocalService,
  startTestRelay,
  waitUntil,
} from '../agent/agent-fixtures.js';
import { closedPort, listenOnLoopback } from '../helpers/loopback.js';
import { waitFor } from '../helpers/wait-for.js';
import { RefProcess, type RefEvent } from '../helpers/ref-process.js';
import { interopSkip } from '../helpers/interop-skip.js';

const TOKEN = 'interop-token';

async function startOrigin(): Promise<{ process: RefProcess; addr: string }> {
  const { process, listening } = await RefProcess.start('ref-origin', ['-listen', '127.0.0.1:0']);
  return { process, addr: listening.addr as string };
}

interface RelayInfo {
  process: RefProcess;
  tunnel: string;
  public: string;
  url: string;
}

async function startRelay(listen = '127.0.0.1:0', token = TOKEN): Promise<RelayInfo> {
  const { process, listening } = await RefProcess.start('ref-relay', ['-listen', listen, '-public', '127.0.0.1:0', '-token', token]);
  return { process, tunnel: listening.tunnel as string, public: listening.public as string, url: listening.url as string };
}

describe('our agent with the Go ref-relay', { skip: interopSkip('ref-relay', 'ref-origin', 'ref-tap') }, () => {
  describe('our agent through the Go ref-relay to ref-origin', () => {
    let origin: { process: RefProcess; addr: string };
    let relay: RelayInfo;
    let manager: TunnelManager;
    const rec = new HookRecorder();
    let pub = '';

    before(async () => {
      origin = await startOrigin();
      relay = await startRelay();
      pub = `http://${relay.public}`;
      manager = new TunnelManager({ relayUrl: relay.url, token: TOKEN, localAddr: origin.addr, hooks: rec.hooks, agentVersion: 'interop-test' });
      manager.start();
      await rec.waitForCount('up', 1);
      await relay.process.waitForEvent('agent_connected');
    });

    after(async () => {
      await manager?.stop();
      await relay?.process.stop();
      await origin?.process.stop();
    });

    it('is online, on the first attempt', () => {
      assert.equal(manager.status().state, 'online', 'manager online');
      assert.deepEqual(rec.events.map((e) => e.hook), ['dial', 'up'], 'one dial, then session up');
    });

    it('GET /hello returns the origin body', async () => {
      const r = await httpRequest(`${pub}/hello`);
      assert.equal(r.status, 200, 'status 200');
      assert.equal(r.body.toString(), 'hello from origin\n', 'origin body');
    });

    it('keeps the public Host and the raw request target', async () => {
      const host = await httpRequest(`${pub}/echo?x=1`);
      assert.equal(host.headers['x-echo-host'], relay.public, 'public Host reaches the origin unchanged');
      const uri = await httpRequest(`${pub}/echo?a=1&b=%2F`);
      assert.equal(uri.headers['x-echo-uri'], '/echo?a=1&b=%2F', 'path and raw query preserved');
    });

    it('downloads 5 MiB with Content-Length byte-identical', async () => {
      const n = 5 * 1024 * 1024;
      const r = await httpRequest(`${pub}/bytes?n=${n}`);
      assert.equal(r.status, 200, 'status 200');
      assert.equal(r.headers['content-length'], String(n), 'Content-Length passed through');
      assert.equal(r.body.length, n, 'right size');
      assert.ok(r.body.equals(originPattern(n)), 'byte-identical to the origin pattern');
    });

    it('downloads 5 MiB chunked byte-identical', async () => {
      const n = 5 * 1024 * 1024;
      const r = await httpRequest(`${pub}/bytes?n=${n}&chunked=1`);
      assert.equal(r.status, 200, 'status 200');
      assert.equal(r.headers['content-length'], undefined, 'no Content-Length on a chunked response');
      assert.ok(r.body.equals(originPattern(n)), 'byte-identical to the origin pattern');
    });

    it('echoes a 1 MiB POST and a chunked 1 MiB PUT intact', async () => {
      const body = randomBytes(1024 * 1024 + 17);
      const post = await httpRequest(`${pub}/echo`, { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(post.headers['x-echo-method'], 'POST', 'POST reached the origin');
      assert.ok(post.body.equals(body), 'POST body echoed intact');
      const put = await httpRequest(`${pub}/echo`, { method: 'PUT', body, chunked: true });
      assert.equal(put.headers['x-echo-method'], 'PUT', 'PUT reached the origin');
      assert.ok(put.body.equals(body), 'chunked PUT body echoed intact');
    });

    it('passes the origin status code through (418)', async () => {
      const r = await httpRequest(`${pub}/status?code=418`);
      assert.equal(r.status, 418, 'status 418');
    });

    it('answers HEAD with 200, the length and no body', async () => {
      const r = await httpRequest(`${pub}/bytes?n=1000`, { method: 'HEAD' });
      assert.equal(r.status, 200, 'status 200');
      assert.equal(r.headers['content-length'], '1000', 'Content-Length of the would-be body');
      assert.equal(r.body.length, 0, 'no body');
    });

    it('delivers a streamed response complete', async () => {
      const r = await httpRequest(`${pub}/stream?n=3&ms=50`);
      assert.equal(r.body.toString(), 'tick 0\ntick 1\ntick 2\n', 'every tick, in order');
    });

    it('keeps the gzip body and its Content-Encoding (no transparent decompression)', async () => {
      const tunneled = await httpRequest(`${pub}/gzip?n=20000`, { headers: { 'Accept-Encoding': 'gzip' } });
      const direct = await httpRequest(`http://${origin.addr}/gzip?n=20000`, { headers: { 'Accept-Encoding': 'gzip' } });
      assert.equal(tunneled.headers['content-encoding'], 'gzip', 'Content-Encoding kept');
      assert.ok(tunneled.body.equals(direct.body), 'compressed bytes identical to a direct fetch');
      assert.match(gunzipSync(tunneled.body).toString(), /^line 0\n/, 'a valid gzip body');
    });

    it('completes 16 concurrent requests, one stream each', async () => {
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) => httpRequest(`${pub}/bytes?n=${300_000 + i + 1}`)),
      );
      results.forEach((r, i) => {
        assert.equal(r.status, 200, `request ${i} status 200`);
        assert.ok(r.body.equals(originPattern(300_000 + i + 1)), `request ${i} body intact`);
      });
    });

    it('echoes WebSocket text and a 256 KiB binary message (ws client)', async () => {
      const ws = new WebSocket(`ws://${relay.public}/ws`, { perMessageDeflate: false });
      const messages: Array<{ data: Buffer; isBinary: boolean }> = [];
      ws.on('message', (data: Buffer, isBinary: boolean) => messages.push({ data, isBinary }));
      await once(ws, 'open');
      ws.send('hello through the tunnel');
      await waitUntil(() => messages.length === 1, 'text echo');
      assert.equal(messages[0]?.isBinary, false, 'text frame echoed as text');
      assert.equal(messages[0]?.data.toString(), 'hello through the tunnel', 'text echoed');
      const blob = randomBytes(256 * 1024);
      ws.send(blob);
      await waitUntil(() => messages.length === 2, 'binary echo');
      assert.equal(messages[1]?.isBinary, true, 'binary frame echoed as binary');
      assert.ok(messages[1]?.data.equals(blob), '256 KiB binary echoed intact');
      const closed = once(ws, 'close');
      ws.close(1000);
      const [code] = (await closed) as [number];
      assert.equal(code, 1000, 'clean close');
    });

    it('passes the Go WebSocket probe (text + 256 KiB binary, clean close)', async () => {
      const events = await RefProcess.run('ref-origin', ['-ws-probe', `ws://${relay.public}/ws`, '-timeout', '20s']);
      const probe = events.find((e) => e.event === 'ws_probe');
      assert.equal(probe?.ok, true, `probe ok (${JSON.stringify(probe)})`);
    });

    it('counts served requests and bytes in the manager status', async () => {
      // The last exchange's stream closes just after its response is read.
      await waitFor(() => manager.status().activeStreams === 0, 'every stream of the earlier tests to close');
      const s = manager.status();
      assert.ok(s.requestsServed >= 10, `requests counted (${s.requestsServed})`);
      assert.ok(s.bytesOut >= 10 * 1024 * 1024, `response bytes counted (${s.bytesOut})`);
      assert.ok(s.bytesIn >= 2 * 1024 * 1024, `request bytes counted (${s.bytesIn})`);
      assert.equal(s.activeStreams, 0, 'no stream left open');
    });
  });

  describe('our agent streaming a response', () => {
    it('delivers each part as the local service writes it, before the response is complete', async (t) => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const local = await startLocalService(t, (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('tick 0\n');
        // The second part is written only once the visitor has the first.
        void released.then(() => res.end('tick 1\n'));
      });
      const relay = await startRelay();
      t.after(() => relay.process.stop());
      const manager = new TunnelManager({ relayUrl: relay.url, token: TOKEN, localAddr: local.addr });
      t.after(() => manager.stop());
      manager.start();
      await relay.process.waitForEvent('agent_connected');
      const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get(`http://${relay.public}/stream`, { agent: false }, resolve).once('error', reject),
      );
      const [first] = (await once(res, 'data')) as [Buffer];
      assert.equal(first.toString(), 'tick 0\n', 'the first part arrived on its own');
      assert.equal(res.complete, false, 'the response is not complete yet');
      release();
      const rest: Buffer[] = [];
      for await (const c of res) rest.push(c as Buffer);
      assert.equal(Buffer.concat(rest).toString(), 'tick 1\n', 'the second part followed');
    });
  });

  describe('our agent with the local service down', () => {
    it('answers 502 itself, naming the cause, not the relay', async (t) => {
      const relay = await startRelay();
      t.after(() => relay.process.stop());
      const rec = new HookRecorder();
      const manager = new TunnelManager({ relayUrl: relay.url, token: TOKEN, localAddr: `127.0.0.1:${await closedPort()}`, hooks: rec.hooks });
      t.after(() => manager.stop());
      manager.start();
      await relay.process.waitForEvent('agent_connected');
      const r = await httpRequest(`http://${relay.public}/hello`);
      assert.equal(r.status, 502, 'status 502');
      assert.equal(r.headers['x-tunnel-relay'], undefined, "not the relay's own 502");
      assert.equal(r.headers['x-tunnel-error'], 'ERR_AGENT_LOCAL_REFUSED', 'cause named in X-Tunnel-Error');
    });
  });

  describe('our agent when the relay goes away', () => {
    it('reconnects after a relay restart, backing off 1x, 2x, 4x, 8x the base delay while it is down', async (t) => {
      const origin = await startOrigin();
      t.after(() => origin.process.stop());
      let relay = await startRelay();
      t.after(() => relay.process.stop());
      const rec = new HookRecorder();
      const manager = new TunnelManager({
        relayUrl: relay.url,
        token: TOKEN,
        localAddr: origin.addr,
        hooks: rec.hooks,
        jitterRatio: 0,
        backoffInitialMs: 50,
        backoffMaxMs: 400,
        stabilityThresholdMs: 0,
      });
      t.after(() => manager.stop());
      manager.start();
      await rec.waitForCount('up', 1);

      // 1. Stop the relay: the session ends with a cause, the agent starts redialling.
      await relay.process.stop();
      await rec.waitForCount('down', 1);
      const downCause = rec.of('down')[0]?.err;
      assert.ok(downCause instanceof RelayDisconnectedError, `RelayDisconnectedError, got ${downCause?.name}`);
      // ref-relay writes its close frame 1000 and closes the TCP connection at once, without waiting
      // for our answering close frame: when ours reaches it first, its kernel answers with a RST,
      // which can discard the 1000 still unread on our side (1006). Either way the cause is the relay's.
      assert.ok(downCause.closeCode === 1000 || downCause.closeCode === 1006, `the relay closed the WebSocket (1000, or 1006 when its RST overtook the close frame), got ${downCause.closeCode}`);
      // 2. While it is down, consecutive failures follow the schedule.
      await rec.waitForCount('retry', 6);
      assert.deepEqual(
        rec.of('retry').slice(0, 6).map((r) => [r.attempt, r.delayMs]),
        [
          [1, 50],
          [2, 100],
          [3, 200],
          [4, 400],
          [5, 400],
          [6, 400],
        ],
        'attempts count up and delays double to the cap',
      );
      assert.equal(manager.status().state, 'reconnecting', 'manager shows reconnecting');
      assert.ok(manager.status().lastError !== null, 'manager shows the last error');
      // 3. Restart the relay on the same address: the agent comes back and serves again.
      relay = await startRelay(relay.tunnel);
      await rec.waitForCount('up', 2);
      await relay.process.waitForEvent('agent_connected');
      assert.equal(manager.status().state, 'online', 'online again');
      const r = await httpRequest(`http://${relay.public}/hello`);
      assert.equal(r.body.toString(), 'hello from origin\n', 'requests flow after the restart');
    });

    it('does not storm a relay that accepts and drops at once: each short session backs off', async (t) => {
      const relay = await startTestRelay(t, { mode: 'raw', onSocket: (ws) => ws.close(1000) });
      const rec = new HookRecorder();
      const manager = new TunnelManager({
        relayUrl: relay.url,
        token: TOKEN,
        localAddr: '127.0.0.1:9',
        hooks: rec.hooks,
        jitterRatio: 0,
        backoffInitialMs: 50,
        backoffMaxMs: 400,
      });
      t.after(() => manager.stop());
      manager.start();
      // The window: until the 6th retry is scheduled (at least 50+100+200+400+400 ms of waiting).
      await rec.waitForCount('retry', 6);
      const dials = relay.upgrades.length;
      assert.equal(dials, 6, `6 upgrades in the window, not a storm (got ${dials})`);
      assert.deepEqual(rec.of('retry').slice(0, 6).map((r) => r.delayMs), [50, 100, 200, 400, 400, 400], 'short sessions back off on the schedule');
      assert.equal(rec.of('up').length, 6, 'every dial was accepted');
    });

    it('detects a blackholed relay by keepalive and redials', async (t) => {
      const origin = await startOrigin();
      t.after(() => origin.process.stop());
      const relay = await startRelay();
      t.after(() => relay.process.stop());
      const proxy = await startBlackholeProxy(t, relay.tunnel);
      const rec = new HookRecorder();
      const manager = new TunnelManager({
        relayUrl: `ws://127.0.0.1:${proxy.port}/tunnel/connect`,
        token: TOKEN,
        localAddr: origin.addr,
        hooks: rec.hooks,
        keepAliveIntervalMs: 200,
        keepAliveTimeoutMs: 1000,
        backoffInitialMs: 50,
        jitterRatio: 0,
      });
      t.after(() => manager.stop());
      manager.start();
      await rec.waitForCount('up', 1);
      // The relay's end stays open; every byte is dropped from now on, both ways.
      proxy.blackholeExisting();
      await rec.waitForCount('down', 1);
      const cause = rec.of('down')[0]?.err;
      assert.ok(cause instanceof KeepAliveTimeoutError, `KeepAliveTimeoutError, got ${cause?.name}: ${cause?.message}`);
      assert.equal(manager.status().lastError?.code, 'ERR_MUX_KEEPALIVE_TIMEOUT', 'manager shows the keepalive timeout');
      await rec.waitForCount('up', 2);
      await relay.process.waitForEvent('agent_connected', (e) => e.id === 2);
      const r = await httpRequest(`http://${relay.public}/hello`);
      assert.equal(r.body.toString(), 'hello from origin\n', 'requests flow on the new session');
    });
  });

  describe('our agent with a wrong token', () => {
    it('fails the dial with status 401 and shows ERR_AGENT_AUTH_REJECTED', async (t) => {
      const relay = await startRelay();
      t.after(() => relay.process.stop());
      const rec = new HookRecorder();
      const manager = new TunnelManager({ relayUrl: relay.url, token: 'wrong', localAddr: '127.0.0.1:9', hooks: rec.hooks, backoffInitialMs: 60_000, backoffMaxMs: 60_000 });
      t.after(() => manager.stop());
      manager.start();
      await rec.waitForCount('retry', 1);
      const err = rec.of('failed')[0]?.err;
      assert.ok(err instanceof AgentAuthRejectedError, `AgentAuthRejectedError, got ${err?.name}`);
      assert.equal(err.statusCode, 401, 'statusCode 401');
      const s = manager.status();
      assert.equal(s.lastError?.code, 'ERR_AGENT_AUTH_REJECTED', 'lastError.code');
      assert.equal(s.lastError?.statusCode, 401, 'lastError.statusCode');
      assert.equal(s.state, 'connecting', 'still connecting');
      assert.ok(s.nextRetryAt !== null, 'a retry is scheduled');
      const rejected: RefEvent = await relay.process.waitForEvent('agent_rejected');
      assert.equal(rejected.status, 401, 'the relay rejected it with 401');
    });
  });

  describe('our agent on the wire, seen by ref-tap', () => {
    it('acknowledges the stream, ends it with one FIN, and closes the WebSocket with 1000 on stop', async (t) => {
      const origin = await startOrigin();
      t.after(() => origin.process.stop());
      const relay = await startRelay();
      t.after(() => relay.process.stop());
      const { process: tap, listening } = await RefProcess.start('ref-tap', ['-listen', '127.0.0.1:0', '-target', `ws://${relay.tunnel}`]);
      t.after(() => tap.stop());
      const rec = new HookRecorder();
      const manager = new TunnelManager({ relayUrl: `ws://${listening.addr as string}/tunnel/connect`, token: TOKEN, localAddr: origin.addr, hooks: rec.hooks });
      t.after(() => manager.stop());
      manager.start();
      await relay.process.waitForEvent('agent_connected');
      const r = await httpRequest(`http://${relay.public}/hello`);
      assert.equal(r.body.toString(), 'hello from origin\n', 'request through the tap');
      await manager.stop();
      await tap.waitForEvent('ws_close', (e) => e.dir === 'c2r');
      const frames = tap.events.filter((e) => e.event === 'frame');
      const flags = (e: RefEvent): string[] => (e.flags as string[] | undefined) ?? [];
      assert.ok(
        frames.some((e) => e.dir === 'c2r' && e.type === 'window_update' && flags(e).includes('ACK') && e.stream === 2),
        'window_update ACK for stream 2',
      );
      const fins = frames.filter((e) => e.dir === 'c2r' && e.stream === 2 && flags(e).includes('FIN'));
      assert.equal(fins.length, 1, 'one FIN from the agent on stream 2');
      assert.ok(frames.filter((e) => e.dir === 'c2r' && e.stream !== 0).every((e) => Number(e.stream) % 2 === 0), 'the agent opened no stream');
      assert.ok(!tap.events.some((e) => e.event === 'ws_message' && e.type === 'text'), 'binary messages only');
      const close = tap.events.find((e) => e.event === 'ws_close' && e.dir === 'c2r');
      assert.match(String(close?.error), /close 1000/, 'close frame 1000 from the agent');
    });
  });

  /** A TCP proxy whose existing connections can be blackholed: sockets stay open, every byte is dropped. */
  async function startBlackholeProxy(t: TestContext, target: string): Promise<{ port: number; blackholeExisting(): void }> {
    const [host, portText] = target.split(':') as [string, string];
    const pairs: Array<{ client: net.Socket; upstream: net.Socket; holed: boolean }> = [];
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(portText), host);
      const pair = { client, upstream, holed: false };
      pairs.push(pair);
      client.on('data', (d) => {
        if (!pair.holed) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!pair.holed) client.write(d);
      });
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', () => {
        if (!pair.holed) upstream.destroy();
      });
      upstream.on('close', () => {
        if (!pair.holed) client.destroy();
      });
    });
    const port = await listenOnLoopback(t, server);
    t.after(() => {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
    });
    return {
      port,
      blackholeExisting: () => {
        for (const p of pairs) p.holed = true;
      },
    };
  }
});
