/**
 * Flow control over every transport: a paused reader holds at most one
 * window (the sender's write() says false and its window reaches 0), and
 * control frames (ping ACK, window update) overtake data that is waiting for
 * the transport to drain (hashicorp `TestSession_PingOfDeath`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Flag, FrameType, Session, type MuxStream } from '../../src/mux/index.js';
import { forEachConnType } from '../helpers/mux-conn-types.js';
import { RawPeer, frameBytes } from '../helpers/mux-raw-peer.js';
import { byteLength, createSessionPair, drainSync, leaveOpen, patternBytes, readAll, waitFor } from '../helpers/mux-sessions.js';

/** Writes `data` in `chunkBytes` pieces, honouring write() === false, then ends. Returns how far it got. */
function writeWithBackpressure(stream: MuxStream, data: Buffer, chunkBytes: number): { offset: () => number; sawFalse: () => boolean } {
  let offset = 0;
  let sawFalse = false;
  const pump = (): void => {
    while (offset < data.length) {
      const ok = stream.write(data.subarray(offset, offset + chunkBytes));
      offset += chunkBytes;
      if (!ok) {
        sawFalse = true;
        stream.once('drain', pump);
        return;
      }
    }
    stream.end();
  };
  pump();
  return { offset: () => offset, sawFalse: () => sawFalse };
}

forEachConnType((connType) => {
  describe(`Flow control over ${connType.name}`, () => {
    for (const windowBytes of [256 * 1024, 1024 * 1024]) {
      it(`holds at most one ${windowBytes / 1024} KiB window for a paused reader while the sender waits`, async (t) => {
        const { client, server, link } = await createSessionPair(t, connType, { server: { maxStreamWindowBytes: windowBytes } });
        const tap = new RawPeer(link.b);
        let inbound: MuxStream | undefined;
        const readBeforePause: Buffer[] = [];
        const onData = (c: Buffer): void => {
          readBeforePause.push(c);
          if (byteLength(readBeforePause) >= 100_000) inbound?.pause();
        };
        server.on('stream', (s: MuxStream) => {
          inbound = s;
          s.on('data', onData);
        });
        const stream = client.openStream();
        leaveOpen(stream);
        const data = patternBytes(windowBytes * 4, 7);
        const writer = writeWithBackpressure(stream, data, 16 * 1024);
        // Stable once reached: both windows 0 (no credit in flight, every charged header arrived),
        // no payload still on the wire, and nobody reading.
        await waitFor(
          () => stream.sendWindowBytes === 0 && inbound?.isPaused() === true && inbound.receiveWindowBytes === 0 && !tap.midDataFrame,
          'the sender to exhaust its window against the paused reader',
        );
        assert.ok(inbound !== undefined, 'the server has the stream');
        assert.equal(inbound.receiveWindowBytes, 0, 'the receiver granted no credit beyond what it holds');
        assert.equal(writer.sawFalse(), true, 'write() returned false to the sender');
        assert.equal(stream.writableNeedDrain, true, 'the sender is still waiting for drain');
        assert.ok(writer.offset() < data.length, 'the sender could not hand over everything');
        assert.ok(stream.writableLength <= 64 * 1024 + 16 * 1024, 'the sender buffers no more than its high-water mark plus one chunk');
        inbound.off('data', onData);
        const held = drainSync(inbound);
        const readSoFar = byteLength(readBeforePause);
        assert.ok(byteLength(held) <= windowBytes, `the paused receiver holds no more than one window (held ${byteLength(held)})`);
        assert.equal(readSoFar + byteLength(held), tap.dataBytes(stream.id), 'every byte that arrived was either read or held (none lost)');
        inbound.resume();
        const rest = await readAll(inbound);
        const received = Buffer.concat([...readBeforePause, ...held, rest]);
        assert.ok(received.equals(data), 'once resumed, every byte arrives intact and in order');
      });
    }

    it('grants no credit for a frame that arrives in pieces until its bytes are read', async (t) => {
      const link = await connType.connect();
      const server = new Session(link.b, { role: 'server', keepAliveIntervalMs: 0 });
      t.after(async () => {
        server.destroy();
        await link.close();
      });
      let inbound: MuxStream | undefined;
      server.on('stream', (s: MuxStream) => {
        leaveOpen(s);
        inbound = s;
      });
      const peer = new RawPeer(link.a);
      peer.send(FrameType.WindowUpdate, Flag.SYN, 1, 0);
      await waitFor(() => inbound !== undefined, 'the stream to open');
      // The session's own 'data' listener runs first: once a piece is counted here, the session has seen it.
      let arrivedAtServer = 0;
      link.b.on('data', (c: Buffer) => (arrivedAtServer += c.length));
      const payload = patternBytes(200_000, 21);
      const frame = frameBytes(FrameType.Data, 0, 1, payload.length, payload);
      for (let offset = 0; offset < frame.length; offset += 10_000) {
        peer.sendBytes(frame.subarray(offset, offset + 10_000));
        await waitFor(() => arrivedAtServer === Math.min(offset + 10_000, frame.length), 'the piece to reach the server');
      }
      await peer.roundTrip();
      const credit = (): number =>
        peer.frames.filter((f) => f.header.type === FrameType.WindowUpdate && f.header.streamId === 1).reduce((n, f) => n + f.header.length, 0);
      assert.equal(credit(), 0, 'no window update while the frame arrives and nobody reads');
      const held = drainSync(inbound as MuxStream);
      assert.ok(Buffer.concat(held).equals(payload), 'the receiver holds the whole frame');
      await waitFor(() => credit() === payload.length, 'credit for the bytes just read');
      assert.equal(credit(), payload.length, 'credit equals what was read, no more');
    });

    it('sends ping ACKs and window updates ahead of data waiting for the transport to drain', async (t) => {
      const bigWindowBytes = 4 * 1024 * 1024;
      const { client, server, link } = await createSessionPair(t, connType, { client: { maxStreamWindowBytes: bigWindowBytes } });
      let inbound: MuxStream | undefined;
      let receivedByServer = 0;
      server.on('stream', (s: MuxStream) => {
        inbound = s;
        s.on('data', (c: Buffer) => (receivedByServer += c.length));
      });
      const stream = client.openStream();
      leaveOpen(stream);
      await waitFor(() => inbound !== undefined && stream.acknowledged, 'the stream to be open both ways');
      assert.ok(inbound !== undefined, 'the server has the stream');
      leaveOpen(inbound);
      const tap = new RawPeer(link.a);
      let receivedByClient = 0;
      stream.on('data', (c: Buffer) => (receivedByClient += c.length));

      link.blockWrites('b');
      const bulk = patternBytes(bigWindowBytes, 11);
      inbound.write(bulk);
      await waitFor(() => link.b.writableNeedDrain, 'the server transport to report backpressure');
      const pong = client.ping();
      stream.write(patternBytes(200 * 1024, 12));
      await waitFor(() => receivedByServer === 200 * 1024, 'the server to read what the client sent (so it owes a window update)');
      link.unblockWrites('b');
      await pong;
      await waitFor(() => receivedByClient === bulk.length, 'the client to receive the whole bulk');

      const frames = tap.frames;
      const dataBytesBefore = (i: number): number =>
        frames.slice(0, i).reduce((n, f) => n + (f.header.type === FrameType.Data ? f.header.length : 0), 0);
      const pingAck = frames.findIndex((f) => f.header.type === FrameType.Ping && (f.header.flags & Flag.ACK) !== 0);
      const update = frames.findIndex((f) => f.header.type === FrameType.WindowUpdate && f.header.flags === 0 && f.header.streamId === stream.id);
      assert.ok(pingAck >= 0, 'the server answered the ping');
      assert.ok(update >= 0, 'the server sent a window update for what it read');
      assert.ok(dataBytesBefore(pingAck) < bulk.length / 2, `the ping ACK overtook the data waiting for drain (${dataBytesBefore(pingAck)} data bytes went first)`);
      assert.ok(dataBytesBefore(update) < bulk.length / 2, `the window update overtook the data waiting for drain (${dataBytesBefore(update)} data bytes went first)`);
    });
  });
});
