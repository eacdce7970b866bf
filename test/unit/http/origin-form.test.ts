import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toOriginForm } from '../../../src/http/index.js';

describe('toOriginForm', () => {
  const cases: Array<[string | undefined, string]> = [
    ['/a/b?c=1', '/a/b?c=1'],
    ['http://other.host/x?y=1', '/x?y=1'],
    ['https://other.host:8443/', '/'],
    ['http://other.host', '/'],
    ['http://other.host?q=1', '/?q=1'],
    ['http://other.host/x#frag', '/x'],
    ['*', '*'],
    [undefined, '/'],
    ['', '/'],
  ];
  for (const [target, expected] of cases) {
    it(`forwards ${JSON.stringify(target)} as ${JSON.stringify(expected)}`, () => {
      assert.equal(toOriginForm(target), expected, 'origin-form target');
    });
  }
});
