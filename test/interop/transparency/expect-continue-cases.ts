/**
 * `Expect: 100-continue` in every cell: small and large bodies (raw and with
 * curl's defaults), and a local service that answers early with a final
 * status. A stream carries exactly one final response; a `100` reaches the
 * visitor from the relay, or from the local service when agent and relay
 * both announced `interim-responses` (our agent with our relay).
 */
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { formatRequest, headerValue } from '../../helpers/raw-http-client.js';
import type { CellSpec, TransparencyCell } from './transparency-cells.js';
import { CASE_OPTIONS, assertConnectionClean, connectVisitor, curl, requestId, seenHeader, visitorHeaders } from './transparency-visitor.js';

const MiB = 1024 * 1024;
const CONTINUE_HEAD = 'HTTP/1.1 100 Continue\r\n\r\n';

/** True where the 100 comes from the local service itself (both ends announced interim responses). */
function relaysInterim(spec: CellSpec): boolean {
  return spec.agent === 'ours' && spec.relay === 'ours';
}

/** A POST head to `target` announcing `length` body bytes with `Expect: 100-continue`. */
function expectHead(cell: TransparencyCell, id: string, target: string, length: number): Buffer {
  return formatRequest(target, {
    method: 'POST',
    headers: visitorHeaders(cell, id, [
      ['Content-Length', String(length)],
      ['Expect', '100-continue'],
    ]),
  });
}

/** The `Expect: 100-continue` cases of one cell. */
export function expectContinueCases(spec: CellSpec, cellOf: () => TransparencyCell): void {
  it('Expect: 100-continue on a small body: exactly one 100, then the final response; the body arrives intact', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('expect-small');
    const body = Buffer.from('small body, 24 bytes ok\n');
    const c = await connectVisitor(t, cell);
    await c.write(expectHead(cell, id, '/echo', body.length));
    const first = await c.readResponse('POST');
    assert.equal(first.head.toString('latin1'), CONTINUE_HEAD, 'the visitor gets a 100 Continue before it sends the body');
    await c.write(body);
    const { interim, final } = await c.readExchange('POST');
    assert.deepEqual(interim.map((r) => r.status), [], 'no second interim response');
    assert.equal(final.status, 200, 'final status');
    assert.deepEqual(final.body, body, 'body echoed intact');
    const seen = await cell.service.seen(id);
    assert.equal(seenHeader(seen, 'expect'), '100-continue', 'the local service sees the expectation');
    assert.deepEqual(seen.body, body, 'the local service got the body intact');
    assert.equal(await assertConnectionClean(c, cell, final), 'reused', 'the connection stays usable');
  });

  it('Expect: 100-continue on a 4 MiB body sent after the 100: echoed intact', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('expect-large');
    const body = randomBytes(4 * MiB);
    const c = await connectVisitor(t, cell);
    await c.write(expectHead(cell, id, '/echo', body.length));
    const first = await c.readResponse('POST');
    assert.equal(first.status, 100, 'a 100 Continue first');
    const reading = c.readExchange('POST');
    await c.write(body);
    const { interim, final } = await reading;
    assert.deepEqual(interim.map((r) => r.status), [], 'no second interim response');
    assert.equal(final.status, 200, 'final status');
    assert.ok(final.body.equals(body), `4 MiB echoed intact (got ${final.body.length} bytes)`);
    const seen = await cell.service.seen(id);
    assert.equal(seen.bodySha256, createHash('sha256').update(body).digest('hex'), 'the local service got the body intact');
  });

  it("curl's default POST of 2 MiB (it sends Expect: 100-continue) is echoed intact", CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('curl-post');
    const dir = mkdtempSync(join(tmpdir(), 'transparency-curl-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const body = randomBytes(2 * MiB);
    writeFileSync(join(dir, 'up.bin'), body);
    const result = await curl([
      '-X', 'POST',
      '--data-binary', `@${join(dir, 'up.bin')}`,
      '-H', `Host: ${cell.host}`,
      '-H', `X-Request-Id: ${id}`,
      '-o', join(dir, 'down.bin'),
      `http://${cell.public}/echo`,
    ]);
    assert.match(result.trace, /^> Expect: 100-continue\r?$/m, 'curl sent Expect: 100-continue');
    assert.match(result.trace, /^< HTTP\/1\.1 100 Continue\r?$/m, 'curl got a 100 Continue');
    assert.equal(result.status, 200, 'status 200');
    const down = readFileSync(join(dir, 'down.bin'));
    assert.equal(down.length, body.length, 'every byte came back');
    assert.ok(down.equals(body), 'echoed intact');
    const seen = await cell.service.seen(id);
    assert.equal(seen.bodyBytes, body.length, 'the local service got every byte');
  });

  for (const status of [401, 413, 417]) {
    it(`a local service that answers ${status} before reading the body (Expect: 100-continue): relayed with ${status}, no hang, connection clean`, CASE_OPTIONS, async (t) => {
      const cell = cellOf();
      const id = requestId(`early-${status}`);
      const body = Buffer.alloc(MiB, 0x61);
      const c = await connectVisitor(t, cell);
      await c.write(expectHead(cell, id, `/early?status=${status}`, body.length));
      let response = await c.readResponse('POST');
      const interim: number[] = [];
      if (response.status === 100) {
        // A client that got its 100 sends the body.
        interim.push(100);
        void c.write(body).catch(() => {});
        response = await c.readResponse('POST');
      }
      assert.equal(response.status, status, `the visitor gets ${status} (got ${response.head.toString("latin1")})`);
      assert.equal(response.body.toString(), `early ${status}\n`, "the local service's body");
      if (relaysInterim(spec)) {
        assert.deepEqual(interim, [], 'no 100: the local service never asked for the body');
        assert.equal(headerValue(response.headers, 'connection'), 'close', 'the relay closes a connection whose expected body never came');
      } else {
        assert.deepEqual(interim, [100], 'the relay said 100 itself (the agent cannot pass one on)');
      }
      const seen = await cell.service.seen(id);
      assert.equal(seenHeader(seen, 'expect'), '100-continue', 'the local service saw the expectation');
      const after = await assertConnectionClean(c, cell, response);
      t.diagnostic(`connection after the early ${status}: ${after}`);
    });
  }

  it('a local service that answers 413 while the visitor sends the whole body without waiting: relayed, no hang, connection clean', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('early-nowait');
    const body = Buffer.alloc(MiB, 0x62);
    const c = await connectVisitor(t, cell);
    const reading = c.readExchange('POST');
    void c.write(Buffer.concat([expectHead(cell, id, '/early?status=413', body.length), body])).catch(() => {});
    const { final } = await reading;
    assert.equal(final.status, 413, 'the visitor gets 413');
    assert.equal(final.body.toString(), 'early 413\n', "the local service's body");
    t.diagnostic(`connection after the early 413: ${await assertConnectionClean(c, cell, final)}`);
  });

  it('a local service that answers 413 to a 4 MiB upload without Expect, before reading it: relayed, no hang, connection clean', CASE_OPTIONS, async (t) => {
    const cell = cellOf();
    const id = requestId('early-noexpect');
    const body = Buffer.alloc(4 * MiB, 0x63);
    const c = await connectVisitor(t, cell);
    const reading = c.readExchange('POST');
    void c
      .write(formatRequest('/early?status=413', { method: 'POST', headers: visitorHeaders(cell, id, [['Content-Length', String(body.length)]]), body }))
      .catch(() => {});
    const { interim, final } = await reading;
    assert.deepEqual(interim, [], 'no interim response without Expect');
    assert.equal(final.status, 413, 'the visitor gets 413');
    t.diagnostic(`connection after the early 413: ${await assertConnectionClean(c, cell, final)}`);
  });
}
