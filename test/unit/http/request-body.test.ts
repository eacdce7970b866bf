/**
 * requestHasBody: the framing rule the forwarders use to end an upstream
 * request at once (RFC 9112 section 6.3), checked on headers as Node's
 * parser hands them over, and end to end through a real Node server.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import { requestHasBody } from '../../../src/http/index.js';
import { listenOnLoopback } from '../../helpers/loopback.js';

describe('requestHasBody', () => {
  it('is false without Transfer-Encoding and with no or a zero Content-Length', () => {
    assert.equal(requestHasBody({}), false, 'no framing header: no body');
    assert.equal(requestHasBody({ 'content-length': '0' }), false, 'Content-Length: 0');
    assert.equal(requestHasBody({ host: 'x', accept: '*/*' }), false, 'other headers do not matter');
  });

  it('is true with a positive Content-Length or any Transfer-Encoding', () => {
    assert.equal(requestHasBody({ 'content-length': '1' }), true, 'Content-Length: 1');
    assert.equal(requestHasBody({ 'content-length': '1048576' }), true, 'Content-Length: 1 MiB');
    assert.equal(requestHasBody({ 'transfer-encoding': 'chunked' }), true, 'chunked');
    assert.equal(requestHasBody({ 'transfer-encoding': 'gzip, chunked' }), true, 'a coding list ending in chunked');
  });

  it('agrees with what Node\'s parser delivers for raw requests', async (t) => {
    const seen: Array<{ hasBody: boolean; bytes: number }> = [];
    const server = http.createServer((req, res) => {
      const hasBody = requestHasBody(req.headers);
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        seen.push({ hasBody, bytes });
        res.end('ok');
      });
    });
    const port = await listenOnLoopback(t, server);
    // Each request is written raw on its own connection, so the framing is exactly the test's.
    const send = (raw: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.write(raw));
        socket.once('error', reject);
        socket.once('data', () => {
          socket.destroy();
          resolve();
        });
      });
    await send('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await send('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n');
    await send('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc');
    await send('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n');
    assert.deepEqual(seen, [
      { hasBody: false, bytes: 0 },
      { hasBody: false, bytes: 0 },
      { hasBody: true, bytes: 3 },
      { hasBody: true, bytes: 2 },
    ]);
  });
});
