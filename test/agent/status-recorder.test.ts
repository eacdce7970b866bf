/**
 * RequestRecorder: a bounded ring of recent requests, credentials masked in
 * what is shown, the original kept for replay when the body was small.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { LocalRequestRecord } from '../../src/agent/local-forwarder.js';
import { MASK, maskHeaderValue, maskRequestPath, RequestRecorder } from '../../src/agent/request-recorder.js';
import { ConfigError } from '../../src/shared/errors.js';
import { FakeClock } from '../helpers/mux-fake-clock.js';

function rec(over: Partial<LocalRequestRecord> = {}): LocalRequestRecord {
  return {
    method: 'GET',
    path: '/',
    status: 200,
    durationMs: 1.234,
    bytesIn: 0,
    bytesOut: 10,
    upgrade: false,
    requestHeaders: ['Host', 'edge.example'],
    ...over,
  };
}

describe('RequestRecorder', () => {
  it('keeps only the newest `capacity` requests, oldest first', () => {
    const recorder = new RequestRecorder({ capacity: 3 });
    for (let i = 1; i <= 5; i++) recorder.record(rec({ path: `/${i}` }));
    assert.equal(recorder.size, 3, 'size is capped at capacity');
    assert.deepEqual(recorder.list().map((r) => r.path), ['/3', '/4', '/5'], 'the three newest, oldest first');
    assert.deepEqual(recorder.list(2).map((r) => r.path), ['/4', '/5'], 'a limit keeps the newest');
    assert.equal(recorder.get(2), undefined, 'an evicted id is gone');
    assert.equal(recorder.get(4)?.path, '/4', 'a held id is found');
  });

  it('finds every held id and no other, for any sequence of records (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 40 }), (capacity, count) => {
        const recorder = new RequestRecorder({ capacity });
        for (let i = 0; i < count; i++) recorder.record(rec({ path: `/${i + 1}` }));
        for (let id = 0; id <= count + 1; id++) {
          const held = id >= 1 && id <= count && id > count - capacity;
          assert.equal(recorder.get(id)?.path, held ? `/${id}` : undefined, `id ${id} held: ${held}`);
        }
      }),
    );
  });

  it('stamps each request with an increasing id and the clock time', () => {
    const clock = new FakeClock();
    const recorder = new RequestRecorder({ clock });
    const a = recorder.record(rec());
    clock.advance(1500);
    const b = recorder.record(rec());
    assert.equal(b.id, a.id + 1, 'ids increase by one');
    assert.equal(b.time - a.time, 1500, 'time comes from the clock');
    assert.equal(a.durationMs, 1.2, 'duration rounded to 0.1 ms');
  });

  it('masks credential headers in what it shows but keeps them for replay', () => {
    const recorder = new RequestRecorder();
    const headers = ['Host', 'h', 'Authorization', 'Bearer s3cr3t', 'Cookie', 'sid=abc; theme=dark', 'X-Api-Key', 'k', 'Accept', 'text/html'];
    const view = recorder.record(rec({ requestHeaders: headers }));
    const shown = Object.fromEntries(view.headers);
    assert.equal(shown.Authorization, `Bearer ${MASK}`, 'the scheme stays, the credential is masked');
    assert.equal(shown.Cookie, `sid=${MASK}; theme=${MASK}`, 'cookie names stay, values are masked');
    assert.equal(shown['X-Api-Key'], MASK, 'an API key is masked');
    assert.equal(shown.Accept, 'text/html', 'other headers are shown');
    assert.equal(JSON.stringify(recorder.list()).includes('s3cr3t'), false, 'the listed JSON holds no credential');
    assert.deepEqual(recorder.getReplayable(view.id)?.rawHeaders, headers, 'replay keeps the original headers');
  });

  it('masks credentials in the query string', () => {
    assert.equal(maskRequestPath('/a?x=1&token=abc&access_token=d'), `/a?x=1&token=${MASK}&access_token=${MASK}`, 'token params masked');
    assert.equal(maskRequestPath('/plain'), '/plain', 'no query, unchanged');
    assert.equal(maskHeaderValue('Authorization', 'opaque'), MASK, 'an Authorization without scheme is masked whole');
    const view = new RequestRecorder().record(rec({ path: '/x?api_key=zzz' }));
    assert.equal(view.path, `/x?api_key=${MASK}`, 'the shown path is masked');
  });

  it('keeps small bodies for replay and says why others cannot be replayed', () => {
    const recorder = new RequestRecorder({ maxBodyBytes: 4 });
    const small = recorder.record(rec({ method: 'POST', bytesIn: 3, requestBody: Buffer.from('abc') }));
    const large = recorder.record(rec({ method: 'POST', bytesIn: 5 }));
    const missing = recorder.record(rec({ method: 'POST', bytesIn: 2 }));
    const upgrade = recorder.record(rec({ upgrade: true, status: 101 }));
    const empty = recorder.record(rec());
    assert.equal(small.replayable, true, 'a small body is replayable');
    assert.equal(recorder.getReplayable(small.id)?.body.toString(), 'abc', 'its body is kept');
    assert.equal(large.notReplayableReason, 'body-too-large', 'a large body is not kept');
    assert.equal(recorder.getReplayable(large.id), undefined, 'nothing to replay for it');
    assert.equal(missing.notReplayableReason, 'body-not-recorded', 'a body the forwarder did not keep');
    assert.equal(upgrade.notReplayableReason, 'upgrade', 'an upgrade is not replayable');
    assert.equal(empty.replayable, true, 'a request without body is replayable');
    assert.equal(recorder.getReplayable(empty.id)?.body.length, 0, 'with an empty body');
  });

  it('tells subscribers of each request, and a throwing one does not stop the others', () => {
    const recorder = new RequestRecorder();
    const seen: number[] = [];
    recorder.subscribe(() => {
      throw new Error('boom');
    });
    const off = recorder.subscribe((r) => seen.push(r.id));
    recorder.hooks.onRequest?.(rec());
    off();
    recorder.record(rec());
    assert.deepEqual(seen, [1], 'one notification before unsubscribing, none after');
  });

  it('rejects a capacity of 0 with a ConfigError', () => {
    assert.throws(() => new RequestRecorder({ capacity: 0 }), ConfigError, 'capacity must be at least 1');
  });
});
