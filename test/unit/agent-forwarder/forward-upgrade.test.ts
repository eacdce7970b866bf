import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { closedPort } from '../../helpers/loopback.js';
import { closed, connectRaw, listen, readToEnd, readUntil, startFront, startLocal } from './harness.js';

const headEnd = (b: Buffer) => b.includes('\r\n\r\n');

describe('LocalForwarder: upgrades', () => {
  it('pipes an Upgrade: WebSocket exchange both ways, visitor half-closing first', async (t) => {
    let headSeen: { url?: string; upgrade?: string; host?: string } = {};
    const local = await startLocal(t, (_req, res) => res.end('not an upgrade'));
    local.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      headSeen = { url: req.url, upgrade: req.headers.upgrade, host: req.headers.host };
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n');
      if (head.length > 0) socket.write(head);
      socket.on('data', (c: Buffer) => socket.write(c));
      // After the visitor's FIN: one last message, then our own FIN.
      socket.on('end', () => socket.end('bye'));
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const client = await connectRaw(t, front.port);
    client.write('GET /ws?room=1 HTTP/1.1\r\nHost: edge-01.tunnel.test\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\nearly;');
    const head = await readUntil(client, (b) => headEnd(b) && b.includes('early;'));
    assert.match(head.toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/, 'the 101 passes through');
    assert.ok(head.toString('latin1').endsWith('\r\n\r\nearly;'), 'bytes sent with the head reach the local service');
    assert.deepEqual(headSeen, { url: '/ws?room=1', upgrade: 'WebSocket', host: 'edge-01.tunnel.test' }, 'the request head arrived as sent');
    client.write('ping');
    const echoed = await readUntil(client, (b) => b.toString() === 'ping');
    assert.equal(echoed.toString(), 'ping', 'data echoed through the pipe');
    client.end();
    const rest = await readToEnd(client);
    assert.equal(rest.toString(), 'bye', 'the local side kept writing after the visitor FIN, then ended the stream');
    const record = await front.nextRecord();
    assert.equal(record.upgrade, true, 'recorded as an upgrade');
    assert.equal(record.status, 101, 'status from the local 101');
    assert.equal(record.error, undefined, 'a clean close is no error');
  });

  it('pipes a non-websocket protocol, local side half-closing first', async (t) => {
    let receivedHead = '';
    let afterFin!: (data: string) => void;
    const lateData = new Promise<string>((resolve) => (afterFin = resolve));
    const raw = net.createServer({ allowHalfOpen: true }, (socket) => {
      let buf = Buffer.alloc(0);
      let upgraded = false;
      let tail = '';
      socket.on('data', (c: Buffer) => {
        if (upgraded) {
          tail += c.toString();
          return;
        }
        buf = Buffer.concat([buf, c]);
        const i = buf.indexOf('\r\n\r\n');
        if (i === -1) return;
        upgraded = true;
        receivedHead = buf.subarray(0, i + 4).toString('latin1');
        tail = buf.subarray(i + 4).toString();
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c-test\r\n\r\n');
        socket.end('server-first');
      });
      socket.on('end', () => afterFin(tail));
    });
    const port = await listen(t, raw);
    const front = await startFront(t, { localAddr: `127.0.0.1:${port}` });
    const client = await connectRaw(t, front.port);
    client.write('OPTIONS /h2 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c-test\r\nX-Custom: 1\r\n\r\n');
    const all = await readToEnd(client);
    assert.match(all.toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\nserver-first$/, 'the 101, the data, then FIN from the local side');
    assert.equal(
      receivedHead,
      'OPTIONS /h2 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c-test\r\nX-Custom: 1\r\n\r\n',
      'the request head reached the local service byte for byte',
    );
    client.end('late-data');
    assert.equal(await lateData, 'late-data', 'the visitor could still write after the local FIN');
  });

  it('applies the Host rewrite to an upgrade request', async (t) => {
    let host: string | undefined;
    const local = await startLocal(t, (_req, res) => res.end());
    local.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      host = req.headers.host;
      socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}`, hostHeader: 'local' });
    const client = await connectRaw(t, front.port);
    client.end('GET / HTTP/1.1\r\nHost: public.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
    await readToEnd(client);
    assert.equal(host, `127.0.0.1:${local.port}`, 'Host rewritten for the upgrade too');
  });

  it('answers a raw 502 with X-Tunnel-Error when the local service is down', async (t) => {
    const port = await closedPort();
    const front = await startFront(t, { localAddr: `127.0.0.1:${port}` });
    const client = await connectRaw(t, front.port);
    client.write('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    const text = (await readToEnd(client)).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 502 Bad Gateway\r\n/, 'status line 502');
    assert.match(text, /\r\nX-Tunnel-Error: ERR_AGENT_LOCAL_REFUSED\r\n/, 'X-Tunnel-Error names the cause');
    assert.match(text, /\r\nConnection: close\r\n/, 'Connection: close');
  });

  it('destroys both ends when the local side of an upgrade resets', async (t) => {
    const local = await startLocal(t, (_req, res) => res.end());
    local.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      socket.once('data', () => socket.resetAndDestroy());
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const client = await connectRaw(t, front.port);
    client.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await readUntil(client, headEnd);
    client.on('error', () => {}); // the reset reaches the client too
    client.write('boom');
    const stream = front.streams[0] as net.Socket;
    await closed(stream);
    assert.ok(stream.errored instanceof Error, 'the stream was destroyed with an error');
    assert.equal((await front.nextRecord()).error !== undefined, true, 'the record carries an error');
  });
});
