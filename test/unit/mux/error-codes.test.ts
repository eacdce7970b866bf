/**
 * The mux error catalog. The type-level checks below are compiled by `tsc`
 * (`npm run lint` type-checks test/): each class's `code` must be its own
 * string literal, so `switch (err.code)` narrows and a renamed code breaks
 * the build (undici `test/types/errors.test-d.ts`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TunnelError, type TunnelErrorCode } from '../../../src/shared/errors.js';
import {
  GoAwayCode,
  GoAwayError,
  KeepAliveTimeoutError,
  MuxProtocolError,
  SessionClosedError,
  StreamOpenTimeoutError,
  StreamResetError,
} from '../../../src/mux/index.js';

/** True when A and B are the same type (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

/** Each class's code, as a literal type. */
export type MuxCodeChecks = [
  Expect<Equal<MuxProtocolError['code'], 'ERR_MUX_PROTOCOL'>>,
  Expect<Equal<StreamResetError['code'], 'ERR_MUX_STREAM_RESET'>>,
  Expect<Equal<SessionClosedError['code'], 'ERR_MUX_SESSION_CLOSED'>>,
  Expect<Equal<GoAwayError['code'], 'ERR_MUX_GO_AWAY'>>,
  Expect<Equal<KeepAliveTimeoutError['code'], 'ERR_MUX_KEEPALIVE_TIMEOUT'>>,
  Expect<Equal<StreamOpenTimeoutError['code'], 'ERR_MUX_STREAM_OPEN_TIMEOUT'>>,
  Expect<Equal<MuxProtocolError['goAwayCode'], GoAwayCode>>,
];

const samples = {
  protocol: new MuxProtocolError('bad frame'),
  reset: new StreamResetError(3),
  closed: new SessionClosedError(),
  goAway: new GoAwayError(GoAwayCode.ProtocolError),
  keepAlive: new KeepAliveTimeoutError(100),
  openTimeout: new StreamOpenTimeoutError(5, 100),
} satisfies Record<string, TunnelError>;

/** Every mux code is one of the project's codes, written out literally. */
const expectedCodes = {
  protocol: 'ERR_MUX_PROTOCOL',
  reset: 'ERR_MUX_STREAM_RESET',
  closed: 'ERR_MUX_SESSION_CLOSED',
  goAway: 'ERR_MUX_GO_AWAY',
  keepAlive: 'ERR_MUX_KEEPALIVE_TIMEOUT',
  openTimeout: 'ERR_MUX_STREAM_OPEN_TIMEOUT',
} as const satisfies { [K in keyof typeof samples]: (typeof samples)[K]['code'] & TunnelErrorCode };

describe('mux error catalog', () => {
  for (const [key, err] of Object.entries(samples)) {
    it(`gives ${err.name} the stable code ${expectedCodes[key as keyof typeof samples]}`, () => {
      assert.ok(err instanceof TunnelError, `${err.name} is a TunnelError`);
      assert.equal(err.code, expectedCodes[key as keyof typeof samples], `${err.name} carries its code`);
      assert.equal(err.name, err.constructor.name, 'the name is the class name');
      assert.ok(!err.message.endsWith('.'), 'messages have no trailing period');
    });
  }

  it('gives a protocol error goAwayCode 1 unless told otherwise', () => {
    assert.equal(new MuxProtocolError('x').goAwayCode, GoAwayCode.ProtocolError, 'default is protocol error');
    assert.equal(new MuxProtocolError('x', GoAwayCode.InternalError).goAwayCode, GoAwayCode.InternalError, 'an explicit code is kept');
  });

  it('puts the offending value last in messages', () => {
    assert.match(samples.reset.message, /\(stream: 3\)$/, 'the reset names the stream at the end');
    assert.match(samples.goAway.message, /\(code: 1, protocol error\)$/, 'GoAway names the code at the end');
    assert.equal(samples.goAway.goAwayCode, 1, 'GoAwayError carries the code');
  });
});
