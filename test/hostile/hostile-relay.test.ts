/**
 * Our agent (TunnelClient) facing a hostile relay written here: a `ws`
 * server on /tunnel/connect that speaks raw yamux frames (`RawPeer` over the
 * WebSocket duplex) and sends garbage, protocol violations, huge window
 * updates, thousands of SYNs, and requests that name other hosts. The agent
 * must answer violations with GoAway(protocol error) and redial, reset
 * streams over its limit (RST), keep its stream count within `maxStreams`,
 * survive on a session whose peer only misbehaves within the rules, and
 * never open a connection anywhere but `localAddr`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { WebSocketServer } from 'ws';
import { TunnelClient } from '../../src/agent/index.js';
import { Flag, FrameType, GoAwayCode, MuxProtocolError } from '../../src/mux/index.js';
import { DEFAULT_TUNNEL_CLIENT_CONFIG } from '../../src/agent/tunnel-client-config.js';
import { HandshakeTimeoutError, WebSocketDuplex } from '../../src/transport/index.js';
import { RawPeer, frameBytes } from '../helpers/mux-raw-peer.js';
import { waitFor } from '../relay/relay-fixtures.js';
import { listenOnLoopback } from '../helpers/loopback.js';
import { startRecordingService, type RecordingService } from './hostile-fixtures.js';

/** A relay of our own that hands each agent connection to the test as a raw yamux peer. */
interface HostileRelay {
  url: string;
  /** Raw peers, one per accepted agent connection, in order. */
  peers: RawPeer[];
  /** Waits for the `n`-th (1-based) connection. */
  peer(n: number): Promise<RawPeer>;
}

async function startHostileRelay(t: TestContext): Promise<HostileRelay> {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  const peers: RawPeer[] = [];
  const duplexes: WebSocketDuplex[] = [];
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    if (!(req.url ?? '').startsWith('/tunnel/connect')) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      const duplex = new WebSocketDuplex(ws);
      duplex.on('error', () => {});
      duplexes.push(duplex);
      peers.push(new RawPeer(duplex));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const d of duplexes) d.destroy();
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/tunnel/connect`,
    peers,
    peer: async (n) => {
      await waitFor(() => peers.length >= n, `agent connection ${n}`);
      return peers[n - 1] as RawPeer;
    },
  };
}

/** A TCP listener that must never be connected to: it counts every connection. */
async function startDecoy(t: TestContext): Promise<{ port: number; readonly connections: number }> {
  let connections = 0;
  const server = net.createServer((s) => {
    connections += 1;
    s.destroy();
  });
  const port = await listenOnLoopback(t, server);
  return {
    port,
    get connections() {
      return connections;
    },
  };
}

interface AgentUnderTest {
  client: TunnelClient;
  /** Errors `onSessionDown` reported, in order. */
  sessionDowns: Array<Error | undefined>;
  dialFailures: Error[];
}

function startAgent(t: TestContext, relayUrl: string, local: RecordingService, options: { handshakeTimeoutMs?: number } = {}): AgentUnderTest {
  const sessionDowns: Array<Error | undefined> = [];
  const dialFailures: Error[] = [];
  const client = new TunnelClient({
    relayUrl,
    token: 'vt_hostile_relay_test_token',
    localAddr: local.addr,
    jitterRatio: 0,
    backoffInitialMs: 20,
    backoffMaxMs: 100,
    stabilityThresholdMs: 0,
    keepAliveIntervalMs: 0,
    ...options,
    hooks: {
      onSessionDown: (err) => sessionDowns.push(err),
      onDialFailed: (_attempt, err) => dialFailures.push(err),
    },
  });
  t.after(() => client.stop());
  client.start();
  return { client, sessionDowns, dialFailures };
}

/** Opens stream `id` from the relay side and sends one HTTP request on it (SYN with the request as data, then FIN). */
function sendRequest(peer: RawPeer, id: number, request: string): void {
  const bytes = Buffer.from(request, 'latin1');
  peer.send(FrameType.Data, Flag.SYN, id, bytes.length, bytes);
  peer.send(FrameType.WindowUpdate, Flag.FIN, id, 0);
}

/** The payload the agent sent back on stream `id`, as latin1 text. */
function replyOn(peer: RawPeer, id: number): string {
  return Buffer.concat(peer.frames.filter((f) => f.header.type === FrameType.Data && f.header.streamId === id).map((f) => f.payload)).toString('latin1');
}

/** Waits until the agent has ended stream `id` (FIN or RST). */
async function streamEnded(peer: RawPeer, id: number): Promise<'fin' | 'rst'> {
  const f = await peer.waitForFrame((x) => x.header.streamId === id && (x.header.flags & (Flag.FIN | Flag.RST)) !== 0, `the end of stream ${id}`);
  return (f.header.flags & Flag.RST) !== 0 ? 'rst' : 'fin';
}

describe('Agent facing a hostile relay', () => {
  it('answers each protocol violation with GoAway(protocol error), reports it, and redials', async (t) => {
    const relay = await startHostileRelay(t);
    const local = await startRecordingService(t, 'local');
    const agent = startAgent(t, relay.url, local);
    const violations: Array<[string, Buffer]> = [
      ['garbage bytes', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      ['version 1', frameBytes(FrameType.Ping, Flag.SYN, 0, 1, undefined, 1)],
      ['unknown type 7', frameBytes(7, 0, 2, 0)],
      ['a SYN with the agent\'s own (odd) parity', frameBytes(FrameType.WindowUpdate, Flag.SYN, 3, 0)],
      ['a stream frame on stream 0', frameBytes(FrameType.Data, Flag.SYN, 0, 0)],
      ['a Data frame longer than any window', frameBytes(FrameType.Data, Flag.SYN, 2, 0xffff_ffff)],
      ['data on a stream never opened', frameBytes(FrameType.Data, 0, 40, 16, Buffer.alloc(16))],
      ['a duplicate SYN', Buffer.concat([frameBytes(FrameType.WindowUpdate, Flag.SYN, 2, 0), frameBytes(FrameType.WindowUpdate, Flag.SYN, 2, 0)])],
      ['a window update overflowing the send window', Buffer.concat([frameBytes(FrameType.WindowUpdate, Flag.SYN, 2, 0), frameBytes(FrameType.WindowUpdate, 0, 2, 0xffff_ffff)])],
      [
        'data beyond the stream window',
        Buffer.concat([frameBytes(FrameType.WindowUpdate, Flag.SYN, 2, 0), frameBytes(FrameType.Data, 0, 2, 200_000, Buffer.alloc(200_000)), frameBytes(FrameType.Data, 0, 2, 100_000, Buffer.alloc(100_000))]),
      ],
    ];
    for (const [i, [what, bytes]] of violations.entries()) {
      const peer = await relay.peer(i + 1);
      peer.sendBytes(bytes);
      assert.equal(await peer.goAwayCode(), GoAwayCode.ProtocolError, `${what}: the agent answers GoAway(1)`);
      await peer.waitEnded();
      await waitFor(() => agent.sessionDowns.length >= i + 1, `${what}: onSessionDown`);
      const err = agent.sessionDowns[i];
      assert.ok(err instanceof MuxProtocolError, `${what}: onSessionDown reports a MuxProtocolError (got: ${String(err)})`);
    }
    await relay.peer(violations.length + 1);
    assert.equal(local.connections, 0, 'no violation ever made the agent connect to the local service');
  });

  it('resets SYNs beyond maxStreams, keeps its stream count within it, and serves again once they are gone', async (t) => {
    const relay = await startHostileRelay(t);
    const local = await startRecordingService(t, 'local');
    const agent = startAgent(t, relay.url, local);
    const peer = await relay.peer(1);
    const maxStreams = DEFAULT_TUNNEL_CLIENT_CONFIG.maxStreams;
    const synCount = maxStreams + 2000;
    const ids = Array.from({ length: synCount }, (_, i) => 2 * (i + 1));
    const heapBefore = process.memoryUsage().heapUsed;
    peer.sendBytes(Buffer.concat(ids.map((id) => frameBytes(FrameType.WindowUpdate, Flag.SYN, id, 0))));
    await peer.roundTrip();
    const acked = new Set(peer.frames.filter((f) => (f.header.flags & Flag.ACK) !== 0 && f.header.type === FrameType.WindowUpdate).map((f) => f.header.streamId));
    const reset = new Set(peer.frames.filter((f) => (f.header.flags & Flag.RST) !== 0).map((f) => f.header.streamId));
    assert.equal(acked.size, maxStreams, `${maxStreams} SYNs acknowledged`);
    assert.equal(reset.size, synCount - maxStreams, 'every SYN over the limit reset');
    assert.ok(ids.every((id) => acked.has(id) !== reset.has(id)), 'each SYN either acknowledged or reset, never both');
    const session = agent.client.session;
    assert.ok(session !== null && !session.isClosed, 'the session survived the flood');
    assert.equal(session.streamCount, maxStreams, 'the agent holds exactly maxStreams streams');
    assert.equal(agent.client.activeStreams, maxStreams, 'and serves no more than that');
    assert.equal(local.connections, 0, 'streams without a request never reach the local service');
    t.diagnostic(`SYN flood: ${synCount} SYNs, ${acked.size} acknowledged, ${reset.size} reset; heap grew ${((process.memoryUsage().heapUsed - heapBefore) / 2 ** 20).toFixed(1)} MiB (test process: relay side and agent)`);
    // The relay resets the streams it holds; the agent frees them and serves a real request.
    peer.sendBytes(Buffer.concat([...acked].map((id) => frameBytes(FrameType.WindowUpdate, Flag.RST, id, 0))));
    await waitFor(() => session.streamCount === 0, 'the agent to free every reset stream');
    const id = 2 * (synCount + 1);
    sendRequest(peer, id, 'GET /after-flood HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(await streamEnded(peer, id), 'fin', 'the request after the flood completes');
    assert.match(replyOn(peer, id), /^HTTP\/1\.1 200 /, 'and is answered 200');
    assert.deepEqual(local.requests.map((r) => r.url), ['/after-flood'], 'the local service saw only that request');
  });

  it('accepts huge but legal window updates, ignores window updates for unknown streams, and keeps serving', async (t) => {
    const relay = await startHostileRelay(t);
    const local = await startRecordingService(t, 'local');
    const agent = startAgent(t, relay.url, local);
    const peer = await relay.peer(1);
    peer.sendBytes(
      Buffer.concat([
        // Up to exactly the largest 32-bit send window: 256 KiB + 0x7fffffff + 0x7ffc0000 = 0xffffffff.
        frameBytes(FrameType.WindowUpdate, Flag.SYN, 2, 0x7fff_ffff),
        frameBytes(FrameType.WindowUpdate, 0, 2, 0x7ffc_0000),
        frameBytes(FrameType.WindowUpdate, 0, 1000, 0xffff_ffff),
        frameBytes(FrameType.WindowUpdate, 0, 0x7fff_fffe, 0xffff_ffff),
        frameBytes(FrameType.Ping, Flag.ACK, 0, 12345),
        frameBytes(FrameType.GoAway, 0, 0, GoAwayCode.Normal),
      ]),
    );
    await peer.roundTrip();
    assert.deepEqual(agent.sessionDowns, [], 'legal if odd frames do not end the session');
    assert.equal(agent.client.session?.isClosed, false, 'the first session is still up');
    sendRequest(peer, 4, 'GET /after-windows HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(await streamEnded(peer, 4), 'fin', 'a request after them completes');
    assert.match(replyOn(peer, 4), /^HTTP\/1\.1 200 /, 'and is answered 200');
    assert.equal(peer.framesOfType(FrameType.GoAway).length, 0, 'no GoAway was sent');
  });

  it('never connects anywhere but localAddr, whatever host the request names', async (t) => {
    const relay = await startHostileRelay(t);
    const local = await startRecordingService(t, 'local');
    const decoy = await startDecoy(t);
    startAgent(t, relay.url, local);
    const peer = await relay.peer(1);
    const elsewhere = `127.0.0.1:${decoy.port}`;
    const requests: Array<[string, string]> = [
      ['an absolute-form target', `GET http://${elsewhere}/abs HTTP/1.1\r\nHost: ${elsewhere}\r\n\r\n`],
      ['an absolute-form https target', `GET https://${elsewhere}/abs-tls HTTP/1.1\r\nHost: ${elsewhere}\r\n\r\n`],
      ['a Host naming another service', `GET /host HTTP/1.1\r\nHost: ${elsewhere}\r\n\r\n`],
      ['a protocol-relative target', `GET //${elsewhere}/pr HTTP/1.1\r\nHost: ${elsewhere}\r\n\r\n`],
      ['an IPv6 absolute-form target', `GET http://[::1]:${decoy.port}/v6 HTTP/1.1\r\nHost: [::1]:${decoy.port}\r\n\r\n`],
      ['an upgrade naming another service', `GET http://${elsewhere}/ws HTTP/1.1\r\nHost: ${elsewhere}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`],
      ['a CONNECT to another service', `CONNECT ${elsewhere} HTTP/1.1\r\nHost: ${elsewhere}\r\n\r\n`],
      ['X-Forwarded-Host and Forwarded naming another service', `GET /fwd HTTP/1.1\r\nHost: x\r\nX-Forwarded-Host: ${elsewhere}\r\nForwarded: host=${elsewhere}\r\n\r\n`],
    ];
    let id = 2;
    for (const [what, request] of requests) {
      sendRequest(peer, id, request);
      await streamEnded(peer, id);
      assert.ok(replyOn(peer, id).startsWith('HTTP/1.1 '), `${what}: answered on the stream`);
      id += 2;
    }
    assert.equal(decoy.connections, 0, 'the agent never connected to the other service');
    assert.ok(local.requests.length >= requests.length - 1, 'the requests went to the local service instead (CONNECT is refused)');
    assert.match(replyOn(peer, id - 4), /^HTTP\/1\.1 405 /, 'CONNECT is answered 405');
  });

  it('answers malformed and oversized requests on a stream itself, without touching the local service', async (t) => {
    const relay = await startHostileRelay(t);
    const local = await startRecordingService(t, 'local');
    startAgent(t, relay.url, local);
    const peer = await relay.peer(1);
    const cases: Array<[string, string, number]> = [
      ['not HTTP', 'hello there\r\n\r\n', 400],
      ['Content-Length with Transfer-Encoding', 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
      ['obs-fold', 'GET /x HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n', 400],
      ['a 130 KiB header', `GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(130 * 1024)}\r\n\r\n`, 431],
    ];
    let id = 2;
    for (const [what, request, status] of cases) {
      // The 130 KiB case is over the agent's 128 KiB head limit and still within the 256 KiB window.
      sendRequest(peer, id, request);
      await streamEnded(peer, id);
      assert.match(replyOn(peer, id), new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: answered ${status} by the agent`);
      id += 2;
    }
    assert.equal(local.connections, 0, 'the local service was never connected to');
  });

  it('gives up on a relay that accepts TCP but never answers the upgrade, after handshakeTimeoutMs, and keeps retrying', async (t) => {
    const sockets = new Set<net.Socket>();
    let accepted = 0;
    const silent = net.createServer((s) => {
      accepted += 1;
      sockets.add(s);
      s.resume();
      s.on('error', () => {});
      s.once('close', () => sockets.delete(s));
    });
    const silentPort = await listenOnLoopback(t, silent);
    const local = await startRecordingService(t, 'local');
    const agent = startAgent(t, `ws://127.0.0.1:${silentPort}/tunnel/connect`, local, { handshakeTimeoutMs: 200 });
    await waitFor(() => agent.dialFailures.length >= 3, 'three failed dials');
    assert.ok(agent.dialFailures.every((e) => e instanceof HandshakeTimeoutError), 'each dial failed with HandshakeTimeoutError');
    assert.ok(accepted >= 3, 'the agent redialled');
    await agent.client.stop();
    await waitFor(() => sockets.size === 0, 'the agent to close its stalled connections');
  });
});
