/**
 * Protocol violations written by hand (ws `test/receiver.test.js` style):
 * a raw peer sends the bad bytes to a `Session`, and each test asserts the
 * GoAway code that comes back (1, protocol error), the typed error of the
 * session's 'close', that the transport is ended (no hang, no crash), and
 * that bytes sent on a good stream before the violation were delivered.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import fc from 'fast-check';
import {
  Flag,
  FrameType,
  GoAwayCode,
  GoAwayError,
  INITIAL_STREAM_WINDOW_BYTES,
  MuxProtocolError,
  Session,
  type MuxStream,
} from '../../src/mux/index.js';
import { pairConnType, tcpConnType, type ConnType } from '../helpers/mux-conn-types.js';
import { RawPeer, frameBytes } from '../helpers/mux-raw-peer.js';
import { leaveOpen, waitFor } from '../helpers/mux-sessions.js';

interface Victim {
  server: Session;
  peer: RawPeer;
  /** Bytes the server's stream 1 delivered to its reader. */
  delivered: () => string;
  /** Server-side streams by id. */
  streams: Map<number, MuxStream>;
}

/**
 * A server session facing a raw client peer that has opened stream 1 and
 * sent "hello" on it; stream 1 is read as it arrives, other streams are not read.
 */
async function openVictim(t: TestContext, connType: ConnType): Promise<Victim> {
  const link = await connType.connect();
  const server = new Session(link.b, { role: 'server', keepAliveIntervalMs: 0 });
  t.after(async () => {
    server.destroy();
    await link.close();
  });
  const peer = new RawPeer(link.a);
  const streams = new Map<number, MuxStream>();
  const chunks: Buffer[] = [];
  server.on('stream', (s: MuxStream) => {
    leaveOpen(s);
    streams.set(s.id, s);
    if (s.id === 1) s.on('data', (c: Buffer) => chunks.push(c));
  });
  peer.send(FrameType.Data, Flag.SYN, 1, 5, Buffer.from('hello'));
  await peer.waitForFrame((f) => f.header.streamId === 1 && (f.header.flags & Flag.ACK) !== 0, 'the ACK of stream 1');
  return { server, peer, delivered: () => Buffer.concat(chunks).toString(), streams };
}

/** Sends good bytes on stream 1 and the violation in one write, then checks the outcome. */
async function expectProtocolError(victim: Victim, violation: Buffer, what: string): Promise<void> {
  const { server, peer } = victim;
  peer.sendBytes(Buffer.concat([frameBytes(FrameType.Data, 0, 1, 6, Buffer.from(' world')), violation]));
  assert.equal(await peer.goAwayCode(), GoAwayCode.ProtocolError, `${what}: the peer receives GoAway(1, protocol error)`);
  const reason = await server.closed;
  assert.ok(reason instanceof MuxProtocolError, `${what}: the session closes with MuxProtocolError`);
  assert.equal(reason.code, 'ERR_MUX_PROTOCOL', `${what}: with code ERR_MUX_PROTOCOL`);
  assert.equal(reason.goAwayCode, GoAwayCode.ProtocolError, `${what}: and goAwayCode 1`);
  await peer.waitEnded();
  assert.equal(victim.delivered(), 'hello world', `${what}: stream 1 delivered every byte sent before the violation`);
  assert.equal(peer.framesOfType(FrameType.GoAway).length, 1, `${what}: exactly one GoAway is sent`);
}

for (const connType of [pairConnType, tcpConnType]) {
  describe(`Session facing protocol violations over ${connType.name}`, () => {
    it('answers a header with version 1 with GoAway(protocol error)', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(FrameType.Ping, Flag.SYN, 0, 1, undefined, 1), 'bad version');
    });

    it('answers an unknown frame type (4) with GoAway(protocol error)', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(4, 0, 1, 0), 'type 4');
    });

    it('answers an unknown frame type (255) with GoAway(protocol error)', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(0xff, 0, 0, 0), 'type 255');
    });

    it('answers data beyond the stream receive window with GoAway(protocol error)', async (t) => {
      const victim = await openVictim(t, connType);
      victim.peer.send(FrameType.WindowUpdate, Flag.SYN, 3, 0);
      await waitFor(() => victim.streams.has(3), 'stream 3 to open (it is never read)');
      victim.peer.send(FrameType.Data, 0, 3, 200_000, Buffer.alloc(200_000));
      await waitFor(() => victim.streams.get(3)?.receiveWindowBytes === INITIAL_STREAM_WINDOW_BYTES - 200_000, 'the first 200 000 bytes to be charged');
      await expectProtocolError(victim, frameBytes(FrameType.Data, 0, 3, 100_000, Buffer.alloc(100_000)), 'data beyond the window');
    });

    it('answers a Data frame longer than any window with GoAway(protocol error), from its header alone', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(FrameType.Data, 0, 1, INITIAL_STREAM_WINDOW_BYTES + 1), 'oversized frame');
    });

    it('answers a Data frame claiming 4 GiB with GoAway(protocol error) without waiting for the payload', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(FrameType.Data, 0, 1, 0xffff_ffff), '4 GiB frame');
    });

    it('answers a duplicate SYN for an open stream with GoAway(protocol error)', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(FrameType.WindowUpdate, Flag.SYN, 1, 0), 'duplicate SYN');
    });

    it('accepts SYNs out of id order, as hashicorp sends concurrent opens, and still rejects a SYN for a live stream', async (t) => {
      const victim = await openVictim(t, connType);
      victim.peer.send(FrameType.WindowUpdate, Flag.SYN, 7, 0);
      await waitFor(() => victim.streams.has(7), 'stream 7 to open');
      victim.peer.send(FrameType.WindowUpdate, Flag.SYN, 5, 0);
      await waitFor(() => victim.streams.has(5), 'stream 5 (sent after 7) to open');
      assert.equal(victim.server.isClosed, false, 'an out-of-order SYN is not a violation');
      await expectProtocolError(victim, frameBytes(FrameType.WindowUpdate, Flag.SYN, 7, 0), 'SYN for live stream 7');
    });

    it('answers a SYN with an even id from the client with GoAway(protocol error)', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(FrameType.WindowUpdate, Flag.SYN, 2, 0), 'SYN with wrong parity');
    });

    it('answers data on a stream that was never opened with GoAway(protocol error)', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(FrameType.Data, 0, 9, 10, Buffer.alloc(10)), 'data on an unknown stream');
    });

    it('tolerates data on a stream it reset, up to the window, and answers data beyond that with GoAway(protocol error)', async (t) => {
      const victim = await openVictim(t, connType);
      victim.peer.send(FrameType.WindowUpdate, Flag.SYN, 3, 0);
      await waitFor(() => victim.streams.has(3), 'stream 3 to open');
      victim.streams.get(3)?.destroy();
      await victim.peer.waitForFrame((f) => f.header.streamId === 3 && (f.header.flags & Flag.RST) !== 0, 'the RST of stream 3');
      victim.peer.send(FrameType.Data, 0, 3, 100_000, Buffer.alloc(100_000));
      await victim.peer.roundTrip();
      assert.equal(victim.server.isClosed, false, 'data in flight to a stream we reset, within its window, is dropped quietly');
      const over = INITIAL_STREAM_WINDOW_BYTES - 100_000 + 1;
      await expectProtocolError(victim, frameBytes(FrameType.Data, 0, 3, over, Buffer.alloc(over)), 'data on a reset stream beyond its window');
    });

    it('answers a window update that overflows the 32-bit send window with GoAway(protocol error)', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(FrameType.WindowUpdate, 0, 1, 0xffff_ffff), 'window update overflow');
    });

    it('answers a stream frame on stream 0 with GoAway(protocol error)', async (t) => {
      await expectProtocolError(await openVictim(t, connType), frameBytes(FrameType.WindowUpdate, Flag.SYN, 0, 0), 'SYN on stream 0');
    });

    it('splits the violation across many tiny writes and still answers GoAway(protocol error)', async (t) => {
      const victim = await openVictim(t, connType);
      const bad = frameBytes(FrameType.WindowUpdate, Flag.SYN, 2, 0);
      victim.peer.sendBytes(frameBytes(FrameType.Data, 0, 1, 6, Buffer.from(' world')));
      for (let i = 0; i < bad.length; i++) victim.peer.sendBytes(bad.subarray(i, i + 1));
      assert.equal(await victim.peer.goAwayCode(), GoAwayCode.ProtocolError, 'the peer receives GoAway(1)');
      assert.ok((await victim.server.closed) instanceof MuxProtocolError, 'the session closes with MuxProtocolError');
      assert.equal(victim.delivered(), 'hello world', 'stream 1 delivered its bytes');
    });

    it('gives up on a peer that floods pings without reading the answers, with goAwayCode 2 (internal error)', async (t) => {
      const link = await connType.connect();
      const server = new Session(link.b, { role: 'server', keepAliveIntervalMs: 0, maxTransportBufferBytes: 64 * 1024 });
      t.after(async () => {
        server.destroy();
        await link.close();
      });
      const peer = new RawPeer(link.a);
      link.blockWrites('b');
      const ping = frameBytes(FrameType.Ping, Flag.SYN, 0, 1);
      peer.sendBytes(Buffer.concat(Array.from({ length: 10_000 }, () => ping)));
      const reason = await server.closed;
      assert.ok(reason instanceof MuxProtocolError, 'the session closes with a MuxProtocolError');
      assert.equal(reason.goAwayCode, GoAwayCode.InternalError, 'classified as an internal error (goAwayCode 2), not a peer violation of the wire format');
      assert.ok(link.b.destroyed, 'the transport is destroyed rather than left to grow');
    });

    it('ends with GoAwayError(1) when the peer sends GoAway(protocol error), without answering GoAway', async (t) => {
      const victim = await openVictim(t, connType);
      victim.peer.send(FrameType.GoAway, 0, 0, GoAwayCode.ProtocolError);
      const reason = await victim.server.closed;
      assert.ok(reason instanceof GoAwayError && reason.goAwayCode === 1, 'the session ends with GoAwayError(1)');
      await victim.peer.waitEnded();
      assert.equal(victim.peer.framesOfType(FrameType.GoAway).length, 0, 'no GoAway is sent back');
    });
  });
}

describe('Session fed arbitrary bytes', () => {
  it('never crashes or hangs: it stays open, or closes with a typed error after a GoAway', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 8 }), async (chunks) => {
        const link = await pairConnType.connect();
        const server = new Session(link.b, { role: 'server', keepAliveIntervalMs: 0 });
        server.on('stream', (s: MuxStream) => leaveOpen(s));
        const peer = new RawPeer(link.a);
        try {
          for (const c of chunks) peer.sendBytes(Buffer.from(c));
          // No round trip here: the bytes may leave the decoder mid-frame, legitimately waiting for more.
          for (let i = 0; i < 3; i++) await turn();
          if (server.isClosed) {
            const reason = server.closeReason;
            assert.ok(reason instanceof MuxProtocolError || reason instanceof GoAwayError, `closed with a typed error (${String(reason)})`);
            if (reason instanceof MuxProtocolError) {
              assert.equal(await peer.goAwayCode(), reason.goAwayCode, 'the GoAway sent carries the error\'s code');
            }
          }
        } finally {
          server.destroy();
          await link.close();
        }
      }),
      { numRuns: 300 },
    );
  });
});
