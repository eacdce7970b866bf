import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { fetch, patternBytes, startFront, startLocal } from './harness.js';

/** A local service answering with what it received. */
function echoHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      'x-echo-method': req.method,
      'x-echo-uri': req.url,
      'x-echo-host': req.headers.host ?? '',
      'x-echo-te': req.headers['transfer-encoding'] ?? '',
      'x-echo-headers': JSON.stringify(req.headers),
    });
    res.end(body);
  });
}

describe('LocalForwarder: HTTP exchanges', () => {
  it('forwards a GET with its query and the visitor Host', async (t) => {
    const local = await startLocal(t, echoHandler);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const { res } = await fetch(front.port, { path: '/hello/world?x=1&y=%20z', headers: { host: 'edge-01.tunnel.test' } });
    assert.equal(res.statusCode, 200, 'status 200');
    assert.equal(res.headers['x-echo-method'], 'GET', 'method forwarded');
    assert.equal(res.headers['x-echo-uri'], '/hello/world?x=1&y=%20z', 'path and query forwarded unchanged');
    assert.equal(res.headers['x-echo-host'], 'edge-01.tunnel.test', 'visitor Host preserved by default');
  });

  it('sets Host to localAddr with hostHeader local', async (t) => {
    const local = await startLocal(t, echoHandler);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}`, hostHeader: 'local' });
    const { res } = await fetch(front.port, { headers: { host: 'edge-01.tunnel.test' } });
    assert.equal(res.headers['x-echo-host'], `127.0.0.1:${local.port}`, 'Host rewritten to localAddr');
  });

  it('sets Host to a custom value', async (t) => {
    const local = await startLocal(t, echoHandler);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}`, hostHeader: 'dev.internal:5173' });
    const { res } = await fetch(front.port, { headers: { host: 'edge-01.tunnel.test' } });
    assert.equal(res.headers['x-echo-host'], 'dev.internal:5173', 'Host rewritten to the configured value');
  });

  for (const chunked of [false, true]) {
    it(`passes a 5 MiB download ${chunked ? 'in chunked framing' : 'with Content-Length'} byte for byte`, async (t) => {
      const data = patternBytes(5 * 1024 * 1024);
      const local = await startLocal(t, (_req, res) => {
        if (!chunked) res.setHeader('content-length', data.length);
        for (let off = 0; off < data.length; off += 64 * 1024) res.write(data.subarray(off, off + 64 * 1024));
        res.end();
      });
      const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
      const { res, body } = await fetch(front.port, { path: '/bytes' });
      if (chunked) assert.equal(res.headers['transfer-encoding'], 'chunked', 'chunked framing kept');
      else assert.equal(res.headers['content-length'], String(data.length), 'Content-Length kept');
      assert.equal(body.length, data.length, 'every byte arrived');
      assert.ok(body.equals(data), 'bytes identical');
    });
  }

  it('echoes a 1 MiB POST with Content-Length', async (t) => {
    const local = await startLocal(t, echoHandler);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const data = patternBytes(1024 * 1024);
    const { res, body } = await fetch(front.port, { method: 'POST', path: '/echo', body: data });
    assert.equal(res.headers['x-echo-method'], 'POST', 'method forwarded');
    assert.ok(body.equals(data), 'body echoed byte for byte');
    const record = await front.nextRecord();
    assert.equal(record.bytesIn, data.length, 'bytesIn counts the request body');
    assert.equal(record.bytesOut, data.length, 'bytesOut counts the response body');
    assert.equal(record.method, 'POST', 'record method');
    assert.equal(record.path, '/echo', 'record path');
    assert.equal(record.status, 200, 'record status');
    assert.equal(record.error, undefined, 'no error recorded');
    assert.equal(front.forwarder.activeCount, 0, 'no exchange left active');
  });

  it('echoes a chunked PUT, keeping it chunked', async (t) => {
    const local = await startLocal(t, echoHandler);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const parts = [patternBytes(100_000), patternBytes(7), patternBytes(300_000)];
    const { res, body } = await fetch(front.port, { method: 'PUT', path: '/echo', body: parts, chunked: true });
    assert.equal(res.headers['x-echo-method'], 'PUT', 'method forwarded');
    assert.equal(res.headers['x-echo-te'], 'chunked', 'the local service got a chunked body');
    assert.ok(body.equals(Buffer.concat(parts)), 'body echoed byte for byte');
  });

  it('forwards a chunked body on a GET with its framing', async (t) => {
    const local = await startLocal(t, echoHandler);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const { body } = await fetch(front.port, { method: 'GET', path: '/echo', body: [Buffer.from('abc')], headers: { 'transfer-encoding': 'chunked' } });
    assert.equal(body.toString(), 'abc', 'the GET body reached the local service');
  });

  it('passes the status code and reason through', async (t) => {
    const local = await startLocal(t, (_req, res) => {
      res.writeHead(418, "I'm a teapot", { 'content-type': 'text/plain' });
      res.end('short and stout');
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const { res, body } = await fetch(front.port);
    assert.equal(res.statusCode, 418, 'status 418');
    assert.equal(res.statusMessage, "I'm a teapot", 'reason phrase');
    assert.equal(body.toString(), 'short and stout', 'body');
  });

  it('answers HEAD with the headers and no body', async (t) => {
    const local = await startLocal(t, (req, res) => {
      res.writeHead(200, { 'content-length': '12345', 'x-method': req.method });
      res.end(req.method === 'HEAD' ? undefined : patternBytes(12345));
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const { res, body } = await fetch(front.port, { method: 'HEAD' });
    assert.equal(res.headers['x-method'], 'HEAD', 'HEAD forwarded');
    assert.equal(res.headers['content-length'], '12345', 'Content-Length of the resource kept');
    assert.equal(body.length, 0, 'no body');
  });

  it('passes a gzip body through unchanged, Content-Encoding kept', async (t) => {
    const plain = Buffer.from('hello gzip '.repeat(1000));
    const gz = zlib.gzipSync(plain);
    const local = await startLocal(t, (_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': gz.length, 'content-type': 'text/plain' });
      res.end(gz);
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const { res, body } = await fetch(front.port, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], 'gzip', 'Content-Encoding kept');
    assert.equal(res.headers['content-length'], String(gz.length), 'Content-Length of the gzip bytes kept');
    assert.ok(body.equals(gz), 'compressed bytes identical (not decoded)');
  });

  it('forwards response trailers', async (t) => {
    const local = await startLocal(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'X-Checksum' });
      res.write('part one, ');
      res.addTrailers({ 'X-Checksum': 'abc123' });
      res.end('part two');
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const { res, body } = await fetch(front.port);
    assert.equal(body.toString(), 'part one, part two', 'body');
    assert.equal(res.headers['transfer-encoding'], 'chunked', 'chunked framing, which trailers need');
    assert.equal(res.trailers['x-checksum'], 'abc123', 'trailer forwarded');
  });

  it('forwards request trailers', async (t) => {
    let seen: NodeJS.Dict<string> | undefined;
    const local = await startLocal(t, (req, res) => {
      req.resume();
      req.on('end', () => {
        seen = req.trailers;
        res.end('ok');
      });
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: front.port, method: 'POST', agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.write('body');
      req.addTrailers({ 'X-Upload-Checksum': 'zz9' });
      req.end();
    });
    assert.equal(seen?.['x-upload-checksum'], 'zz9', 'request trailer reached the local service');
  });

  it('delivers a streamed response incrementally', { timeout: 20_000 }, async (t) => {
    let releaseSecond!: () => void;
    const secondAllowed = new Promise<void>((resolve) => (releaseSecond = resolve));
    let secondSent = false;
    const local = await startLocal(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      void secondAllowed.then(() => {
        secondSent = true;
        res.end('second;');
      });
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const chunks: string[] = [];
    let sentWhenFirstArrived: boolean | undefined;
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: front.port, agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          chunks.push(c);
          if (sentWhenFirstArrived === undefined) {
            sentWhenFirstArrived = secondSent;
            releaseSecond();
          }
        });
        res.on('end', resolve);
      });
      req.on('error', reject);
    });
    assert.equal(sentWhenFirstArrived, false, 'the first chunk arrived before the local service sent the second');
    assert.equal(chunks.join(''), 'first;second;', 'the whole body arrived');
  });

  it('drops hop-by-hop headers both ways and keeps repeated Set-Cookie', async (t) => {
    let seen: http.IncomingHttpHeaders = {};
    const local = await startLocal(t, (req, res) => {
      seen = req.headers;
      res.setHeader('Connection', 'keep-alive, X-Hop');
      res.setHeader('X-Hop', 'drop me');
      res.setHeader('Keep-Alive', 'timeout=5');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.end('ok');
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const { res } = await fetch(front.port, {
      headers: { connection: 'X-Secret', 'x-secret': 'hop', 'proxy-authorization': 'Basic eDp5', 'x-end-to-end': 'kept' },
    });
    assert.equal(seen['x-secret'], undefined, 'a header named in Connection is not forwarded');
    assert.equal(seen['proxy-authorization'], undefined, 'Proxy-Authorization is not forwarded');
    assert.equal(seen['x-end-to-end'], 'kept', 'end-to-end headers are forwarded');
    assert.equal(res.headers['x-hop'], undefined, 'a response header named in Connection is dropped');
    assert.equal(res.headers['keep-alive'], undefined, 'Keep-Alive is dropped');
    assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2'], 'both Set-Cookie headers kept');
  });

  it('reuses one pooled local connection for sequential requests', async (t) => {
    let connections = 0;
    const local = await startLocal(t, (_req, res) => res.end('ok'));
    local.server.on('connection', () => connections++);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    for (let i = 0; i < 3; i++) {
      const { body } = await fetch(front.port);
      assert.equal(body.toString(), 'ok', `request ${i} answered`);
    }
    assert.equal(connections, 1, 'one keep-alive connection served all three');
  });

  it('ends the stream after the response even when the relay already sent FIN', async (t) => {
    const local = await startLocal(t, echoHandler);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const socket = net.connect(front.port, '127.0.0.1');
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.end('GET /fin-early HTTP/1.1\r\nHost: h\r\n\r\n');
    await once(socket, 'end');
    const text = Buffer.concat(chunks).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/, 'complete status line');
    assert.match(text, /\r\nx-echo-uri: \/fin-early\r\n/i, 'the response of this request');
  });
});

describe('LocalForwarder: Host without a Host header', () => {
  it('sends Host: localAddr when the request had none', async (t) => {
    const local = await startLocal(t, echoHandler);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const client = net.connect(front.port, '127.0.0.1');
    t.after(() => client.destroy());
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    client.write('GET /no-host HTTP/1.0\r\n\r\n');
    await once(client, 'end');
    const text = Buffer.concat(chunks).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/, 'answered');
    assert.match(text, new RegExp(`\\r\\nx-echo-host: 127\\.0\\.0\\.1:${local.port}\\r\\n`, 'i'), 'Host set to localAddr');
  });
});
