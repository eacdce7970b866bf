/**
 * Timeouts over every transport, driven by configuration and a fake clock
 * rather than sleeps: keepalive against a peer that stops answering
 * (hashicorp `pipeConn.writeBlocker`), keepalive that stays quiet while the
 * peer answers, and the stream-open timeout (a SYN never ACKed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Flag,
  FrameType,
  KeepAliveTimeoutError,
  Session,
  StreamOpenTimeoutError,
  type MuxStream,
} from '../../src/mux/index.js';
import { forEachConnType } from '../helpers/mux-conn-types.js';
import { FakeClock } from '../helpers/mux-fake-clock.js';
import { RawPeer } from '../helpers/mux-raw-peer.js';
import { createSessionPair, leaveOpen, readAll, streamError, waitFor } from '../helpers/mux-sessions.js';

forEachConnType((connType) => {
  describe(`Timeouts over ${connType.name}`, () => {
    it('closes the session with KeepAliveTimeoutError when the peer stops answering pings', async (t) => {
      const clock = new FakeClock();
      const { client, server, link } = await createSessionPair(t, connType, {
        client: { keepAliveIntervalMs: 1000, keepAliveTimeoutMs: 3000, clock },
      });
      const stream = client.openStream();
      const streamFailed = streamError(stream);
      link.blockWrites('b');
      clock.advance(1000);
      assert.equal(client.isClosed, false, 'the session is open while the ping is outstanding');
      clock.advance(2999);
      assert.equal(client.isClosed, false, 'still open one millisecond before the timeout');
      clock.advance(1);
      const reason = await client.closed;
      assert.ok(reason instanceof KeepAliveTimeoutError, 'the close reason is a KeepAliveTimeoutError');
      assert.equal(reason.code, 'ERR_MUX_KEEPALIVE_TIMEOUT', 'with its stable code');
      assert.equal(reason.timeoutMs, 3000, 'naming the configured timeout');
      assert.equal((await streamFailed as { code?: string }).code, 'ERR_MUX_SESSION_CLOSED', 'open streams fail with SessionClosedError');
      await waitFor(() => server.isClosed, 'the silent peer to see its transport go');
    });

    it('emits close with KeepAliveTimeoutError on the real clock too (small interval and timeout)', async (t) => {
      const { client, link } = await createSessionPair(t, connType, {
        client: { keepAliveIntervalMs: 10, keepAliveTimeoutMs: 30 },
      });
      let closeReason: Error | undefined;
      client.once('close', (err: Error | undefined) => (closeReason = err));
      link.blockWrites('b');
      // The session's timers are unref'd (they never hold the process open): wait by polling.
      await waitFor(() => client.isClosed, 'the keepalive timeout to close the session');
      assert.ok(closeReason instanceof KeepAliveTimeoutError, "the 'close' event carries KeepAliveTimeoutError");
    });

    it('keeps pinging a peer that answers and stays open, with the RTT readable', async (t) => {
      const clock = new FakeClock();
      const { client, link } = await createSessionPair(t, connType, {
        client: { keepAliveIntervalMs: 1000, keepAliveTimeoutMs: 3000, clock },
      });
      const tap = new RawPeer(link.a);
      const pingAcks = (): number => tap.frames.filter((f) => f.header.type === FrameType.Ping && (f.header.flags & Flag.ACK) !== 0).length;
      for (let round = 1; round <= 5; round++) {
        clock.advance(1000);
        await waitFor(() => pingAcks() === round, `keepalive ping ${round} to be answered`);
      }
      clock.advance(2999);
      assert.equal(client.isClosed, false, 'answered keepalives never close the session');
      assert.equal(typeof client.lastRttMs, 'number', 'the RTT of the last keepalive is readable');
    });

    it('resets a stream the peer never acknowledges with StreamOpenTimeoutError (peer with a full backlog)', async (t) => {
      const clock = new FakeClock();
      const { client, server } = await createSessionPair(t, connType, { client: { streamOpenTimeoutMs: 500, clock } });
      const stream = client.openStream();
      stream.write('anyone?');
      const failed = streamError(stream);
      await waitFor(() => server.streamCount === 1, 'the SYN to wait in the server backlog, unacknowledged');
      clock.advance(499);
      assert.equal(stream.destroyed, false, 'the stream waits until the open timeout');
      clock.advance(1);
      const err = await failed;
      assert.ok(err instanceof StreamOpenTimeoutError, 'the stream is destroyed with StreamOpenTimeoutError');
      assert.equal(err.code, 'ERR_MUX_STREAM_OPEN_TIMEOUT', 'with its stable code');
      assert.equal(err.streamId, stream.id, 'naming the stream');
      await waitFor(() => server.streamCount === 0, 'the RST to remove the stream from the peer backlog');
      assert.equal(client.isClosed, false, 'the session survives the timeout');
    });

    it('times out a stream opened to a hand-written peer that never answers the SYN', async (t) => {
      const clock = new FakeClock();
      const link = await connType.connect();
      t.after(() => link.close());
      const client = new Session(link.a, { role: 'client', keepAliveIntervalMs: 0, streamOpenTimeoutMs: 200, clock });
      t.after(() => client.destroy());
      const peer = new RawPeer(link.b);
      const stream = client.openStream();
      const failed = streamError(stream);
      await peer.waitForFrame((f) => f.header.streamId === stream.id && (f.header.flags & Flag.SYN) !== 0, 'the SYN');
      clock.advance(200);
      assert.ok((await failed) instanceof StreamOpenTimeoutError, 'the stream is destroyed with StreamOpenTimeoutError');
      const rst = await peer.waitForFrame((f) => f.header.streamId === stream.id && (f.header.flags & Flag.RST) !== 0, 'the RST');
      assert.equal(rst.header.type, FrameType.WindowUpdate, 'the peer is told with an RST window update');
    });

    it('never times out a stream once it is acknowledged', async (t) => {
      const clock = new FakeClock();
      const { client, server } = await createSessionPair(t, connType, { client: { streamOpenTimeoutMs: 500, clock } });
      server.on('stream', (s: MuxStream) => {
        leaveOpen(s);
        s.pipe(s);
      });
      const stream = client.openStream();
      await waitFor(() => stream.acknowledged, 'the ACK');
      assert.equal(clock.pendingCount, 0, 'the ACK cancelled the open timer');
      clock.advance(10_000);
      const echoed = readAll(stream);
      stream.end('still alive');
      assert.equal((await echoed).toString(), 'still alive', 'the stream works long after the open timeout');
    });
  });
});
