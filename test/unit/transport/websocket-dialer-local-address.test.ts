import assert from 'node:assert/strict';
import { once } from 'node:events';
import type * as http from 'node:http';
import { describe, it } from 'node:test';
import { dialWebSocket } from '../../../src/transport/websocket-dialer.js';
import { startRawWsPeer } from '../../helpers/ws-fixtures.js';

describe('dialWebSocket with localAddress', () => {
  it('connects from the given loopback source address', async (t) => {
    const peer = await startRawWsPeer(t);
    const upgradeReq = once(peer.wss, 'connection').then(([, req]) => req as http.IncomingMessage);
    const duplex = await dialWebSocket(peer.url, { localAddress: '127.0.0.2' });
    t.after(() => duplex.destroy());
    const req = await upgradeReq;
    assert.equal(req.socket.remoteAddress, '127.0.0.2', 'the server should see the connection come from 127.0.0.2');
  });
});
