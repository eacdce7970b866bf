/**
 * Header and target fidelity in every cell: repeated `Set-Cookie`, values
 * with odd but legal bytes, a 32 KiB cookie, oversized heads (431 and
 * `X-Tunnel-Error`), raw request targets, compressed bodies, and interim
 * responses (103, 102), which only our agent with our relay passes on.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { it } from 'node:test';
import { headerValue, headerValues } from '../../helpers/raw-http-client.js';
import type { CellSpec, TransparencyCell } from './transparency-cells.js';
import { EARLY_HINTS_HEAD, GZIP_PLAIN_TEXT, ODD_HEADER_VALUE, SET_COOKIES } from './transparency-service.js';
import { CASE_OPTIONS, assertConnectionClean, connectVisitor, requestId, seenHeader, visitorHeaders } from './transparency-visitor.js';

/** Targets that must reach the local service byte for byte: raw %-encodings, `;` parameters, `?` with no query. */
const RAW_TARGETS = [
  '/echo/a%2Fb%2fc/%20space%7e%7E~?q=%41%zz&flag&=empty',
  '/echo/semi;param=1;x/y;z?',
  '/echo/?',
  '/echo/pct%25/sub-delims!$&\'()*+,;=:@?a=b?c/d',
  '/echo/%E2%82%AC/%e2%82%ac?%E2%82%AC=%e2%82%ac',
];

/** The header cases of one cell. */
export function headerCases(spec: CellSpec, cellOf: () => TransparencyCell): void {
  it('several Set-Cookie headers stay separate, in order, byte for byte', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const c = await connectVisitor(t, cell);
    const { final } = await c.exchange('/set-cookies', { headers: visitorHeaders(cell, requestId('set-cookies')) });
    assert.equal(final.status, 200, 'status');
    assert.deepEqual(headerValues(final.headers, 'set-cookie'), SET_COOKIES, 'three Set-Cookie headers, none merged');
  });

  it('header values with tabs, quotes and bytes 0x80-0xFF pass byte for byte, both ways', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('odd-header');
    const c = await connectVisitor(t, cell);
    await c.exchange('/hello', { headers: visitorHeaders(cell, id, [['X-Odd', ODD_HEADER_VALUE], ['x-MiXeD-CaSe', 'kept']]) });
    const seen = await cell.service.seen(id);
    assert.equal(seenHeader(seen, 'x-odd'), ODD_HEADER_VALUE, 'the local service sees the exact bytes');
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0);
    // Pinned (docs/wire-protocol.md): header names are case-insensitive; our relay forwards them in
    // lower case, and a Go peer anywhere on the way writes them in Go's canonical form.
    const expectedName = spec.relay === 'ours' && spec.agent === 'ours' ? 'x-mixed-case' : 'X-Mixed-Case';
    assert.ok(names.includes(expectedName), `the name arrives as ${expectedName} (got ${names.join(' ')})`);
    const { final } = await c.exchange('/odd-header', { headers: visitorHeaders(cell, requestId('odd-response')) });
    assert.equal(headerValue(final.headers, 'x-odd'), ODD_HEADER_VALUE, 'the visitor sees the exact bytes');
  });

  it('a 32 KiB cookie reaches the local service, and a 32 KiB Set-Cookie reaches the visitor', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('big-cookie');
    const cookie = `session=${'s'.repeat(32 * 1024 - 8)}`;
    const c = await connectVisitor(t, cell);
    const sent = await c.exchange('/hello', { headers: visitorHeaders(cell, id, [['Cookie', cookie]]) });
    assert.equal(sent.final.status, 200, 'a 32 KiB cookie is accepted');
    assert.equal(seenHeader(await cell.service.seen(id), 'cookie'), cookie, 'the local service gets it whole');
    const { final } = await c.exchange('/big-cookie?n=32768', { headers: visitorHeaders(cell, requestId('big-set-cookie')) });
    assert.equal(final.status, 200, 'a 32 KiB Set-Cookie is passed on');
    assert.equal(headerValue(final.headers, 'set-cookie')?.length, 32 * 1024, 'the visitor gets it whole');
  });

  it('a request head over the limit is refused with 431 and X-Tunnel-Error, and never reaches the local service', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('huge-head');
    const c = await connectVisitor(t, cell);
    const { final } = await c.exchange('/hello', { headers: visitorHeaders(cell, id, [['X-Big', 'b'.repeat(200 * 1024)]]) });
    if (spec.relay === 'ours') {
      assert.equal(final.status, 431, 'our relay refuses a 200 KiB head');
      assert.equal(headerValue(final.headers, 'x-tunnel-error'), 'ERR_RELAY_HEADERS_TOO_LARGE', 'and names its code');
      await c.waitForEnd();
    } else if (spec.agent === 'ours') {
      // The Go relay accepts heads up to 1 MiB; our agent refuses what is over 128 KiB.
      assert.equal(final.status, 431, 'our agent refuses a 200 KiB head the Go relay passed on');
      assert.equal(headerValue(final.headers, 'x-tunnel-error'), 'ERR_AGENT_HEADERS_TOO_LARGE', 'and names its code');
    } else {
      // Pinned: the Go peers accept heads up to 1 MiB (Go's DefaultMaxHeaderBytes).
      assert.equal(final.status, 200, 'the Go peers pass a 200 KiB head');
    }
    assert.equal(cell.service.requests.some((r) => r.id === id), spec.relay === 'go' && spec.agent === 'go', 'the local service saw it only in the Go pairing');
    if (spec.relay === 'go') {
      const huge = await connectVisitor(t, cell);
      const refused = await huge.exchange('/hello', { headers: visitorHeaders(cell, requestId('huge-head-2'), [['X-Big', 'b'.repeat(2 * 1024 * 1024)]]) });
      // Pinned: the Go relay's own 431 (over 1 MiB) carries no X-Tunnel-Error.
      assert.equal(refused.final.status, 431, 'the Go relay refuses a 2 MiB head');
      assert.equal(headerValue(refused.final.headers, 'x-tunnel-error'), undefined, 'without X-Tunnel-Error');
    }
  });

  it('request targets with raw %-encodings, ; parameters and a bare ? reach the local service byte for byte', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const c = await connectVisitor(t, cell);
    const seenTargets: string[] = [];
    for (const target of RAW_TARGETS) {
      const id = requestId('target');
      const { final } = await c.exchange(target, { headers: visitorHeaders(cell, id) });
      assert.equal(final.status, 200, `${target}: status 200`);
      seenTargets.push((await cell.service.seen(id)).url);
    }
    assert.deepEqual(seenTargets, RAW_TARGETS, 'every target as sent');
  });

  it('Content-Encoding and compressed bodies pass untouched, both ways', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const c = await connectVisitor(t, cell);
    const down = await c.exchange('/gzip', { headers: visitorHeaders(cell, requestId('gzip-down'), [['Accept-Encoding', 'gzip']]) });
    assert.equal(headerValue(down.final.headers, 'content-encoding'), 'gzip', 'Content-Encoding kept');
    assert.equal(headerValue(down.final.headers, 'content-length'), String(cell.service.gzipBody.length), 'the compressed length kept');
    assert.ok(down.final.body.equals(cell.service.gzipBody), 'the compressed bytes, unchanged');
    const id = requestId('gzip-up');
    const upBody = gzipSync(Buffer.from('compressed upload\n'.repeat(500)));
    const up = await c.exchange('/echo', {
      method: 'POST',
      headers: visitorHeaders(cell, id, [['Content-Encoding', 'gzip'], ['Content-Type', 'text/plain'], ['Content-Length', String(upBody.length)]]),
      body: upBody,
    });
    assert.ok(up.final.body.equals(upBody), 'a gzip request body echoed unchanged');
    const seen = await cell.service.seen(id);
    assert.equal(seenHeader(seen, 'content-encoding'), 'gzip', 'the local service sees Content-Encoding');
    assert.ok(seen.body.equals(upBody), 'and the compressed bytes');
  });

  it('without Accept-Encoding the visitor gets the body as the local service sent it', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('gzip-none');
    const c = await connectVisitor(t, cell);
    const { final } = await c.exchange('/gzip', { headers: visitorHeaders(cell, id) });
    assert.equal(final.body.toString(), GZIP_PLAIN_TEXT, 'the plain text');
    assert.equal(headerValue(final.headers, 'content-encoding'), undefined, 'not encoded');
    const seen = await cell.service.seen(id);
    if (spec.agent === 'go') {
      // Pinned (docs/wire-protocol.md): Go's transport asks for gzip itself and un-gzips the answer.
      assert.equal(seenHeader(seen, 'accept-encoding'), 'gzip', 'the Go agent added Accept-Encoding: gzip');
      assert.equal(headerValue(final.headers, 'content-length'), undefined, 'the decoded body has lost its Content-Length');
    } else {
      assert.equal(seenHeader(seen, 'accept-encoding'), undefined, 'no Accept-Encoding added');
      assert.equal(headerValue(final.headers, 'content-length'), String(GZIP_PLAIN_TEXT.length), 'Content-Length kept');
    }
  });

  it('interim responses (103 Early Hints, 102) reach the visitor only where both ends announced them', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const c = await connectVisitor(t, cell);
    const { interim, final } = await c.exchange('/interim', { headers: visitorHeaders(cell, requestId('interim')) });
    if (spec.agent === 'ours' && spec.relay === 'ours') {
      assert.deepEqual(
        interim.map((r) => r.head.toString('latin1')),
        [EARLY_HINTS_HEAD, 'HTTP/1.1 102 Processing\r\n\r\n'],
        'the 103 (both Link headers) and the 102, byte for byte, before the final response',
      );
    } else {
      assert.deepEqual(interim.map((r) => r.status), [], 'no interim response on a stream a Go peer reads or writes');
    }
    assert.equal(final.status, 200, 'one final response');
    assert.equal(final.body.toString(), 'done\n', 'its body');
    assert.equal(await assertConnectionClean(c, cell, final), 'reused', 'the connection stays usable');
    const old = await connectVisitor(t, cell);
    const http10 = await old.exchange('/interim', { version: 'HTTP/1.0', headers: visitorHeaders(cell, requestId('interim-10')) });
    assert.deepEqual(http10.interim.map((r) => r.status), [], 'never a 1xx to an HTTP/1.0 visitor');
    assert.equal(http10.final.body.toString(), 'done\n', 'the final response');
  });
}
