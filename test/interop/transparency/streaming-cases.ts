/**
 * Streaming in every cell: the first part of an SSE or chunked response
 * reaches the visitor while the local service is still writing (ordering by
 * events: the service writes its second part only once the visitor has the
 * first; the delay is printed, never asserted), and a full-duplex echo (the
 * service writes while it reads) that does not deadlock.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import { it } from 'node:test';
import { splitHostPort } from '../../relay/relay-fixtures.js';
import type { CellSpec, TransparencyCell } from './transparency-cells.js';
import { CASE_OPTIONS, requestId } from './transparency-visitor.js';

const MiB = 1024 * 1024;

/** Starts a request to the cell's main agent (no pooling, no decompression) and resolves at its response head. */
function startRequest(cell: TransparencyCell, method: string, path: string, headers: http.OutgoingHttpHeaders = {}): { req: http.ClientRequest; response: Promise<http.IncomingMessage> } {
  const [host, port] = splitHostPort(cell.public);
  const req = http.request({ host, port, method, path, agent: false, headers: { host: cell.host, ...headers } });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  return { req, response };
}

/** Resolves once `total()` (bytes `res` delivered so far) reaches `target`; rejects if `res` ends first. */
function bytesArrive(res: http.IncomingMessage, total: () => number, target: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (total() >= target) {
        res.off('data', check);
        res.off('end', ended);
        resolve();
      }
    };
    const ended = (): void => reject(new Error(`the response ended after ${total()} of ${target} bytes`));
    res.on('data', check);
    res.once('end', ended);
    check();
  });
}

/** The streaming cases of one cell. */
export function streamingCases(_spec: CellSpec, cellOf: () => TransparencyCell): void {
  for (const kind of ['sse', 'stream'] as const) {
    it(`the first part of ${kind === 'sse' ? 'an SSE' : 'a chunked'} response reaches the visitor while the local service is still writing`, CASE_OPTIONS, async (t) => {
      const cell = cellOf();
      const key = requestId(kind);
      const { req, response } = startRequest(cell, 'GET', `/${kind}?key=${key}`, { accept: kind === 'sse' ? 'text/event-stream' : '*/*' });
      req.end();
      const res = await response;
      t.after(() => res.destroy());
      assert.equal(res.headers['content-type'], kind === 'sse' ? 'text/event-stream' : 'text/plain', 'Content-Type kept');
      const [first] = (await once(res, 'data')) as [Buffer];
      const receivedMs = performance.now();
      // The service writes its second part only after this release: the first arrived on its own.
      assert.equal(first.toString(), kind === 'sse' ? 'data: one\n\n' : 'part one\n', 'the first part, alone');
      assert.equal(res.complete, false, 'before the response is complete');
      t.diagnostic(`first part after ${(receivedMs - (await cell.service.firstPartWritten(key))).toFixed(1)} ms (information only)`);
      cell.service.release(key);
      const rest: Buffer[] = [];
      for await (const chunk of res) rest.push(chunk as Buffer);
      assert.equal(Buffer.concat(rest).toString(), kind === 'sse' ? 'data: two\n\n' : 'part two\n', 'then the second part');
    });
  }

  it('a full-duplex echo (the service answers while it reads) does not deadlock: lock-step parts, then 8 MiB both ways at once', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const { req, response } = startRequest(cell, 'POST', '/echo', { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' });
    t.after(() => req.destroy());
    const sentHash = createHash('sha256');
    const gotHash = createHash('sha256');
    let received = 0;
    const send = (chunk: Buffer): void => {
      sentHash.update(chunk);
      req.write(chunk);
    };
    // Lock-step: each part is sent only once the echo of the one before it came back.
    const first = randomBytes(16 * 1024);
    send(first);
    const res = await response;
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
      gotHash.update(chunk);
    });
    let sent = first.length;
    await bytesArrive(res, () => received, sent);
    for (let i = 0; i < 8; i++) {
      const part = randomBytes(16 * 1024 + i);
      send(part);
      sent += part.length;
      await bytesArrive(res, () => received, sent);
    }
    const lockStepBytes = received;
    // Then 8 MiB written while the echo is read.
    const bulk = randomBytes(8 * MiB);
    for (let offset = 0; offset < bulk.length; offset += 64 * 1024) {
      const ok = req.write(bulk.subarray(offset, offset + 64 * 1024));
      sentHash.update(bulk.subarray(offset, offset + 64 * 1024));
      if (!ok) await once(req, 'drain');
    }
    req.end();
    await once(res, 'end');
    assert.ok(lockStepBytes > 0, 'the lock-step parts came back');
    assert.equal(received, lockStepBytes + bulk.length, 'every byte came back');
    assert.equal(gotHash.digest('hex'), sentHash.digest('hex'), 'in order, intact');
  });
}
