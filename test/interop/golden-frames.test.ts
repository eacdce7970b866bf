/**
 * Golden frames captured from hashicorp/yamux df201c7 (test/interop/golden/
 * frames.json, made by `go-yamux-peer -mode capture`): our codec decodes
 * them and encodes byte-identical headers, and our Session writes the same
 * bytes Go writes in the same situations. Needs no Go toolchain.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import {
  Flag,
  FrameType,
  GoAwayCode,
  Session,
  decodeHeader,
  encodeHeader,
  type FrameHeader,
  type MuxStream,
  type SessionOptions,
} from '../../src/mux/index.js';
import { createDuplexPair, type PairEnd } from '../helpers/duplex-pair.js';

interface GoldenFrame {
  name: string;
  description: string;
  dir: 'c2s' | 's2c';
  header: string;
  payload: string;
  fields: FrameHeader;
}

const golden = JSON.parse(readFileSync(new URL('golden/frames.json', import.meta.url), 'utf8')) as {
  frames: GoldenFrame[];
};

function frame(name: string): GoldenFrame {
  const f = golden.frames.find((g) => g.name === name);
  assert.ok(f, `golden frame ${name} exists in frames.json`);
  return f;
}

/** What each golden frame means per spec.md, written with our constants. */
const expected: Record<string, Omit<FrameHeader, 'version'>> = {
  window_update_syn: { type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: 1, length: 0 },
  window_update_ack: { type: FrameType.WindowUpdate, flags: Flag.ACK, streamId: 1, length: 0 },
  data: { type: FrameType.Data, flags: 0, streamId: 1, length: 5 },
  window_update_fin: { type: FrameType.WindowUpdate, flags: Flag.FIN, streamId: 1, length: 0 },
  ping_syn: { type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: 1 },
  ping_ack: { type: FrameType.Ping, flags: Flag.ACK, streamId: 0, length: 1 },
  data_full_window: { type: FrameType.Data, flags: 0, streamId: 3, length: 256 * 1024 },
  window_update: { type: FrameType.WindowUpdate, flags: 0, streamId: 3, length: 256 * 1024 },
  go_away_normal: { type: FrameType.GoAway, flags: 0, streamId: 0, length: GoAwayCode.Normal },
  window_update_syn_1mib: { type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: 1, length: 1024 * 1024 - 256 * 1024 },
  window_update_rst: { type: FrameType.WindowUpdate, flags: Flag.RST, streamId: 3, length: 0 },
  go_away_protocol_error: { type: FrameType.GoAway, flags: 0, streamId: 0, length: GoAwayCode.ProtocolError },
};

/** A Session on one end of an in-memory pair; the test plays the peer on the other end. */
function sessionWithRawPeer(t: TestContext, options: SessionOptions): { session: Session; raw: PairEnd; written: () => Buffer } {
  const [ours, raw] = createDuplexPair();
  const session = new Session(ours, { keepAliveIntervalMs: 0, ...options });
  t.after(() => session.destroy());
  const chunks: Buffer[] = [];
  raw.on('data', (c: Buffer) => chunks.push(c));
  return { session, raw, written: () => Buffer.concat(chunks) };
}

/** Resolves once the session has written at least `bytes` bytes to the raw end. */
async function waitForBytes(raw: PairEnd, written: () => Buffer, bytes: number): Promise<Buffer> {
  while (written().length < bytes) {
    await new Promise<void>((resolve, reject) => {
      const onData = () => {
        raw.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        raw.off('data', onData);
        reject(new Error(`transport closed after ${written().length} of ${bytes} bytes`));
      };
      raw.once('data', onData);
      raw.once('close', onClose);
    });
  }
  return written();
}

/** Streams here are torn down with their session at the end of each test; their errors are not the subject. */
function quiet(stream: MuxStream): MuxStream {
  stream.on('error', () => {});
  return stream;
}

function hex(name: string): Buffer {
  return Buffer.from(frame(name).header, 'hex');
}

describe('golden frames from hashicorp/yamux', () => {
  it('has every frame the tests expect, each a 12-byte header', () => {
    for (const name of Object.keys(expected)) {
      assert.equal(hex(name).length, 12, `golden ${name} is 12 bytes`);
    }
  });

  for (const name of Object.keys(expected)) {
    it(`decodes Go's ${name} frame to the fields spec.md gives it`, () => {
      const want = expected[name];
      assert.deepEqual(decodeHeader(hex(name), 0), { version: 0, ...want }, `${name} decodes as expected`);
      assert.deepEqual(decodeHeader(hex(name), 0), frame(name).fields, `${name} decodes to the fields stored with it`);
    });

    it(`encodes the ${name} fields to Go's bytes exactly`, () => {
      const f = frame(name).fields;
      assert.equal(encodeHeader(f.type, f.flags, f.streamId, f.length).toString('hex'), frame(name).header, `${name} re-encodes identically`);
    });
  }

  it('decodes a header at a non-zero offset', () => {
    const buf = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), hex('window_update_rst')]);
    assert.deepEqual(decodeHeader(buf, 3), frame('window_update_rst').fields, 'header after 3 junk bytes decodes');
  });

  it('writes the SYN Go writes when our client opens a stream with the default window', async (t) => {
    const { session, raw, written } = sessionWithRawPeer(t, { role: 'client' });
    quiet(session.openStream());
    const out = await waitForBytes(raw, written, 12);
    assert.equal(out.subarray(0, 12).toString('hex'), frame('window_update_syn').header, 'SYN window update matches Go');
  });

  it('advertises a 1 MiB window in the SYN exactly as Go does', async (t) => {
    const { session, raw, written } = sessionWithRawPeer(t, { role: 'client', maxStreamWindowBytes: 1024 * 1024 });
    quiet(session.openStream());
    const out = await waitForBytes(raw, written, 12);
    assert.equal(out.subarray(0, 12).toString('hex'), frame('window_update_syn_1mib').header, 'SYN with 1 MiB window matches Go');
  });

  it('writes Go\'s data and FIN frames for "hello" then end()', async (t) => {
    const { session, raw, written } = sessionWithRawPeer(t, { role: 'client' });
    const stream = quiet(session.openStream());
    stream.end('hello');
    const out = await waitForBytes(raw, written, 12 + 12 + 5 + 12);
    const data = frame('data');
    assert.equal(out.subarray(12, 24).toString('hex'), data.header, 'data header matches Go');
    assert.equal(out.subarray(24, 29).toString('hex'), data.payload, 'data payload matches Go');
    assert.equal(out.subarray(29, 41).toString('hex'), frame('window_update_fin').header, 'FIN matches Go');
  });

  it("answers Go's SYN with Go's ACK when our server accepts", async (t) => {
    const { session, raw, written } = sessionWithRawPeer(t, { role: 'server' });
    const accepted = new Promise<MuxStream>((resolve) => session.once('stream', (s: MuxStream) => resolve(quiet(s))));
    raw.write(hex('window_update_syn'));
    const stream = await accepted;
    assert.equal(stream.id, 1, 'the stream Go opened has id 1');
    const out = await waitForBytes(raw, written, 12);
    assert.equal(out.subarray(0, 12).toString('hex'), frame('window_update_ack').header, 'ACK matches Go');
  });

  it("answers Go's ping with Go's ping ACK", async (t) => {
    const { raw, written } = sessionWithRawPeer(t, { role: 'server' });
    raw.write(hex('ping_syn'));
    const out = await waitForBytes(raw, written, 12);
    assert.equal(out.subarray(0, 12).toString('hex'), frame('ping_ack').header, 'ping ACK matches Go');
  });

  it("returns credit with Go's window update after reading a full window", async (t) => {
    const { session, raw, written } = sessionWithRawPeer(t, { role: 'server' });
    const accepted = new Promise<MuxStream>((resolve) => session.once('stream', (s: MuxStream) => resolve(quiet(s))));
    raw.write(hex('window_update_syn'));
    raw.write(encodeHeader(FrameType.Data, 0, 1, 256 * 1024));
    raw.write(Buffer.alloc(256 * 1024, 7));
    const stream = await accepted;
    let got = 0;
    stream.on('data', (c: Buffer) => (got += c.length));
    const out = await waitForBytes(raw, written, 24);
    assert.equal(got, 256 * 1024, 'the whole window was read');
    // Go's capture was on stream 3; ours is stream 1: compare all but the id.
    const update = decodeHeader(out, 12);
    assert.deepEqual(
      { ...update, streamId: 3 },
      frame('window_update').fields,
      'window update after a full window matches Go (type, flags, delta)',
    );
  });

  it('writes GoAway(normal) as Go does', async (t) => {
    const { session, raw, written } = sessionWithRawPeer(t, { role: 'server' });
    session.goAway();
    const out = await waitForBytes(raw, written, 12);
    assert.equal(out.subarray(0, 12).toString('hex'), frame('go_away_normal').header, 'GoAway normal matches Go');
  });

  it("resets a stream over the accept backlog with Go's RST frame", async (t) => {
    const { session, raw, written } = sessionWithRawPeer(t, { role: 'server', acceptBacklog: 1 });
    raw.write(encodeHeader(FrameType.WindowUpdate, Flag.SYN, 1, 0));
    raw.write(encodeHeader(FrameType.WindowUpdate, Flag.SYN, 3, 0));
    const out = await waitForBytes(raw, written, 12);
    assert.equal(out.subarray(0, 12).toString('hex'), frame('window_update_rst').header, 'RST matches Go');
    quiet(await session.accept());
  });

  it('answers data past the window with the protocol-error GoAway Go sends', async (t) => {
    const { session, raw, written } = sessionWithRawPeer(t, { role: 'server' });
    session.on('stream', quiet);
    raw.write(encodeHeader(FrameType.WindowUpdate, Flag.SYN, 1, 0));
    raw.write(encodeHeader(FrameType.Data, 0, 1, 256 * 1024 + 1));
    raw.write(Buffer.alloc(256 * 1024 + 1));
    // The ACK of stream 1 comes first, then the GoAway.
    const out = await waitForBytes(raw, written, 24);
    const goAway = out.subarray(out.length - 12);
    assert.equal(goAway.toString('hex'), frame('go_away_protocol_error').header, 'GoAway protocol error matches Go');
  });
});
