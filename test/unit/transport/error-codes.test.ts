/**
 * The transport error catalog; the type-level checks are compiled by `tsc`
 * (each class's `code` is its own literal, so `switch (err.code)` narrows).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TunnelError } from '../../../src/shared/errors.js';
import { HandshakeRejectedError, HandshakeTimeoutError, isHandshakeRejectedError } from '../../../src/transport/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

/** Each class's code, as a literal type. */
export type TransportCodeChecks = [
  Expect<Equal<HandshakeRejectedError['code'], 'ERR_TRANSPORT_HANDSHAKE_REJECTED'>>,
  Expect<Equal<HandshakeTimeoutError['code'], 'ERR_TRANSPORT_HANDSHAKE_TIMEOUT'>>,
];

describe('transport error catalog', () => {
  it('gives HandshakeRejectedError its code, status and body, with the status last in the message', () => {
    const err = new HandshakeRejectedError(403, '{"error":"forbidden"}');
    assert.ok(err instanceof TunnelError, 'should be a TunnelError');
    assert.equal(err.code, 'ERR_TRANSPORT_HANDSHAKE_REJECTED', 'code should be stable');
    assert.equal(err.statusCode, 403, 'statusCode should be kept');
    assert.equal(err.body, '{"error":"forbidden"}', 'body should be kept');
    assert.match(err.message, /\(status: 403\)$/, 'status should end the message');
    assert.equal(isHandshakeRejectedError(err), true, 'guard should accept it');
    assert.equal(isHandshakeRejectedError(new HandshakeTimeoutError(1)), false, 'guard should reject other errors');
  });

  it('gives HandshakeTimeoutError its code and timeout, with the timeout last in the message', () => {
    const err = new HandshakeTimeoutError(250);
    assert.equal(err.code, 'ERR_TRANSPORT_HANDSHAKE_TIMEOUT', 'code should be stable');
    assert.equal(err.timeoutMs, 250, 'timeoutMs should be kept');
    assert.match(err.message, /\(timeout: 250ms\)$/, 'timeout should end the message');
  });
});
