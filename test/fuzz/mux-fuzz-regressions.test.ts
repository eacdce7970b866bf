/**
 * Findings of the yamux fuzzer (`mux-fuzz.test.ts`), each reduced to the
 * bytes that showed it and kept as a regression test.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Flag, FrameType, INITIAL_STREAM_WINDOW_BYTES, Session } from '../../src/mux/index.js';
import { pairConnType } from '../helpers/mux-conn-types.js';
import { RawPeer } from '../helpers/mux-raw-peer.js';
import { leaveOpen } from '../helpers/mux-sessions.js';

const maxStreamWindowBytes = 2 * INITIAL_STREAM_WINDOW_BYTES;

/** A server session with a window of twice the initial one, over the in-memory pair, and a raw peer on the other end. */
async function serverWithTwoWindowsOfCredit(t: TestContext): Promise<{ server: Session; peer: RawPeer }> {
  const link = await pairConnType.connect();
  const server = new Session(link.b, { role: 'server', keepAliveIntervalMs: 0, maxStreamWindowBytes });
  t.after(async () => {
    server.destroy();
    await link.close();
  });
  return { server, peer: new RawPeer(link.a) };
}

describe('yamux Session fuzz findings', () => {
  it('grants a stream that waited in the accept backlog no more than one window in total', async (t) => {
    // Found by the fuzzer: with a window above 256 KiB, a stream holding data in
    // the backlog sent a window update up to the max, then its ACK added the
    // extra window again (768 KiB of credit for a 512 KiB window).
    const { server, peer } = await serverWithTwoWindowsOfCredit(t);
    peer.send(FrameType.Data, Flag.SYN, 1, 47, Buffer.alloc(47));
    await peer.roundTrip();
    const stream = await server.accept();
    leaveOpen(stream);
    await peer.waitForFrame((f) => f.header.streamId === 1 && (f.header.flags & Flag.ACK) !== 0, 'the ACK of stream 1');
    await peer.roundTrip();
    const granted = peer.frames
      .filter((f) => f.header.type === FrameType.WindowUpdate && f.header.streamId === 1)
      .reduce((sum, f) => sum + f.header.length, INITIAL_STREAM_WINDOW_BYTES);
    assert.equal(granted - 47, maxStreamWindowBytes - 47, 'the peer may send at most one window beyond the 47 bytes held');
    assert.equal(stream.receiveWindowBytes, maxStreamWindowBytes - 47, 'the stream expects at most one window');
  });

  it('sends a stream in the accept backlog no window update before its ACK, which carries the whole grant', async (t) => {
    // Found by the fuzzer: with a window above 256 KiB, a backlog stream that
    // was read sent a window update and later an ACK of 0: two frames where one
    // does, so 42 bytes of SYNs drew 60 bytes of answers.
    const { server, peer } = await serverWithTwoWindowsOfCredit(t);
    peer.send(FrameType.Data, Flag.SYN, 1, 10, Buffer.alloc(10));
    await peer.roundTrip();
    assert.deepEqual(peer.frames.filter((f) => f.header.streamId === 1), [], 'nothing is sent for a stream waiting in the backlog');
    const stream = await server.accept();
    leaveOpen(stream);
    await peer.waitForFrame((f) => f.header.streamId === 1 && (f.header.flags & Flag.ACK) !== 0, 'the ACK of stream 1');
    await peer.roundTrip();
    const frames = peer.frames.filter((f) => f.header.streamId === 1);
    assert.equal(frames.length, 1, 'one frame for the accepted stream: its ACK');
    assert.equal(frames[0]?.header.length, maxStreamWindowBytes - INITIAL_STREAM_WINDOW_BYTES, 'the ACK grants the window up to the max');
  });
});
