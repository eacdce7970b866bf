import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { TunnelError } from '../../../src/shared/errors.js';
import { isBufferUtilActive } from '../../../src/transport/buffer-util-check.js';
import { connectDuplexPair, connectDuplexToRawPeer, readBytes, waitFor } from '../../helpers/ws-fixtures.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }));
}

function errorOf(stream: NodeJS.EventEmitter): Promise<Error> {
  return once(stream, 'error').then(([err]) => err as Error);
}

describe('WebSocketDuplex', () => {
  it('uses native masking from bufferutil', () => {
    assert.equal(isBufferUtilActive(), true, 'bufferutil (or Node native masking) should be active');
  });

  it('delivers bytes intact and in order both ways, whatever the chunking', async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 150 * KiB }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 150 * KiB }), { maxLength: 12 }),
        fc.constantFrom(1 * KiB, 16 * KiB, 1 * MiB),
        async (clientSizes, serverSizes, maxMessageBytes) => {
          const { client, server } = await connectDuplexPair(t, { maxMessageBytes });
          const clientChunks = clientSizes.map((n) => randomBytes(n));
          const serverChunks = serverSizes.map((n) => randomBytes(n));
          const atServer = readBytes(server, clientSizes.reduce((a, b) => a + b, 0));
          const atClient = readBytes(client, serverSizes.reduce((a, b) => a + b, 0));
          for (const c of clientChunks) client.write(c);
          for (const c of serverChunks) server.write(c);
          assert.deepEqual(await atServer, Buffer.concat(clientChunks), 'server should read exactly what the client wrote');
          assert.deepEqual(await atClient, Buffer.concat(serverChunks), 'client should read exactly what the server wrote');
          client.destroy();
          server.destroy();
        },
      ),
      { numRuns: 50 },
    );
  });

  it('coalesces many small writes of one tick into fewer messages', async (t) => {
    const { duplex, peer } = await connectDuplexToRawPeer(t);
    const received: Buffer[] = [];
    peer.on('message', (data: Buffer) => received.push(data));
    const writes = Array.from({ length: 1000 }, (_, i) => Buffer.from(`w${String(i).padStart(5, '0')};`));
    for (const w of writes) duplex.write(w);
    const total = writes.reduce((a, w) => a + w.length, 0);
    await waitFor(() => received.reduce((a, m) => a + m.length, 0) >= total, 'peer received every byte');
    assert.ok(received.length < writes.length / 10, `1000 writes should travel in far fewer messages (got ${received.length})`);
    assert.deepEqual(Buffer.concat(received), Buffer.concat(writes), 'coalesced bytes should arrive in write order');
  });

  it('splits a write larger than maxMessageBytes into several messages', async (t) => {
    const { duplex, peer } = await connectDuplexToRawPeer(t, { maxMessageBytes: 64 * KiB });
    const sizes: number[] = [];
    const received: Buffer[] = [];
    peer.on('message', (data: Buffer) => {
      sizes.push(data.length);
      received.push(data);
    });
    const payload = randomBytes(200 * KiB);
    duplex.write(payload);
    await waitFor(() => received.reduce((a, m) => a + m.length, 0) >= payload.length, 'peer received the whole write');
    assert.ok(sizes.every((n) => n <= 64 * KiB), `no message should exceed 64 KiB (got ${sizes.join(', ')})`);
    assert.deepEqual(Buffer.concat(received), payload, 'split parts should reassemble to the write');
  });

  it('reports write backpressure from the socket and drains once the peer reads again', async (t) => {
    const chunkBytes = 64 * KiB;
    const highWaterMark = 1 * MiB;
    const totalChunks = 1024; // 64 MiB: more than loopback kernel buffers hold while the peer is paused
    const { duplex, peer } = await connectDuplexToRawPeer(t, { writableHighWaterMarkBytes: highWaterMark }, (ws) => ws.pause());
    let peerBytes = 0;
    let orderIntact = true;
    peer.on('message', (data: Buffer) => {
      for (let i = 0; i < data.length; i += 4099) {
        if (data[i] !== Math.floor((peerBytes + i) / chunkBytes) % 251) orderIntact = false;
      }
      peerBytes += data.length;
    });

    let sawFalse = false;
    let maxBuffered = 0; // bytes held by the duplex plus bytes handed to ws but not flushed
    let waitingForDrain = false;
    const pump = (async () => {
      for (let i = 0; i < totalChunks; i++) {
        const ok = duplex.write(Buffer.alloc(chunkBytes, i % 251));
        maxBuffered = Math.max(maxBuffered, duplex.writableLength + duplex.webSocket.bufferedAmount);
        if (!ok) {
          sawFalse = true;
          waitingForDrain = true;
          await once(duplex, 'drain');
          waitingForDrain = false;
        }
      }
    })();

    await waitFor(() => waitingForDrain && duplex.webSocket.bufferedAmount > 0, 'writer blocked on a socket that does not flush');
    assert.equal(sawFalse, true, 'write() should return false while the peer is not reading');
    assert.equal(peerBytes, 0, 'a paused peer should have received nothing');

    peer.resume();
    await pump;
    await waitFor(() => peerBytes === totalChunks * chunkBytes, 'peer received every byte');
    const bound = 2 * (highWaterMark + chunkBytes);
    assert.ok(maxBuffered <= bound, `memory held for sending should stay bounded (max ${maxBuffered}, bound ${bound})`);
    assert.equal(orderIntact, true, 'bytes should arrive in order');
  });

  it('pauses the socket while the reader does not read, and resumes it on read', async (t) => {
    const highWaterMark = 64 * KiB;
    const { duplex, peer } = await connectDuplexToRawPeer(t, { readableHighWaterMarkBytes: highWaterMark });
    let maxReadableLength = 0;
    duplex.webSocket.on('message', () => (maxReadableLength = Math.max(maxReadableLength, duplex.readableLength)));
    const messageBytes = 1 * MiB;
    const messages = 64;
    for (let i = 0; i < messages; i++) peer.send(Buffer.alloc(messageBytes, i), { binary: true });

    await waitFor(() => duplex.webSocket.isPaused, 'socket paused by a full readable buffer');
    assert.ok(peer.bufferedAmount > 0, 'the sender should still hold data it could not send');

    const all = await readBytes(duplex, messages * messageBytes);
    assert.equal(all.length, messages * messageBytes, 'every byte should arrive once the reader reads');
    assert.equal(all[all.length - 1], messages - 1, 'the last byte should come from the last message');
    assert.ok(maxReadableLength <= highWaterMark + 2 * messageBytes, `readable buffer should stay bounded (max ${maxReadableLength})`);
    await waitFor(() => peer.bufferedAmount === 0, 'sender flushed everything');
  });

  it('treats a text message as a protocol error and closes with 1003', async (t) => {
    const { duplex, peer } = await connectDuplexToRawPeer(t);
    const peerClosed = closeOf(peer);
    const failed = errorOf(duplex);
    peer.send('hello', { binary: false });
    const err = await failed;
    assert.ok(err instanceof TunnelError, 'error should be a TunnelError');
    assert.equal(err.code, 'ERR_TRANSPORT_PROTOCOL', 'error code should be ERR_TRANSPORT_PROTOCOL');
    assert.equal((await peerClosed).code, 1003, 'peer should see close code 1003');
  });

  it('sends close 1000 after the written data on end()', async (t) => {
    const { duplex, peer } = await connectDuplexToRawPeer(t);
    const received: Buffer[] = [];
    peer.on('message', (data: Buffer) => received.push(data));
    const peerClosed = closeOf(peer);
    const closed = once(duplex, 'close');
    duplex.resume();
    duplex.end(Buffer.from('last words'));
    assert.equal((await peerClosed).code, 1000, 'peer should see close code 1000');
    assert.equal(Buffer.concat(received).toString(), 'last words', 'data written before end() should arrive before the close');
    await closed;
    assert.equal(duplex.errored, null, 'the duplex should close without error');
  });

  it('ends the readable side when the peer closes with 1000 or 1001', async (t) => {
    for (const code of [1000, 1001]) {
      const { duplex, peer } = await connectDuplexToRawPeer(t);
      const ended = once(duplex, 'end');
      peer.send(Buffer.from('tail'));
      peer.close(code);
      const data = await readBytes(duplex, 4);
      duplex.resume();
      await ended;
      assert.equal(data.toString(), 'tail', `data sent before close ${code} should be readable`);
      assert.equal(duplex.closeCode, code, `closeCode should be ${code}`);
    }
  });

  it('fails with ERR_TRANSPORT_CLOSED when the peer terminates abruptly', async (t) => {
    const { duplex, peer } = await connectDuplexToRawPeer(t);
    const failed = errorOf(duplex);
    peer.terminate();
    const err = await failed;
    assert.equal((err as TunnelError).code, 'ERR_TRANSPORT_CLOSED', 'error code should be ERR_TRANSPORT_CLOSED');
    assert.equal(duplex.closeCode, 1006, 'closeCode should be 1006 for an abrupt end');
    assert.match(err.message, /1006/, 'message should include the close code');
  });

  it('fails with the close code and reason when the peer closes abnormally', async (t) => {
    const { duplex, peer } = await connectDuplexToRawPeer(t);
    const failed = errorOf(duplex);
    peer.close(4001, 'replaced by newer agent');
    const err = await failed;
    assert.equal((err as TunnelError).code, 'ERR_TRANSPORT_CLOSED', 'error code should be ERR_TRANSPORT_CLOSED');
    assert.equal(duplex.closeCode, 4001, 'closeCode should be 4001');
    assert.equal(duplex.closeReason, 'replaced by newer agent', 'closeReason should be the peer reason');
    assert.match(err.message, /4001/, 'message should include the close code');
  });

  it('fails a write made after the peer closed', async (t) => {
    const { duplex, peer } = await connectDuplexToRawPeer(t);
    peer.close(1000);
    await waitFor(() => duplex.closeCode !== undefined, 'close seen');
    const failed = errorOf(duplex);
    duplex.write(Buffer.from('too late'));
    assert.equal(((await failed) as TunnelError).code, 'ERR_TRANSPORT_CLOSED', 'late write should fail with ERR_TRANSPORT_CLOSED');
  });

  it('sends close 1011 on destroy(err) and 1000 on destroy()', async (t) => {
    const first = await connectDuplexToRawPeer(t);
    const firstClosed = closeOf(first.peer);
    first.duplex.destroy(new Error('boom'));
    assert.equal((await firstClosed).code, 1011, 'destroy(err) should close with 1011');

    const second = await connectDuplexToRawPeer(t);
    const secondClosed = closeOf(second.peer);
    second.duplex.destroy();
    assert.equal((await secondClosed).code, 1000, 'destroy() should close with 1000');
  });

  it('closeGracefully resolves after the close handshake and is idempotent', async (t) => {
    const { duplex, peer } = await connectDuplexToRawPeer(t);
    const peerClosed = closeOf(peer);
    const [first, second] = await Promise.all([duplex.closeGracefully(), duplex.closeGracefully()]);
    assert.equal(first, true, 'first call should report a completed handshake');
    assert.equal(second, true, 'concurrent second call should report the same');
    assert.equal((await peerClosed).code, 1000, 'peer should have received close 1000');
    assert.equal(duplex.destroyed, true, 'duplex should be destroyed afterwards');
    assert.equal(await duplex.closeGracefully(), true, 'a later call should resolve at once');
  });

  it('closeGracefully terminates the socket when the peer never answers', async (t) => {
    const { duplex, peer } = await connectDuplexToRawPeer(t, {}, (ws) => ws.pause());
    const peerClosed = closeOf(peer);
    const completed = await duplex.closeGracefully({ timeoutMs: 100 });
    assert.equal(completed, false, 'should report that the handshake did not complete');
    assert.equal(duplex.webSocket.readyState, WebSocket.CLOSING, 'the socket should be terminated at once');
    peer.resume();
    await peerClosed;
    await waitFor(() => duplex.webSocket.readyState === WebSocket.CLOSED, 'our socket closed');
  });
});
