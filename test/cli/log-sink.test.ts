import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCliLogger, createLineBatcher, redactLogFields, redactText } from '../../src/cli/log-sink.js';

describe('CLI log sink', () => {
  it('masks tokens in URLs and Bearer credentials, and leaves other text as it is', () => {
    assert.equal(redactText('GET /a/x/?token=abc.def&y=1'), 'GET /a/x/?token=[redacted]&y=1', 'query token masked');
    assert.equal(redactText('/p?access_token=eyJ.x.y'), '/p?access_token=[redacted]', 'access_token masked');
    assert.equal(redactText('Authorization: Bearer vt_1_secret'), 'Authorization: Bearer [redacted]', 'bearer masked');
    assert.equal(redactText('BEARER vt_1_secret'), 'BEARER [redacted]', 'bearer masked whatever its case');
    const plain = 'GET /a/edge-01/api/info 200';
    assert.equal(redactText(plain), plain, 'text without secrets is unchanged');
  });

  it('masks secret-named fields but keeps ids and durations', () => {
    const out = redactLogFields({ token: 'vt_x', authorization: 'Basic x', tokenId: 'abc', path: '/x?token=1', durationMs: 3 });
    assert.deepEqual(out, { token: '[redacted]', authorization: '[redacted]', tokenId: 'abc', path: '/x?token=[redacted]', durationMs: 3 }, 'fields');
  });

  it('writes the lines of one turn in one write, in order, and flush() writes what is pending at once', async () => {
    const writes: string[] = [];
    const batcher = createLineBatcher((text) => writes.push(text));
    batcher.push('a');
    batcher.push('b');
    assert.deepEqual(writes, [], 'nothing written during the turn');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(writes, ['a\nb\n'], 'one write with both lines, in order');
    batcher.push('c');
    batcher.flush();
    assert.deepEqual(writes, ['a\nb\n', 'c\n'], 'flush() wrote the pending line');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 2, 'the scheduled flush found nothing left to write');
  });

  it('never prints a token given in a message or a field, as JSON lines', () => {
    const lines: string[] = [];
    const logger = createCliLogger({ format: 'json', write: (line) => lines.push(line) });
    logger.info('dialing ws://relay/tunnel/connect?token=vt_abc_secret', { url: 'wss://r/t?token=vt_abc_secret', token: 'vt_abc_secret' });
    assert.equal(lines.length, 1, 'one line');
    assert.ok(!(lines[0] as string).includes('vt_abc_secret'), `no token in ${lines[0]}`);
    assert.equal(JSON.parse(lines[0] as string).level, 'info', 'a JSON object per line');
  });

  it('drops lines below the level, also from child loggers, and writes the scope, time, level and fields of the rest', () => {
    const lines: string[] = [];
    const logger = createCliLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) });
    const child = logger.child({ agent: 'cam-1', password: 'hunter2' });
    logger.debug('not wanted', { a: 1 });
    child.debug('not wanted either');
    child.info('wanted', { status: 200, durationMs: 3 });
    assert.equal(lines.length, 1, 'only the info line was written');
    const line = JSON.parse(lines[0] as string) as Record<string, unknown>;
    assert.equal(line.msg, 'wanted', 'message');
    assert.equal(line.level, 'info', 'level');
    assert.equal(typeof line.time === 'string' && !Number.isNaN(Date.parse(line.time)), true, 'an ISO time');
    assert.equal(line.agent, 'cam-1', 'the child scope is merged');
    assert.equal(line.password, '[redacted]', 'a secret-named scope field is masked');
    assert.equal(line.status, 200, 'fields are kept');
  });
});
