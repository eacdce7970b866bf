import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { FrameWriter } from '../../../src/mux/frame-writer.js';

/** A transport that records each write and emits 'recorded' after it. */
class RecordingTransport extends Writable {
  readonly writes: Buffer[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.writes.push(Buffer.from(chunk));
    callback();
    this.emit('recorded');
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function newWriter(): { transport: RecordingTransport; writer: FrameWriter } {
  const transport = new RecordingTransport();
  const writer = new FrameWriter(transport, 16 * 1024 * 1024, () => assert.fail('no overflow expected'));
  return { transport, writer };
}

describe('FrameWriter lazy frames', () => {
  it('sends a lazy control frame with the next frame, in one transport write', async () => {
    const { transport, writer } = newWriter();
    const ack = Buffer.from('ack-frame');
    const syn = Buffer.from('syn-frame');
    writer.writeControl(ack, true);
    await nextTurn();
    assert.equal(transport.writes.length, 0, 'a lazy frame alone does not flush in the same turn');
    writer.writeControl(syn);
    await once(transport, 'recorded');
    assert.deepEqual(transport.writes, [Buffer.concat([ack, syn])], 'both frames, in order, in one write');
  });

  it('sends a lazy frame by itself when no other frame comes', async () => {
    const { transport, writer } = newWriter();
    const fin = Buffer.from('fin-frame');
    writer.writeData([fin], fin.length, undefined, true);
    await once(transport, 'recorded');
    assert.deepEqual(transport.writes, [fin], 'the lazy frame was written on its own');
    await nextTurn();
    assert.equal(transport.writes.length, 1, 'and only once');
  });

  it('sends a lazy FIN queued after data in the same write as the data', async () => {
    const { transport, writer } = newWriter();
    const header = Buffer.from('data-header.');
    const payload = Buffer.from('payload');
    const fin = Buffer.from('fin-frame');
    let finAdmitted = false;
    writer.writeData([header, payload], header.length + payload.length, () => {
      writer.writeData([fin], fin.length, () => {
        finAdmitted = true;
      }, true);
    });
    assert.equal(finAdmitted, true, 'the FIN was admitted at once, behind the data');
    await once(transport, 'recorded');
    assert.deepEqual(transport.writes, [Buffer.concat([header, payload, fin])], 'data and FIN in one write');
  });

  it('drops a pending lazy frame on close()', async () => {
    const { transport, writer } = newWriter();
    writer.writeControl(Buffer.from('late'), true);
    writer.close();
    writer.writeControl(Buffer.from('after-close'));
    await nextTurn();
    await nextTurn();
    assert.equal(transport.writes.length, 0, 'nothing is written after close()');
  });
});
