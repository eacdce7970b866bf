import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUpgradeRequest, upgradeProtocols } from '../../../src/http/index.js';

describe('isUpgradeRequest', () => {
  const cases: Array<[string, Record<string, string | string[] | undefined>, boolean]> = [
    ['websocket lowercase', { connection: 'Upgrade', upgrade: 'websocket' }, true],
    ['WebSocket mixed case', { connection: 'upgrade', upgrade: 'WebSocket' }, true],
    ['WEBSOCKET upper case (the Go client missed it)', { connection: 'UPGRADE', upgrade: 'WEBSOCKET' }, true],
    ['a non-websocket protocol', { connection: 'Upgrade', upgrade: 'h2c-test' }, true],
    ['upgrade token inside a list', { connection: 'keep-alive, Upgrade', upgrade: 'websocket' }, true],
    ['upgrade token without spaces', { connection: 'keep-alive,upgrade', upgrade: 'h2c' }, true],
    ['Connection over several lines', { connection: ['keep-alive', 'Upgrade'], upgrade: 'websocket' }, true],
    ['header names in any case', { Connection: 'Upgrade', Upgrade: 'websocket' }, true],
    ['Upgrade without Connection: upgrade', { connection: 'keep-alive', upgrade: 'websocket' }, false],
    ['Upgrade without Connection', { upgrade: 'websocket' }, false],
    ['Connection: upgrade without Upgrade', { connection: 'upgrade' }, false],
    ['an empty Upgrade', { connection: 'upgrade', upgrade: '  ' }, false],
    ['a token that only contains upgrade', { connection: 'upgraded, x-upgrade', upgrade: 'websocket' }, false],
    ['no headers', {}, false],
  ];
  for (const [name, headers, expected] of cases) {
    it(`is ${expected} for ${name}`, () => {
      assert.equal(isUpgradeRequest(headers), expected, `${name} -> ${expected}`);
    });
  }

  it('lists the protocols named by Upgrade', () => {
    assert.deepEqual(upgradeProtocols({ upgrade: 'h2c, websocket' }), ['h2c', 'websocket'], 'both protocols, in order');
  });
});
