/**
 * GoAway and close over every transport: close() sends GoAway(normal), the
 * peer may open no new streams while existing ones finish; close() is
 * idempotent, drains, and resets what is left when the grace ends; a SYN
 * arriving after our GoAway is reset.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import {
  Flag,
  FrameType,
  GoAwayCode,
  GoAwayError,
  Session,
  SessionClosedError,
  StreamResetError,
  type MuxStream,
} from '../../src/mux/index.js';
import { forEachConnType } from '../helpers/mux-conn-types.js';
import { FakeClock } from '../helpers/mux-fake-clock.js';
import { RawPeer } from '../helpers/mux-raw-peer.js';
import { createSessionPair, echoInbound, leaveOpen, patternBytes, readAll, streamError, waitFor } from '../helpers/mux-sessions.js';

function isGoAway(code: number): (err: unknown) => boolean {
  return (err) => err instanceof GoAwayError && err.code === 'ERR_MUX_GO_AWAY' && err.goAwayCode === code;
}

forEachConnType((connType) => {
  describe(`GoAway and close over ${connType.name}`, () => {
    it('server close(): the client gets goaway 0, cannot open streams, and its open stream finishes', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      echoInbound(server);
      const stream = client.openStream();
      stream.write('before ');
      await waitFor(() => server.streamCount === 1, 'the stream to reach the server');
      const goaway = once(client, 'goaway') as Promise<[number]>;
      const closing = server.close();
      const [code] = await goaway;
      assert.equal(code, GoAwayCode.Normal, 'the client receives GoAway with code 0 (normal)');
      assert.equal(client.remoteGoAwayCode, 0, 'the client remembers the code');
      assert.throws(() => client.openStream(), isGoAway(0), 'openStream() on the client throws GoAwayError(0)');
      assert.throws(() => server.openStream(), SessionClosedError, 'the closing server opens no streams either');
      const echoed = readAll(stream);
      stream.end('after GoAway');
      assert.equal((await echoed).toString(), 'before after GoAway', 'the stream open before GoAway completes both ways');
      await closing;
      assert.equal(server.isClosed, true, 'close() resolves once the stream is done, with the session closed');
      const clientReason = await client.closed;
      assert.ok(isGoAway(0)(clientReason), 'the client session ends with the peer\'s GoAway(0) as its reason');
    });

    it('client close(): the server gets goaway 0, cannot open streams, and the client\'s open stream finishes', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      echoInbound(server);
      const stream = client.openStream();
      stream.write('x');
      await waitFor(() => server.streamCount === 1, 'the stream to reach the server');
      const goaway = once(server, 'goaway') as Promise<[number]>;
      const closing = client.close();
      const [code] = await goaway;
      assert.equal(code, 0, 'the server receives GoAway with code 0');
      assert.throws(() => server.openStream(), isGoAway(0), 'openStream() on the server throws GoAwayError(0)');
      const echoed = readAll(stream);
      stream.end('y');
      assert.equal((await echoed).toString(), 'xy', 'the client\'s stream still completes');
      await closing;
      assert.equal(await client.closed, undefined, 'our own clean close ends with no error');
    });

    it('makes close() idempotent: every call resolves once the stream in flight has completed', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      echoInbound(server);
      let closeEvents = 0;
      client.on('close', () => (closeEvents += 1));
      const data = patternBytes(1024 * 1024, 5);
      const stream = client.openStream();
      stream.write(data.subarray(0, 300_000));
      const first = client.close();
      const second = client.close();
      const echoed = readAll(stream);
      stream.end(data.subarray(300_000));
      let firstDone = false;
      void first.then(() => (firstDone = true));
      const got = await echoed;
      assert.ok(got.equals(data), 'the 1 MiB stream in flight completes intact during close()');
      await Promise.all([first, second]);
      assert.equal(firstDone, true, 'the first close() resolved');
      await client.close();
      client.destroy();
      assert.equal(client.isClosed, true, 'the session is closed');
      assert.equal(closeEvents, 1, 'exactly one close event for three close() calls and a destroy()');
    });

    it('resets the streams still open when the close grace runs out', async (t) => {
      const clock = new FakeClock();
      const { client, server } = await createSessionPair(t, connType, { client: { clock } });
      let inbound: MuxStream | undefined;
      server.on('stream', (s: MuxStream) => (inbound = s));
      const stream = client.openStream();
      stream.write('never finished');
      await waitFor(() => inbound !== undefined, 'the stream to reach the server');
      assert.ok(inbound !== undefined, 'the server has the stream');
      const peerError = streamError(inbound);
      const ownError = streamError(stream);
      const closing = client.close({ graceMs: 5000 });
      clock.advance(4999);
      assert.equal(stream.destroyed, false, 'the stream lives through the grace period');
      clock.advance(1);
      await closing;
      assert.ok((await ownError) instanceof SessionClosedError, 'our leftover stream fails with SessionClosedError');
      assert.ok((await peerError) instanceof StreamResetError, 'the peer\'s stream is reset (RST goes out before the transport ends)');
    });

    it('resets streams still waiting in the accept backlog when close() starts, without waiting for the grace', async (t) => {
      const clock = new FakeClock();
      const { client, server } = await createSessionPair(t, connType, { server: { clock } });
      const stream = client.openStream();
      const peerError = streamError(stream);
      await waitFor(() => server.streamCount === 1, 'the stream to wait in the server\'s backlog');
      await server.close({ graceMs: 60_000 });
      assert.equal(server.isClosed, true, 'close() resolved with no fake time passing: nothing held the drain');
      assert.ok((await peerError) instanceof StreamResetError, 'the unaccepted stream was reset');
    });

    it('resets a SYN that arrives after it sent GoAway', async (t) => {
      const link = await connType.connect();
      t.after(() => link.close());
      const server = new Session(link.b, { role: 'server', keepAliveIntervalMs: 0 });
      t.after(() => server.destroy());
      const peer = new RawPeer(link.a);
      server.on('stream', (s: MuxStream) => leaveOpen(s));
      peer.send(FrameType.WindowUpdate, Flag.SYN, 1, 0);
      await peer.waitForFrame((f) => f.header.streamId === 1 && (f.header.flags & Flag.ACK) !== 0, 'the ACK of stream 1');
      server.goAway();
      assert.equal(await peer.goAwayCode(), GoAwayCode.Normal, 'the peer receives GoAway(normal)');
      peer.send(FrameType.Data, Flag.SYN, 3, 5, Buffer.from('late!'));
      const rst = await peer.waitForFrame((f) => f.header.streamId === 3, 'an answer to the late SYN');
      assert.equal(rst.header.flags & Flag.RST, Flag.RST, 'the late SYN is answered with RST');
      assert.equal(server.streamCount, 1, 'the stream opened before GoAway is still there');
      assert.equal(server.isClosed, false, 'a late SYN is not a protocol violation');
    });
  });
});
