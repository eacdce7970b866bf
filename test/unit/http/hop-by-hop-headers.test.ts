import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOP_BY_HOP_HEADERS, removeHopByHopHeaders, removeHopByHopRawHeaders } from '../../../src/http/index.js';

describe('removeHopByHopHeaders', () => {
  it('lists exactly the nine fixed hop-by-hop headers', () => {
    assert.deepEqual(
      [...HOP_BY_HOP_HEADERS].sort(),
      [
        'connection',
        'keep-alive',
        'proxy-authenticate',
        'proxy-authorization',
        'proxy-connection',
        'te',
        'trailer',
        'transfer-encoding',
        'upgrade',
      ],
      'the fixed list is the RFC list plus Proxy-Connection',
    );
  });

  const cases: Array<{ name: string; input: Record<string, string | string[]>; upgrade?: boolean; expected: Record<string, string | string[]> }> = [
    {
      name: 'drops every fixed hop-by-hop header and keeps end-to-end ones',
      input: {
        host: 'edge.example',
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        trailer: 'X-Checksum',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        'proxy-authenticate': 'Basic',
        'proxy-authorization': 'Basic abc',
        'content-type': 'text/plain',
        'set-cookie': ['a=1', 'b=2'],
      },
      expected: { host: 'edge.example', 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] },
    },
    {
      name: 'drops headers named in Connection, case-insensitively',
      input: { Connection: 'close, X-Secret ,x-other', 'x-secret': '1', 'X-Other': '2', 'x-kept': '3' },
      expected: { 'x-kept': '3' },
    },
    {
      name: 'drops headers named in several Connection values',
      input: { connection: ['x-a', 'X-B'] as unknown as string, 'x-a': '1', 'x-b': '2', 'x-c': '3' },
      expected: { 'x-c': '3' },
    },
    {
      name: 'keeps Connection, Upgrade and Connection-named headers when forwarding an upgrade',
      input: {
        connection: 'Upgrade, HTTP2-Settings',
        upgrade: 'h2c',
        'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic abc',
        host: 'h',
      },
      upgrade: true,
      expected: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA', host: 'h' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(removeHopByHopHeaders(c.input, { keepUpgrade: c.upgrade === true }), c.expected, c.name);
    });
  }

  it('does not modify its input', () => {
    const input = { connection: 'x-a', 'x-a': '1' };
    removeHopByHopHeaders(input);
    assert.deepEqual(input, { connection: 'x-a', 'x-a': '1' }, 'the input object is unchanged');
  });
});

describe('removeHopByHopRawHeaders', () => {
  it('keeps order, name case and repeated headers of what it keeps', () => {
    const raw = ['Host', 'h', 'Connection', 'keep-alive, X-Drop', 'Set-Cookie', 'a=1', 'X-Drop', 'x', 'Transfer-Encoding', 'chunked', 'set-cookie', 'b=2'];
    assert.deepEqual(removeHopByHopRawHeaders(raw), ['Host', 'h', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2'], 'hop-by-hop entries removed, the rest intact');
  });

  it('keeps Upgrade and Connection for an upgrade', () => {
    const raw = ['Connection', 'Upgrade', 'Upgrade', 'WebSocket', 'TE', 'trailers'];
    assert.deepEqual(removeHopByHopRawHeaders(raw, { keepUpgrade: true }), ['Connection', 'Upgrade', 'Upgrade', 'WebSocket'], 'TE dropped, upgrade headers kept');
  });
});
