/**
 * Keepalive on Node's own timers, where the session re-arms one timer per
 * interval (`refresh()`) instead of creating a new one each time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Flag, FrameType } from '../../src/mux/index.js';
import { pairConnType } from '../helpers/mux-conn-types.js';
import { RawPeer } from '../helpers/mux-raw-peer.js';
import { createSessionPair, waitFor } from '../helpers/mux-sessions.js';

describe('Keepalive on the real clock', () => {
  it('pings again after every answered ping, interval after interval', async (t) => {
    const { client, link } = await createSessionPair(t, pairConnType, {
      client: { keepAliveIntervalMs: 5, keepAliveTimeoutMs: 10_000 },
    });
    const tap = new RawPeer(link.a);
    const pingAcks = (): number => tap.frames.filter((f) => f.header.type === FrameType.Ping && (f.header.flags & Flag.ACK) !== 0).length;
    await waitFor(() => pingAcks() >= 5, 'five keepalive pings to be sent and answered');
    assert.equal(client.isClosed, false, 'answered keepalives keep the session open');
    assert.equal(typeof client.lastRttMs, 'number', 'the RTT of the last keepalive is readable');
  });

});
