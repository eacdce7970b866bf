import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { LocalForwarder, type LocalRequestRecord } from '../../../src/agent/local-forwarder.js';
import { Session, StreamResetError, type MuxStream } from '../../../src/mux/index.js';
import { createDuplexPair } from '../../helpers/duplex-pair.js';
import { closed, startLocal, waitFor } from './harness.js';

/** A relay session (yamux server) and an agent session (yamux client) whose streams go to a forwarder. */
function tunnel(t: TestContext, localPort: number): { relay: Session; forwarder: LocalForwarder; agentStreams: MuxStream[]; records: LocalRequestRecord[] } {
  const [a, b] = createDuplexPair();
  const relay = new Session(a, { role: 'server', keepAliveIntervalMs: 0 });
  const agent = new Session(b, { role: 'client', keepAliveIntervalMs: 0 });
  const records: LocalRequestRecord[] = [];
  const forwarder = new LocalForwarder({ localAddr: `127.0.0.1:${localPort}`, onRequest: (r) => records.push(r) });
  const agentStreams: MuxStream[] = [];
  agent.on('stream', (s: MuxStream) => {
    agentStreams.push(s);
    forwarder.handle(s);
  });
  t.after(async () => {
    await forwarder.close();
    relay.destroy();
    agent.destroy();
  });
  return { relay, forwarder, agentStreams, records };
}

/** The relay's way of proxying: Node's HTTP client over a new stream. */
function requestOverStream(stream: MuxStream, options: http.RequestOptions, body?: Buffer): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...options, headers: { host: 'edge-01.tunnel.test', ...options.headers }, createConnection: () => stream }, resolve);
    req.on('error', reject);
    req.end(body);
  });
}

describe('LocalForwarder over a real mux stream', () => {
  it('answers a POST, then FINs the stream instead of resetting it', async (t) => {
    const local = await startLocal(t, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(Buffer.concat(chunks)));
    });
    const { relay, agentStreams, forwarder } = tunnel(t, local.port);
    const stream = relay.openStream();
    const body = Buffer.alloc(1024 * 1024, 5);
    const res = await requestOverStream(stream, { method: 'POST', path: '/echo' }, body);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(body), '1 MiB echoed through the mux stream');
    await waitFor(() => stream.readableEnded, 'the relay stream to see FIN');
    stream.end();
    const agentStream = agentStreams[0] as MuxStream;
    await closed(agentStream);
    assert.equal(agentStream.errored, null, 'the agent stream closed cleanly (FIN both ways, no RST)');
    assert.equal(forwarder.activeCount, 0, 'the exchange is finished');
  });

  it('records a complete exchange without error and keeps its local connection pooled for the next one', async (t) => {
    let connections = 0;
    const local = await startLocal(t, (_req, res) => res.end('hello'));
    local.server.on('connection', () => connections++);
    const { relay, records } = tunnel(t, local.port);
    for (let i = 0; i < 3; i++) {
      const stream = relay.openStream();
      const res = await requestOverStream(stream, { path: `/hello?i=${i}` });
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'hello', `response ${i} complete`);
      await waitFor(() => stream.readableEnded, 'the relay stream to see FIN');
      stream.end();
      await waitFor(() => records.length === i + 1, `exchange ${i} to be recorded`);
    }
    assert.deepEqual(records.map((r) => [r.status, r.error]), [[200, undefined], [200, undefined], [200, undefined]], 'every exchange is recorded as a success');
    assert.equal(connections, 1, 'the three exchanges reused one pooled local connection');
  });

  it('forwards an absolute-form target in origin-form to localAddr only', async (t) => {
    const seen: string[] = [];
    const local = await startLocal(t, (req, res) => {
      seen.push(req.url ?? '');
      res.end('ok');
    });
    const { relay } = tunnel(t, local.port);
    const res = await requestOverStream(relay.openStream(), { path: 'http://elsewhere.example:9/steal?x=1' });
    res.resume();
    assert.equal(res.statusCode, 200, 'the local service answered');
    assert.deepEqual(seen, ['/steal?x=1'], 'the local service got the origin-form target');
  });

  it('resets the stream when the local service dies mid-body', async (t) => {
    const local = await startLocal(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      res.write(Buffer.alloc(32 * 1024, 1), () => res.socket?.destroy());
    });
    const { relay } = tunnel(t, local.port);
    const stream = relay.openStream();
    const streamError = new Promise<unknown>((resolve) => stream.once('error', resolve));
    const res = await requestOverStream(stream, { path: '/big' });
    res.on('error', () => {});
    res.resume();
    assert.ok((await streamError) instanceof StreamResetError, 'the relay side gets an RST, not a FIN');
  });

  it('closes the local connection when the relay resets the stream mid-download', async (t) => {
    let localClosed!: () => void;
    const localSocketClosed = new Promise<void>((resolve) => (localClosed = resolve));
    const local = await startLocal(t, (req, res) => {
      req.socket.once('close', () => localClosed());
      res.writeHead(200);
      res.write(Buffer.alloc(16 * 1024, 2));
    });
    const { relay, records } = tunnel(t, local.port);
    const stream = relay.openStream();
    stream.on('error', () => {});
    const res = await requestOverStream(stream, { path: '/download' });
    res.on('error', () => {});
    await new Promise<void>((resolve) => res.once('data', () => resolve()));
    stream.destroy();
    await localSocketClosed;
    await waitFor(() => records.length === 1, 'the exchange record');
    assert.equal(records[0]?.error, 'ERR_ABORTED', 'recorded as aborted by the relay');
  });

  it('pipes an upgrade through the mux stream', async (t) => {
    const local = await startLocal(t, (_req, res) => res.end());
    local.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      socket.on('data', (c: Buffer) => socket.write(c));
      socket.on('end', () => socket.end());
    });
    const { relay } = tunnel(t, local.port);
    const stream = relay.openStream();
    const upgraded = new Promise<{ socket: Duplex; head: Buffer; res: http.IncomingMessage }>((resolve, reject) => {
      const req = http.request({
        path: '/ws',
        headers: { host: 'h', connection: 'Upgrade', upgrade: 'websocket' },
        createConnection: () => stream,
      });
      req.on('upgrade', (res, socket, head) => resolve({ res, socket, head }));
      req.on('error', reject);
      req.end();
    });
    const { res, socket } = await upgraded;
    assert.equal(res.statusCode, 101, '101 through the tunnel');
    const payload = Buffer.alloc(256 * 1024, 3);
    const echoed: Buffer[] = [];
    socket.on('data', (c: Buffer) => echoed.push(c));
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    socket.end(payload);
    await ended;
    assert.ok(Buffer.concat(echoed).equals(payload), '256 KiB echoed, then FIN after the relay FIN');
  });
});
