/**
 * Message framing in every cell: chunked request bodies (with and without
 * trailers), chunked responses with trailers, close-delimited responses,
 * bodiless responses (204, 304, HEAD), HTTP/1.0 visitors, pipelining, and a
 * local service that closes its connection mid keep-alive. The visitor is a
 * raw socket, so framing and connection reuse are seen as they are.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { chunkedBody, formatRequest, headerValue, headerValues, type RawHeader } from '../../helpers/raw-http-client.js';
import { patternBytes } from '../../relay/relay-fixtures.js';
import type { CellSpec, TransparencyCell } from './transparency-cells.js';
import { CASE_OPTIONS, assertConnectionClean, connectVisitor, requestId, seenHeader, visitorHeaders } from './transparency-visitor.js';

/** `[name, value, ...]` as pairs. */
function pairs(raw: readonly string[]): RawHeader[] {
  const out: RawHeader[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

/** The framing cases of one cell. */
export function framingCases(spec: CellSpec, cellOf: () => TransparencyCell): void {
  it('a chunked request body without trailers reaches the local service intact, and is echoed', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('chunked-req');
    const parts = ['first chunk;', 'x'.repeat(70_000), 'last'];
    const c = await connectVisitor(t, cell);
    const { final } = await c.exchange('/echo', {
      method: 'POST',
      headers: visitorHeaders(cell, id, [['Transfer-Encoding', 'chunked']]),
      body: chunkedBody(parts),
    });
    assert.equal(final.status, 200, 'status');
    assert.equal(final.body.toString('latin1'), parts.join(''), 'echoed intact');
    const seen = await cell.service.seen(id);
    assert.equal(seen.body.toString('latin1'), parts.join(''), 'the local service got the body intact');
    assert.equal(seenHeader(seen, 'transfer-encoding'), 'chunked', 'the local service got it chunked');
    assert.deepEqual(seen.rawTrailers, [], 'no trailers');
    assert.equal(await assertConnectionClean(c, cell, final), 'reused', 'the connection stays usable');
  });

  it('a chunked request body with trailers: the trailers reach the local service', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('chunked-trailers');
    const c = await connectVisitor(t, cell);
    const { final } = await c.exchange('/echo', {
      method: 'PUT',
      headers: visitorHeaders(cell, id, [
        ['Transfer-Encoding', 'chunked'],
        ['Trailer', 'X-Checksum, X-Note'],
      ]),
      body: chunkedBody(['payload ', 'in two'], [
        ['X-Checksum', 'sha256=0123abcd'],
        ['X-Note', 'after the body'],
      ]),
    });
    assert.equal(final.status, 200, 'status');
    assert.equal(final.body.toString(), 'payload in two', 'echoed intact');
    const seen = await cell.service.seen(id);
    assert.equal(seen.body.toString(), 'payload in two', 'the local service got the body');
    if (spec.relay === 'go') {
      // Pinned (docs/wire-protocol.md): the Go relay writes the request from a copy taken
      // before the body was read, so the trailers never reach the stream.
      assert.deepEqual(pairs(seen.rawTrailers), [], 'the Go relay drops request trailers');
    } else {
      assert.deepEqual(pairs(seen.rawTrailers), [
        ['X-Checksum', 'sha256=0123abcd'],
        ['X-Note', 'after the body'],
      ], 'the trailers reached the local service');
    }
  });

  it('a chunked response with trailers: the visitor gets every chunk and both trailers', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const c = await connectVisitor(t, cell);
    const { final } = await c.exchange('/trailers', { headers: visitorHeaders(cell, requestId('resp-trailers')) });
    assert.equal(final.status, 200, 'status');
    assert.equal(final.framing, 'chunked', 'chunked to the visitor');
    assert.equal(final.body.toString(), 'part one\npart two\n', 'body intact');
    assert.deepEqual(final.trailers, [
      ['X-Checksum', 'sha256=abc123'],
      ['X-Count', '2'],
    ], 'both trailers, in order');
    const announced = headerValues(final.headers, 'trailer');
    const names = announced.join(',').split(',').map((v) => v.trim());
    // Pinned: Go's HTTP stack rewrites the announcement from a map, so its order is random: the Go
    // agent as one list without spaces, the Go relay as one header per name. Ours keeps it as written.
    if (spec.relay === 'go') assert.deepEqual([...announced].sort(), ['X-Checksum', 'X-Count'], 'one Trailer header per name, in Go map order');
    else if (spec.agent === 'go') assert.deepEqual([...names].sort(), ['X-Checksum', 'X-Count'], 'one list, in Go map order');
    else assert.deepEqual(announced, ['X-Checksum, X-Count'], 'the Trailer header as the local service wrote it');
    if (spec.agent === 'go') assert.equal(announced.length === 1 ? announced[0]?.includes(' ') : false, false, 'the Go agent writes the list without spaces');
    assert.equal(await assertConnectionClean(c, cell, final), 'reused', 'the connection stays usable');
  });

  it('a close-delimited response (no Content-Length, no chunking): every byte arrives, and the end is the end', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const n = 300_000;
    const c = await connectVisitor(t, cell);
    const { final } = await c.exchange(`/close-delimited?n=${n}`, { headers: visitorHeaders(cell, requestId('close-delimited')) });
    assert.equal(final.status, 200, 'status');
    assert.equal(headerValue(final.headers, 'x-framing'), 'close', "the local service's headers");
    assert.ok(final.body.equals(patternBytes(0, n)), `every byte, and no more (got ${final.body.length})`);
    // Re-framed for an HTTP/1.1 visitor (chunked), or passed on close-delimited: either way the end is exact.
    if (final.framing === 'close') assert.equal(c.error, undefined, 'ended by a FIN, not a reset');
    else assert.equal(await assertConnectionClean(c, cell, final), 'reused', 'a re-framed response leaves the connection usable');
  });

  it('204, 304 with a Content-Length, and HEAD with a Content-Length: no body, no hang, on one connection', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const c = await connectVisitor(t, cell);
    const noContent = await c.exchange('/status?code=204', { headers: visitorHeaders(cell, requestId('204')) });
    assert.equal(noContent.final.status, 204, '204');
    assert.equal(noContent.final.body.length, 0, '204: no body');
    assert.equal(headerValue(noContent.final.headers, 'etag'), '"v1"', '204: headers kept');
    const notModified = await c.exchange('/status?code=304&cl=1234', { headers: visitorHeaders(cell, requestId('304'), [['If-None-Match', '"v1"']]) });
    assert.equal(notModified.final.status, 304, '304');
    assert.equal(headerValue(notModified.final.headers, 'etag'), '"v1"', '304: the ETag');
    if (spec.agent === 'go' || spec.relay === 'go') {
      // Pinned (docs/wire-protocol.md): Go's HTTP stack drops a 304's Content-Length (RFC 9110 section 8.6 allows it).
      assert.equal(headerValue(notModified.final.headers, 'content-length'), undefined, '304: a Go peer drops the Content-Length');
    } else {
      assert.equal(headerValue(notModified.final.headers, 'content-length'), '1234', "304: the representation's Content-Length passes");
    }
    const head = await c.exchange('/bytes?n=5000', { method: 'HEAD', headers: visitorHeaders(cell, requestId('head')) });
    assert.equal(head.final.status, 200, 'HEAD: 200');
    assert.equal(headerValue(head.final.headers, 'content-length'), '5000', 'HEAD: the length of the body it would get');
    assert.equal(await assertConnectionClean(c, cell, head.final), 'reused', 'the connection still carries requests');
    assert.equal(c.unread.length, 0, 'no stray body bytes on the connection');
  });

  it('an HTTP/1.0 visitor without keep-alive: a complete response, framed for HTTP/1.0, then the connection closes', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('http10');
    const c = await connectVisitor(t, cell);
    const { interim, final } = await c.exchange('/trailers', { version: 'HTTP/1.0', headers: visitorHeaders(cell, id) });
    assert.deepEqual(interim, [], 'no interim response');
    assert.equal(final.status, 200, 'status');
    assert.notEqual(final.framing, 'chunked', 'never chunked to an HTTP/1.0 visitor');
    assert.equal(final.body.toString(), 'part one\npart two\n', 'the whole body');
    await c.waitForEnd();
    assert.equal(c.error, undefined, 'closed with a FIN');
    const seen = await cell.service.seen(id);
    assert.equal(seen.method, 'GET', 'the local service got the request');
  });

  it('an HTTP/1.0 visitor with keep-alive: a Content-Length response keeps the connection', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const c = await connectVisitor(t, cell);
    const first = await c.exchange('/hello', { version: 'HTTP/1.0', headers: visitorHeaders(cell, requestId('http10-ka'), [['Connection', 'keep-alive']]) });
    assert.equal(first.final.status, 200, 'status');
    assert.equal(first.final.body.toString(), 'hello from main\n', 'body');
    assert.equal(headerValue(first.final.headers, 'connection')?.toLowerCase(), 'keep-alive', 'keep-alive confirmed');
    const second = await c.exchange('/hello', { version: 'HTTP/1.0', headers: visitorHeaders(cell, requestId('http10-ka2'), [['Connection', 'keep-alive']]) });
    assert.equal(second.final.body.toString(), 'hello from main\n', 'a second request on the same connection');
  });

  it('pipelined requests on one connection are answered in order, each with its own response', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const c = await connectVisitor(t, cell);
    const key = requestId('pipeline-delay');
    const other = cell.second ?? { host: cell.host, service: cell.service };
    const secondId = requestId('pipe-2');
    const requests = Buffer.concat([
      formatRequest(`/delay?key=${key}`, { headers: visitorHeaders(cell, requestId('pipe-1')) }),
      formatRequest('/hello', { headers: [['Host', other.host], ['X-Request-Id', secondId]] }),
      formatRequest('/echo', { method: 'POST', headers: visitorHeaders(cell, requestId('pipe-3'), [['Content-Length', '5']]), body: 'third' }),
    ]);
    await c.write(requests);
    if (cell.second !== undefined) {
      // Our relay forwards pipelined requests at once: the second (another agent) is served before the first answers.
      await cell.second.service.seen(secondId);
    }
    cell.service.release(key);
    const r1 = await c.readExchange('GET');
    const r2 = await c.readExchange('GET');
    const r3 = await c.readExchange('POST');
    assert.equal(r1.final.body.toString(), 'delayed\n', 'first response first');
    assert.equal(r2.final.body.toString(), `hello from ${other.service.name}\n`, 'second response second, from the agent its Host names');
    assert.equal(r3.final.body.toString(), 'third', 'third response third');
    assert.equal(await assertConnectionClean(c, cell, r3.final), 'reused', 'the connection stays usable');
  });

  it("the local service's Connection: close mid keep-alive stays on its side: the visitor's connection carries on", CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const c = await connectVisitor(t, cell);
    const before = await c.exchange('/hello', { headers: visitorHeaders(cell, requestId('cc-1')) });
    assert.equal(before.final.status, 200, 'a first request');
    const closingId = requestId('cc-2');
    const closing = await c.exchange('/conn-close', { headers: visitorHeaders(cell, closingId) });
    assert.equal(closing.final.status, 200, 'the closing response');
    assert.equal(closing.final.body.toString(), 'bye\n', 'its body');
    assert.ok(
      !headerValues(closing.final.headers, 'connection').some((v) => /close/i.test(v)),
      "the local service's Connection: close is hop-by-hop: not passed on",
    );
    const id = requestId('cc-3');
    const after = await c.exchange('/hello', { headers: visitorHeaders(cell, id) });
    assert.equal(after.final.body.toString(), 'hello from main\n', 'the next request on the same visitor connection');
    const seen = await cell.service.seen(id);
    const closed = await cell.service.seen(closingId);
    assert.notEqual(seen.connectionId, closed.connectionId, 'the agent used another local connection after the close');
  });
}
