/**
 * Interop of our yamux (src/mux) with the real hashicorp/yamux (df201c7, as
 * the Go tunnel client uses it) over TCP on 127.0.0.1, in both roles. The Go
 * side is `go-yamux-peer` (test/interop/go-peer, built by
 * `bash scripts/build-interop.sh`); without it they skip with one line
 * saying so (they fail instead under VISIONA_REQUIRE_INTEROP=1, as in CI).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import {
  GoAwayCode,
  GoAwayError,
  KeepAliveTimeoutError,
  MuxProtocolError,
  Session,
  StreamResetError,
  type MuxStream,
  type SessionOptions,
} from '../../src/mux/index.js';
import { GoPeer, type GoPeerEvent } from '../helpers/go-peer.js';
import { interopSkip } from '../helpers/interop-skip.js';

type Role = 'client' | 'server';

const MiB = 1024 * 1024;
const BIG_TRANSFER_BYTES = 256 * MiB;
const BIG_TRANSFER_TIMEOUT_MS = 240_000;
const CHUNK_BYTES = 64 * 1024;
/** Failure deadline of each test (they take milliseconds when they pass). */
const TEST_TIMEOUT_MS = 60_000;

// --- the byte pattern shared with the Go peer: byte i = i mod 251 ----------

const PATTERN_MODULUS = 251;
const patternBlock = Buffer.alloc(CHUNK_BYTES + PATTERN_MODULUS);
for (let i = 0; i < patternBlock.length; i++) patternBlock[i] = i % PATTERN_MODULUS;

function patternChunk(offset: number, bytes: number): Buffer {
  const start = offset % PATTERN_MODULUS;
  return patternBlock.subarray(start, start + bytes);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

// --- stream helpers (no bare pipe(), no for-await that would reset the stream) -

/** Resolves when `stream` may take more writes; rejects if it closes first. */
function drained(stream: MuxStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`stream ${stream.id} closed while writing`, { cause: stream.errored ?? undefined }));
    };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
  });
}

/** Writes `bytes` of the pattern with backpressure, then end() (FIN); resolves with their sha256. */
async function sendPattern(stream: MuxStream, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  for (let offset = 0; offset < bytes; ) {
    const n = Math.min(CHUNK_BYTES, bytes - offset);
    const chunk = patternChunk(offset, n);
    hash.update(chunk);
    offset += n;
    if (!stream.write(chunk)) await drained(stream);
  }
  stream.end();
  return hash.digest('hex');
}

/** Reads `stream` until its FIN; resolves with the byte count and sha256 (and the bytes if `keep`). */
function receiveAll(stream: MuxStream, keep = false): Promise<{ bytes: number; sha256: string; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const kept: Buffer[] = [];
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (keep) kept.push(chunk);
    });
    stream.once('end', () => resolve({ bytes, sha256: hash.digest('hex'), data: Buffer.concat(kept) }));
    stream.once('error', reject);
    stream.once('close', () => reject(new Error(`stream ${stream.id} closed before its FIN (${bytes} bytes read)`)));
  });
}

/** Echoes everything read on `stream` back, with backpressure, and ends it at the peer's FIN. */
function echo(stream: MuxStream): void {
  stream.on('data', (chunk: Buffer) => {
    if (!stream.write(chunk)) {
      stream.pause();
      stream.once('drain', () => stream.resume());
    }
  });
  stream.once('end', () => stream.end());
  stream.on('error', () => {});
}

/** Reads one line ("...\n") from a stream used as a control channel. */
function readLine(stream: MuxStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        cleanup();
        const rest = text.slice(nl + 1);
        if (rest.length > 0) stream.unshift(Buffer.from(rest, 'utf8'));
        resolve(text.slice(0, nl));
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`stream ${stream.id} ended before a full line (got ${JSON.stringify(text)})`));
    };
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.pause();
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.resume();
  });
}

/** Resolves with the error a stream is destroyed with (or undefined), rejects if that takes too long. */
function streamClosed(stream: MuxStream): Promise<Error | undefined> {
  return new Promise((resolve) => {
    if (stream.closed) resolve(stream.errored ?? undefined);
    else stream.once('close', () => resolve(stream.errored ?? undefined));
  });
}

// --- connecting a Go peer to our session -------------------------------------

interface Connected {
  peer: GoPeer;
  session: Session;
  socket: Socket;
}

interface ConnectOptions {
  ourRole: Role;
  mode: string;
  flags?: Record<string, string | number>;
  session?: Omit<Partial<SessionOptions>, 'role'>;
  /** Called with the new session before any byte is read (attach 'stream' listeners here). */
  onSession?: (session: Session) => void;
}

/** Starts a Go peer that dials our TCP listener, wraps the accepted socket in our Session. */
async function connectGoPeer(t: TestContext, options: ConnectOptions): Promise<Connected> {
  const server = createServer();
  // Closed first thing: a peer that cannot start must not leave a listener that keeps the file running.
  t.after(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const connection = once(server, 'connection') as Promise<[Socket]>;
  const peer = GoPeer.start({
    role: options.ourRole === 'client' ? 'server' : 'client',
    connect: `127.0.0.1:${port}`,
    mode: options.mode,
    flags: options.flags,
  });
  t.after(() => peer.stop());
  await peer.waitForEvent('ready');
  const [socket] = await connection;
  server.close();
  socket.setNoDelay(true);
  const session = new Session(socket, { keepAliveIntervalMs: 0, ...options.session, role: options.ourRole });
  t.after(() => session.destroy());
  options.onSession?.(session);
  return { peer, session, socket };
}

/** Session 'stream' events as a promise of the first inbound stream. */
function nextInboundStream(session: Session): Promise<MuxStream> {
  return new Promise((resolve) => session.once('stream', resolve));
}

function num(e: GoPeerEvent, field: string): number {
  const v = e[field];
  assert.equal(typeof v, 'number', `event ${e.event} has a numeric ${field}`);
  return v as number;
}

// --- the tests, in both roles ------------------------------------------------

describe('yamux interop with hashicorp/yamux (go-yamux-peer)', { skip: interopSkip('go-yamux-peer') }, () => {
  for (const ourRole of ['server', 'client'] as const) {
    const goRole: Role = ourRole === 'server' ? 'client' : 'server';

    describe(`yamux interop with hashicorp/yamux: we are ${ourRole}, Go is ${goRole}`, () => {
      describe('many streams', () => {
        it('gets 100 concurrent streams we open echoed back byte for byte', { timeout: TEST_TIMEOUT_MS }, async (t) => {
          const { peer, session } = await connectGoPeer(t, { ourRole, mode: 'echo' });
          const streams = Array.from({ length: 100 }, (_, i) => {
            const stream = session.openStream();
            const payload = Buffer.alloc(16 * 1024 + i * 97);
            for (let j = 0; j < payload.length; j++) payload[j] = (j * 7 + i) & 0xff;
            const received = receiveAll(stream, true);
            stream.end(payload);
            return { stream, payload, received };
          });
          for (const { stream, payload, received } of streams) {
            const got = await received;
            assert.ok(got.data.equals(payload), `stream ${stream.id} echoed its ${payload.length} bytes intact`);
          }
          const done = await peer.waitForEvents('stream_done', 100);
          const doneIds = new Set(done.map((e) => num(e, 'id')));
          for (const { stream, payload } of streams) {
            assert.ok(doneIds.has(stream.id), `Go finished stream ${stream.id}`);
            const e = done.find((d) => d.id === stream.id) as GoPeerEvent;
            assert.equal(e.sha256, sha256(payload), `Go saw the same bytes on stream ${stream.id}`);
          }
        });

        it('echoes 100 concurrent streams the Go peer opens and checks', { timeout: TEST_TIMEOUT_MS }, async (t) => {
          const { peer } = await connectGoPeer(t, {
            ourRole,
            mode: 'open-echo',
            flags: { streams: 100, bytes: 64 * 1024 },
            onSession: (s) => s.on('stream', echo),
          });
          const done = await peer.waitForEvent('open_echo_done');
          assert.equal(done.ok, 100, 'Go verified the echo on all 100 streams');
          assert.equal(done.failed, 0, 'no stream failed on the Go side');
          const closed = await peer.waitForEvents('stream_closed', 100);
          assert.ok(
            closed.every((e) => e.state === 'closed'),
            `every stream ended with our FIN, not a reset: ${JSON.stringify(closed.filter((e) => e.state !== 'closed'))}`,
          );
        });
      });

      describe('bulk transfer', () => {
        it('moves 256 MiB from us to the Go peer intact', { timeout: BIG_TRANSFER_TIMEOUT_MS }, async (t) => {
          const { peer, session } = await connectGoPeer(t, { ourRole, mode: 'sink' });
          const stream = session.openStream();
          stream.on('error', () => {});
          const sent = await sendPattern(stream, BIG_TRANSFER_BYTES);
          const done = await peer.waitForEvent('stream_done', (e) => e.id === stream.id, BIG_TRANSFER_TIMEOUT_MS);
          assert.equal(done.bytes, BIG_TRANSFER_BYTES, 'Go received every byte');
          assert.equal(done.sha256, sent, 'Go received the bytes we sent, in order');
        });

        it('moves 256 MiB from the Go peer to us intact', { timeout: BIG_TRANSFER_TIMEOUT_MS }, async (t) => {
          let inbound!: Promise<MuxStream>;
          const { peer } = await connectGoPeer(t, {
            ourRole,
            mode: 'source',
            flags: { open: 1, bytes: BIG_TRANSFER_BYTES },
            onSession: (s) => (inbound = nextInboundStream(s)),
          });
          const stream = await inbound;
          const got = await receiveAll(stream);
          const sent = await peer.waitForEvent('stream_sent', (e) => e.id === stream.id, BIG_TRANSFER_TIMEOUT_MS);
          assert.equal(got.bytes, BIG_TRANSFER_BYTES, 'we received every byte');
          assert.equal(got.sha256, sent.sha256, 'we received the bytes Go sent, in order');
          stream.end();
        });

        it('moves 64 MiB each way at once with 4 MiB windows on both sides', { timeout: BIG_TRANSFER_TIMEOUT_MS }, async (t) => {
          const { peer, session } = await connectGoPeer(t, {
            ourRole,
            mode: 'echo',
            flags: { window: 4 * MiB },
            session: { maxStreamWindowBytes: 4 * MiB },
          });
          const stream = session.openStream();
          const received = receiveAll(stream);
          const sent = await sendPattern(stream, 64 * MiB);
          const got = await received;
          assert.equal(got.bytes, 64 * MiB, 'the whole echo came back');
          assert.equal(got.sha256, sent, 'the echo is byte-identical');
          const done = await peer.waitForEvent('stream_done', (e) => e.id === stream.id);
          assert.equal(done.sha256, sent, 'Go saw the same bytes');
        });
      });

      describe('half-close', () => {
        it('lets the Go peer half-close and still sends it our reply', { timeout: TEST_TIMEOUT_MS }, async (t) => {
          let inbound!: Promise<MuxStream>;
          const { peer } = await connectGoPeer(t, {
            ourRole,
            mode: 'half-close',
            flags: { open: 1, bytes: 100_000 },
            onSession: (s) => (inbound = nextInboundStream(s)),
          });
          const stream = await inbound;
          const request = await receiveAll(stream);
          const goSent = await peer.waitForEvent('stream_sent', (e) => e.id === stream.id);
          assert.equal(request.bytes, 100_000, "we read the Go side's bytes up to its FIN");
          assert.equal(request.sha256, goSent.sha256, 'those bytes are intact');
          assert.ok(stream.writable, 'our side is still writable after the FIN we received');
          // Larger than one window: Go keeps granting credit after its own FIN.
          const reply = await sendPattern(stream, 600_000);
          const done = await peer.waitForEvent('stream_done', (e) => e.id === stream.id);
          assert.equal(done.bytes, 600_000, 'Go read our whole reply after half-closing');
          assert.equal(done.sha256, reply, 'the reply arrived intact');
        });

        it("half-closes our side and still reads the Go peer's reply", { timeout: TEST_TIMEOUT_MS }, async (t) => {
          const { peer, session } = await connectGoPeer(t, { ourRole, mode: 'sink', flags: { 'reply-bytes': 600_000 } });
          const stream = session.openStream();
          const reply = receiveAll(stream);
          const sent = await sendPattern(stream, 100_000);
          const done = await peer.waitForEvent('stream_done', (e) => e.id === stream.id);
          assert.equal(done.bytes, 100_000, 'Go read our bytes up to our FIN');
          assert.equal(done.sha256, sent, 'our bytes arrived intact');
          const got = await reply;
          const goSent = await peer.waitForEvent('stream_sent', (e) => e.id === stream.id);
          assert.equal(got.bytes, 600_000, 'we read the whole reply after our FIN');
          assert.equal(got.sha256, goSent.sha256, 'the reply arrived intact');
        });
      });

      describe('reset', () => {
        it('resets a stream and the Go peer sees its reads and writes fail', { timeout: TEST_TIMEOUT_MS }, async (t) => {
          const { peer, session } = await connectGoPeer(t, { ourRole, mode: 'rst' });
          const stream = session.openStream();
          stream.on('error', () => {});
          stream.write('hello');
          await peer.waitForEvent('stream_accepted', (e) => e.id === stream.id);
          // Go writes until its window is used up; we read nothing, then reset.
          stream.destroy();
          const reset = await peer.waitForEvent('stream_reset', (e) => e.id === stream.id);
          assert.equal(reset.read_error, 'connection reset', "Go's Read fails with yamux's ErrConnectionReset");
          assert.equal(reset.write_error, 'connection reset', "Go's blocked Write fails with ErrConnectionReset");
          assert.equal(session.isClosed, false, 'the session survives the reset');
        });

        it('sees a stream the Go peer resets (accept backlog full) end with StreamResetError', { timeout: TEST_TIMEOUT_MS }, async (t) => {
          const { session } = await connectGoPeer(t, { ourRole, mode: 'idle', flags: { 'accept-backlog': 1 } });
          const waiting = session.openStream();
          waiting.on('error', () => {});
          const refused = session.openStream();
          refused.on('error', () => {});
          const err = await streamClosed(refused);
          assert.ok(err instanceof StreamResetError, `the second stream was reset by Go, got ${String(err)}`);
          assert.equal(err.code, 'ERR_MUX_STREAM_RESET', 'the error has the reset code');
          assert.equal(waiting.destroyed, false, 'the stream in Go\'s backlog is untouched');
          assert.equal(session.isClosed, false, 'the session survives the reset');
        });
      });

      describe('GoAway', () => {
        it("refuses new streams after the Go peer's GoAway while an existing stream finishes", { timeout: TEST_TIMEOUT_MS }, async (t) => {
          let goAwayCode!: Promise<number>;
          const { peer, session } = await connectGoPeer(t, {
            ourRole,
            mode: 'goaway',
            flags: { 'goaway-after': 1 },
            onSession: (s) => (goAwayCode = once(s, 'goaway').then(([code]) => code as number)),
          });
          const stream = session.openStream();
          const echoed = receiveAll(stream);
          stream.write(patternChunk(0, 1000));
          assert.equal(await goAwayCode, GoAwayCode.Normal, 'Go sent GoAway(normal)');
          assert.throws(
            () => session.openStream(),
            (err: unknown) => err instanceof GoAwayError && err.goAwayCode === GoAwayCode.Normal,
            'openStream throws GoAwayError after the peer went away',
          );
          const rest = Buffer.concat([patternChunk(1000, 60_000), patternChunk(61_000, 40_000)]);
          stream.end(rest);
          const got = await echoed;
          assert.equal(got.sha256, sha256(Buffer.concat([patternChunk(0, 1000), rest])), 'the existing stream kept working');
          assert.equal(session.isClosed, false, 'a normal GoAway does not end the session');
          await peer.waitForEvent('stream_done', (e) => e.id === stream.id);
        });

        it('sends GoAway on close(): the Go peer opens no new stream while ours finishes', { timeout: TEST_TIMEOUT_MS }, async (t) => {
          const { peer, session } = await connectGoPeer(t, {
            ourRole,
            mode: 'control',
            onSession: (s) =>
              s.on('stream', (st: MuxStream) => {
                st.on('error', () => {});
                st.resume();
                st.end();
              }),
          });
          const control = session.openStream();
          control.write('open\n');
          assert.match(await readLine(control), /^ok \d+$/, 'Go can open a stream before our GoAway');
          const closing = session.close({ graceMs: 30_000 });
          // Sent after the GoAway on the same connection, so Go has seen it.
          control.write('open\n');
          const answer = await readLine(control);
          assert.equal(answer, 'error remote end is not accepting connections', "Go's OpenStream fails with ErrRemoteGoAway");
          const result = await peer.waitForEvent('open_result', (e) => e.ok === false);
          assert.equal(result.error, 'remote end is not accepting connections', 'Go reports the refused open');
          control.end();
          control.resume();
          await closing;
          assert.equal(session.isClosed, true, 'our session closed once the stream finished');
          assert.equal(session.closeReason, undefined, 'our own close() has no error');
          const closed = await peer.waitForEvent('session_closed');
          assert.equal(typeof closed.err, 'string', 'Go saw the connection end');
        });
      });

      describe('keepalive', () => {
        it("answers the Go peer's pings", { timeout: TEST_TIMEOUT_MS }, async (t) => {
          // Go's keepalive runs too (every 20 ms), alongside its explicit pings.
          const { peer, session } = await connectGoPeer(t, { ourRole, mode: 'ping', flags: { count: 5, 'keepalive-ms': 20 } });
          const done = await peer.waitForEvent('pings_done');
          assert.equal(done.count, 5, 'Go finished its pings');
          const pings = peer.eventsNamed('ping');
          assert.equal(pings.length, 5, 'every ping got an answer');
          assert.ok(pings.every((p) => num(p, 'rtt_ms') >= 0), 'Go measured an RTT for each');
          assert.equal(peer.eventsNamed('ping_failed').length, 0, 'no ping timed out');
          assert.equal(session.isClosed, false, 'our session is still up');
        });

        it('measures the RTT of pings the Go peer answers', { timeout: TEST_TIMEOUT_MS }, async (t) => {
          const { session } = await connectGoPeer(t, { ourRole, mode: 'echo' });
          for (let i = 0; i < 3; i++) {
            const rtt = await session.ping();
            assert.ok(Number.isFinite(rtt) && rtt >= 0, `ping ${i} resolved with an RTT`);
          }
          assert.equal(typeof session.lastRttMs, 'number', 'lastRttMs is set');
        });

        it('closes with KeepAliveTimeoutError when the Go peer goes silent', { timeout: TEST_TIMEOUT_MS }, async (t) => {
          const { peer, session } = await connectGoPeer(t, {
            ourRole,
            mode: 'silent',
            session: { keepAliveIntervalMs: 200, keepAliveTimeoutMs: 500 },
          });
          await peer.waitForEvent('silent');
          const reason = await session.closed;
          assert.ok(reason instanceof KeepAliveTimeoutError, `the session closed on keepalive timeout, got ${String(reason)}`);
          assert.equal(reason.code, 'ERR_MUX_KEEPALIVE_TIMEOUT', 'the error has the keepalive code');
        });
      });

      describe('flow control violations', () => {
        const variants: Array<{ name: string; flags: Record<string, string | number> }> = [
          { name: 'a window-update SYN then 256 KiB + 1 in two data frames', flags: { bytes: 256 * 1024, extra: 1 } },
          { name: 'SYN on a data frame of 256 KiB + 1', flags: { bytes: 256 * 1024 + 1, extra: 0, 'raw-syn': 'data' } },
        ];
        for (const variant of variants) {
          it(`answers a Go peer that sends past our window (${variant.name}) with GoAway(protocol error)`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
            const { peer, session } = await connectGoPeer(t, {
              ourRole,
              mode: 'overrun',
              flags: variant.flags,
              // A listener that never reads: no credit is returned.
              onSession: (s) => s.on('stream', (st: MuxStream) => st.on('error', () => {})),
            });
            const reason = await session.closed;
            assert.ok(reason instanceof MuxProtocolError, `our session closed with MuxProtocolError, got ${String(reason)}`);
            assert.equal(reason.goAwayCode, GoAwayCode.ProtocolError, 'the error carries the protocol-error code');
            const goAway = await peer.waitForEvent('goaway');
            assert.equal(goAway.code, GoAwayCode.ProtocolError, 'Go received GoAway with code 1');
            await peer.waitForEvent('conn_closed');
          });
        }
      });
    });
  }

  describe('golden frames', () => {
    it('are what hashicorp/yamux writes today (re-captured from the Go peer)', { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const peer = GoPeer.start({ mode: 'capture' });
      t.after(() => peer.stop());
      await peer.waitForEvent('capture_done');
      const golden = JSON.parse(readFileSync(new URL('golden/frames.json', import.meta.url), 'utf8')) as {
        frames: Array<{ name: string; header: string; payload: string }>;
      };
      const captured = peer.eventsNamed('golden');
      assert.equal(captured.length, golden.frames.length, 'the capture has as many frames as the golden file');
      for (const g of golden.frames) {
        const c = captured.find((e) => e.name === g.name);
        assert.ok(c, `the capture has frame ${g.name}`);
        assert.equal(c.header, g.header, `header of ${g.name} matches the golden file`);
        assert.equal(c.payload, g.payload, `payload of ${g.name} matches the golden file`);
      }
    });
  });
});
