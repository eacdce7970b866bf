/**
 * Property tests over two sessions on the in-memory pair (fast-check,
 * bounded runs):
 * - any bytes written in any sizes, read at any pace, arrive intact and in
 *   order, both directions of several streams at once;
 * - random writes, reads and event-loop turns keep the window invariants:
 *   the send window never goes negative, the receiver never holds more than
 *   one window, and credit is returned only for bytes the reader consumed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { Flag, FrameType, HEADER_LENGTH_BYTES, INITIAL_STREAM_WINDOW_BYTES, Session, type MuxStream } from '../../../src/mux/index.js';
import { pairConnType } from '../../helpers/mux-conn-types.js';
import { RawPeer, frameBytes } from '../../helpers/mux-raw-peer.js';
import { createSessionPair, leaveOpen, patternBytes, waitFor } from '../../helpers/mux-sessions.js';

/** Runs `body` with a fresh session pair whose teardown happens before the next run. */
async function withSessions<T>(
  options: Parameters<typeof createSessionPair>[2],
  body: (pair: Awaited<ReturnType<typeof createSessionPair>>) => Promise<T>,
): Promise<T> {
  const cleanups: Array<() => unknown> = [];
  const fakeContext = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  const pair = await createSessionPair(fakeContext, pairConnType, options);
  try {
    return await body(pair);
  } finally {
    for (const fn of cleanups) await fn();
  }
}

/** Writes `sizes`-sized pieces of `data`, awaiting 'drain' when write() says false (if `honourBackpressure`). */
async function writePaced(stream: MuxStream, data: Buffer, sizes: number[], honourBackpressure: boolean): Promise<void> {
  let offset = 0;
  let i = 0;
  while (offset < data.length) {
    const n = sizes[i++ % sizes.length] as number;
    const ok = stream.write(data.subarray(offset, offset + n));
    offset += n;
    if (!ok && honourBackpressure) await once(stream, 'drain');
  }
  stream.end();
}

/** Reads to the end with `read(n)` for each n of `sizes` in turn, yielding to the event loop every `yieldEvery` reads. */
async function readPaced(stream: MuxStream, sizes: number[], yieldEvery: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let i = 0;
  for (;;) {
    const want = sizes[i % sizes.length] as number;
    const chunk = (stream.read(Math.min(want, Math.max(stream.readableLength, 1))) as Buffer | null) ?? (stream.read() as Buffer | null);
    if (chunk !== null) {
      chunks.push(chunk);
      i += 1;
      if (i % yieldEvery === 0) await turn();
      continue;
    }
    if (stream.readableEnded) break;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        stream.off('readable', done);
        stream.off('end', done);
        stream.off('error', reject);
        resolve();
      };
      stream.on('readable', done);
      stream.on('end', done);
      stream.once('error', reject);
    });
  }
  return Buffer.concat(chunks);
}

const pacingArb = fc.record({
  writeSizes: fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 8 }),
  readSizes: fc.array(fc.integer({ min: 1, max: 60_000 }), { minLength: 1, maxLength: 8 }),
  yieldEvery: fc.integer({ min: 1, max: 5 }),
  honourBackpressure: fc.boolean(),
});

describe('MuxStream properties', () => {
  it('delivers any bytes intact and in order, both ways, whatever the write sizes and read pacing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ up: fc.integer({ min: 0, max: 600_000 }), down: fc.integer({ min: 0, max: 300_000 }), seed: fc.nat() }), {
          minLength: 1,
          maxLength: 3,
        }),
        pacingArb,
        pacingArb,
        fc.constantFrom(256 * 1024, 512 * 1024),
        fc.integer({ min: 1024, max: 256 * 1024 }),
        async (streams, clientPacing, serverPacing, windowBytes, maxFramePayloadBytes) =>
          withSessions(
            { client: { maxStreamWindowBytes: windowBytes, maxFramePayloadBytes }, server: { maxStreamWindowBytes: windowBytes, maxFramePayloadBytes } },
            async ({ client, server }) => {
              const serverSide = new Map<number, Promise<Buffer>>();
              server.on('stream', (s: MuxStream) => {
                leaveOpen(s);
                const spec = streams[(s.id - 1) / 2] as { down: number; seed: number };
                void writePaced(s, patternBytes(spec.down, spec.seed + 1), serverPacing.writeSizes, serverPacing.honourBackpressure);
                serverSide.set(s.id, readPaced(s, serverPacing.readSizes, serverPacing.yieldEvery));
              });
              const runs = streams.map(async (spec) => {
                const s = client.openStream();
                leaveOpen(s);
                const up = patternBytes(spec.up, spec.seed);
                const writing = writePaced(s, up, clientPacing.writeSizes, clientPacing.honourBackpressure);
                const down = await readPaced(s, clientPacing.readSizes, clientPacing.yieldEvery);
                await writing;
                await waitFor(() => serverSide.has(s.id), 'the server to see the stream');
                const upReceived = await (serverSide.get(s.id) as Promise<Buffer>);
                assert.ok(upReceived.equals(up), `stream ${s.id}: client-to-server bytes intact (${upReceived.length}/${up.length})`);
                assert.ok(down.equals(patternBytes(spec.down, spec.seed + 1)), `stream ${s.id}: server-to-client bytes intact`);
              });
              await Promise.all(runs);
              assert.equal(client.isClosed || server.isClosed, false, 'no session failed along the way');
            },
          ),
      ),
      { numRuns: 25 },
    );
  });

  it('returns credit only for bytes read, however the frames are cut into pieces on the wire', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 120_000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 150_000 }), { minLength: 1, maxLength: 6 }),
        async (frameSizes, pieceSizes, readSizes) => {
          const link = await pairConnType.connect();
          const server = new Session(link.b, { role: 'server', keepAliveIntervalMs: 0 });
          try {
            let receiver: MuxStream | undefined;
            server.on('stream', (st: MuxStream) => {
              leaveOpen(st);
              receiver = st;
            });
            const peer = new RawPeer(link.a);
            let arrivedAtServer = 0;
            link.b.on('data', (c: Buffer) => (arrivedAtServer += c.length));
            peer.send(FrameType.WindowUpdate, Flag.SYN, 1, 0);
            await waitFor(() => receiver !== undefined, 'the stream to open');
            const r = receiver as MuxStream;
            const granted = (): number =>
              peer.frames.filter((f) => f.header.type === FrameType.WindowUpdate && f.header.streamId === 1).reduce((n, f) => n + f.header.length, 0);
            const sentChunks: Buffer[] = [];
            const readChunks: Buffer[] = [];
            let sent = 0;
            let read = 0;
            // Bytes written to the server so far: the SYN header, frames, and each round trip's ping header.
            let wireBytes = HEADER_LENGTH_BYTES;
            const readSome = (n: number): void => {
              if (r.readableLength === 0) r.read(0);
              const chunk = r.readableLength > 0 ? (r.read(Math.min(n, r.readableLength)) as Buffer | null) : null;
              if (chunk !== null) {
                readChunks.push(chunk);
                read += chunk.length;
              }
            };
            for (const [i, size] of frameSizes.entries()) {
              const room = INITIAL_STREAM_WINDOW_BYTES + granted() - sent;
              const length = Math.min(size, room);
              if (length > 0) {
                const payload = patternBytes(length, i);
                sentChunks.push(payload);
                const frame = frameBytes(FrameType.Data, 0, 1, length, payload);
                let offset = 0;
                for (let p = 0; offset < frame.length; p++) {
                  const piece = frame.subarray(offset, offset + (pieceSizes[p % pieceSizes.length] as number));
                  peer.sendBytes(piece);
                  offset += piece.length;
                  wireBytes += piece.length;
                  await waitFor(() => arrivedAtServer === wireBytes, 'the piece to reach the server');
                  assert.ok(granted() <= read, `frame ${i}: credit (${granted()}) only for bytes read (${read}) while the frame arrives`);
                }
                sent += length;
              }
              readSome(readSizes[i % readSizes.length] as number);
              await peer.roundTrip();
              wireBytes += HEADER_LENGTH_BYTES;
              assert.ok(granted() <= read, `after frame ${i}: credit (${granted()}) only for bytes read (${read})`);
              assert.ok(sent - read <= INITIAL_STREAM_WINDOW_BYTES, `after frame ${i}: the receiver holds at most one window`);
              assert.equal(server.isClosed, false, `after frame ${i}: a peer within its window is never a protocol error`);
            }
            peer.send(FrameType.WindowUpdate, Flag.FIN, 1, 0);
            r.on('data', (c: Buffer) => readChunks.push(c));
            await once(r, 'end');
            assert.ok(Buffer.concat(readChunks).equals(Buffer.concat(sentChunks)), 'every byte arrived in order');
          } finally {
            server.destroy();
            await link.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps the window invariants under random writes, reads and event-loop turns', async () => {
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), bytes: fc.integer({ min: 1, max: 200_000 }) }),
      fc.record({ kind: fc.constant('read' as const), bytes: fc.integer({ min: 1, max: 100_000 }) }),
      fc.record({ kind: fc.constant('turn' as const), count: fc.integer({ min: 1, max: 4 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.constantFrom(256 * 1024, 1024 * 1024), async (ops, windowBytes) =>
        withSessions({ server: { maxStreamWindowBytes: windowBytes } }, async ({ client, server, link }) => {
          const toReceiver = new RawPeer(link.b);
          const toSender = new RawPeer(link.a);
          let receiver: MuxStream | undefined;
          server.on('stream', (s: MuxStream) => {
            leaveOpen(s);
            receiver = s;
          });
          const sender = client.openStream();
          leaveOpen(sender);
          await waitFor(() => receiver !== undefined && sender.acknowledged, 'the stream to open');
          const r = receiver as MuxStream;
          const openDeltaBytes = windowBytes - INITIAL_STREAM_WINDOW_BYTES;
          let written = 0;
          let read = 0;
          const sent: Buffer[] = [];
          const got: Buffer[] = [];

          const arrivedBytes = (): number =>
            toReceiver.frames.reduce((n, f) => n + (f.header.type === FrameType.Data && f.header.streamId === sender.id ? f.header.length : 0), 0);
          const creditArrivedBytes = (): number =>
            toSender.frames.reduce(
              (n, f) => n + (f.header.type === FrameType.WindowUpdate && f.header.streamId === sender.id && (f.header.flags & Flag.RST) === 0 ? f.header.length : 0),
              0,
            );
          const check = (after: string): void => {
            const arrived = arrivedBytes();
            const credit = creditArrivedBytes();
            assert.ok(sender.sendWindowBytes >= 0, `${after}: the send window is never negative (${sender.sendWindowBytes})`);
            assert.ok(
              sender.sendWindowBytes <= INITIAL_STREAM_WINDOW_BYTES + credit - arrived,
              `${after}: the sender never counts more credit than it was granted`,
            );
            assert.ok(arrived - read <= windowBytes, `${after}: the receiver never holds more than one window (${arrived - read})`);
            assert.ok(credit - openDeltaBytes <= read, `${after}: credit (${credit - openDeltaBytes}) is returned only for bytes read (${read})`);
            assert.ok(r.receiveWindowBytes >= 0, `${after}: the receive window is never negative`);
            assert.equal(server.isClosed || client.isClosed, false, `${after}: no protocol error`);
          };

          for (const [i, op] of ops.entries()) {
            if (op.kind === 'write') {
              const data = patternBytes(op.bytes, written);
              sent.push(data);
              written += op.bytes;
              sender.write(data);
            } else if (op.kind === 'read') {
              if (r.readableLength === 0) r.read(0);
              const n = Math.min(op.bytes, r.readableLength);
              const chunk = n > 0 ? (r.read(n) as Buffer | null) : null;
              if (chunk !== null) {
                got.push(chunk);
                read += chunk.length;
              }
            } else {
              for (let k = 0; k < op.count; k++) await turn();
            }
            check(`op ${i} (${op.kind})`);
          }
          sender.end();
          r.on('data', (c: Buffer) => {
            got.push(c);
            read += c.length;
          });
          await once(r, 'end');
          check('the end');
          assert.ok(Buffer.concat(got).equals(Buffer.concat(sent)), 'every byte written arrived, in order');
        }),
      ),
      { numRuns: 40 },
    );
  });
});
