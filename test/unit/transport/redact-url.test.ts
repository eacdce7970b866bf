import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { redactUrl } from '../../../src/transport/redact-url.js';

describe('redactUrl', () => {
  it('replaces token and access_token values and keeps everything else', () => {
    assert.equal(
      redactUrl('wss://relay.example/tunnel/connect?agent=a1&token=abc123&x=1'),
      'wss://relay.example/tunnel/connect?agent=a1&token=[redacted]&x=1',
      'only the token value should change',
    );
    assert.equal(redactUrl(new URL('ws://127.0.0.1:8080/c?access_token=zzz')), 'ws://127.0.0.1:8080/c?access_token=[redacted]', 'URL objects and access_token too');
    assert.equal(redactUrl('ws://127.0.0.1/c'), 'ws://127.0.0.1/c', 'a URL without a query should be unchanged');
  });

  it('catches case variants, encoded names, repeats, fragments and passwords', () => {
    const out = redactUrl('ws://user:p@ss@127.0.0.1/c?TOKEN=a1b2c3d4&tok%65n=e5f6g7h8&token=i9j0k1l2#access_token=m3n4o5p6');
    for (const secret of ['a1b2c3d4', 'e5f6g7h8', 'i9j0k1l2', 'm3n4o5p6', 'p@ss']) {
      assert.ok(!out.includes(secret), `${secret} should be redacted (got ${out})`);
    }
    assert.ok(out.startsWith('ws://user:[redacted]@127.0.0.1/c?'), `userinfo password should be redacted (got ${out})`);
  });

  it('never leaves a token in the output, whatever the token and the other parameters', () => {
    // Other names and values cannot contain the token ('~' and length keep them apart), so any hit is a leak.
    const token = fc.string({ minLength: 8, maxLength: 64, unit: 'grapheme' }).map((s) => `~${s}~`);
    const param = fc.tuple(fc.stringMatching(/^[a-z_]{1,8}$/), fc.stringMatching(/^[0-9a-z]{0,16}$/));
    fc.assert(
      fc.property(token, fc.array(param, { maxLength: 4 }), fc.constantFrom('token', 'access_token', 'Token'), (secret, others, name) => {
        const query = new URLSearchParams([...others.filter(([k]) => k.toLowerCase() !== 'token' && k.toLowerCase() !== 'access_token'), [name, secret]]);
        const out = redactUrl(`wss://127.0.0.1:8443/tunnel/connect?${query.toString()}`);
        const encoded = new URLSearchParams([['t', secret]]).toString().slice(2);
        assert.ok(!out.includes(encoded), `encoded token should not appear (got ${out})`);
        assert.ok(!out.includes(secret), `raw token should not appear (got ${out})`);
        assert.ok(out.includes(`${name}=[redacted]`), `the parameter should be marked redacted (got ${out})`);
      }),
      { numRuns: 300 },
    );
  });
});
