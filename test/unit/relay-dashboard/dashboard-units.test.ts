/**
 * The dashboard's pure parts: the traffic ring, visitor activity (bounded
 * per agent and in agents, query values dropped), and session cookies
 * (signature, expiry, logout, CSRF token).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DashboardSessionStore, TrafficSeries, VisitorActivity, pathWithoutQueryValues, type VisitorRequestRecord } from '../../../src/relay/index.js';
import { systemClock, type Clock } from '../../../src/shared/clock.js';
import { noopLogger } from '../../../src/shared/logger.js';
import { Secret } from '../../../src/shared/secret.js';

function clockAt(start: number): Clock & { ms: number } {
  const c = { ...systemClock, ms: start, now: () => c.ms };
  return c;
}

function record(agent: string | undefined, url: string, extra: Partial<VisitorRequestRecord> = {}): VisitorRequestRecord {
  return {
    agent,
    method: 'GET',
    url,
    remoteAddress: '127.0.0.9',
    status: 200,
    outcome: 'completed',
    errorCode: undefined,
    durationMs: 3,
    responseHeadersMs: 2,
    bytesToAgent: 10,
    bytesFromAgent: 20,
    isUpgrade: false,
    ...extra,
  };
}

describe('TrafficSeries', () => {
  it('adds into time buckets and forgets those older than the window', () => {
    const series = new TrafficSeries(1000, 3);
    series.add(10_500, 1, 2, false);
    series.add(10_900, 1, 2, true);
    series.add(12_100, 5, 0, false);
    assert.deepEqual(series.points(12_500), { bucketMs: 1000, t: [10_000, 11_000, 12_000], requests: [2, 0, 1], bytesToAgent: [2, 0, 5], bytesFromAgent: [4, 0, 0], errors: [1, 0, 0] });
    series.add(9_000, 1, 1, false);
    assert.deepEqual(series.points(14_000).requests, [1, 0, 0], 'buckets that fell out are reused at zero; late adds are dropped');
    assert.deepEqual(series.points(14_000, 12_000).t, [13_000, 14_000], 'only buckets after afterMs');
  });
});

describe('VisitorActivity', () => {
  it('keeps each agent\'s newest requests, query values and hosts dropped', () => {
    const clock = clockAt(1_000_000);
    const activity = new VisitorActivity({ clock, requestsPerAgent: 2, maxAgents: 2 });
    activity.record(record('edge-a', '/one?token=abc&x=1'));
    activity.record(record('edge-a', 'http://user:pw@host/two?secret'));
    activity.record(record('edge-a', '/three', { status: undefined, outcome: 'visitor-gone' }));
    activity.record(record(undefined, '/unrouted', { status: 404, errorCode: 'ERR_RELAY_TUNNEL_NOT_FOUND' }));
    assert.deepEqual(activity.recentRequests('edge-a').map((r) => [r.path, r.status]), [['/three', null], ['/two?…', 200]], 'newest first, two kept');
    assert.deepEqual(activity.errorsByCode(), { ERR_RELAY_TUNNEL_NOT_FOUND: 1 });
    assert.equal(activity.totalRequests, 4);
    activity.record(record('edge-b', '/b'));
    activity.record(record('edge-c', '/c'));
    assert.equal(activity.agentCount, 2, 'at most maxAgents followed');
    assert.deepEqual(activity.recentRequests('edge-a'), [], 'the least recently active one is forgotten');
    assert.equal(activity.agentTraffic('edge-c').requests.reduce((a, b) => a + b, 0), 1);
  });

  it('drops every query value and bare part, and cuts long paths', () => {
    assert.equal(pathWithoutQueryValues('/p?access_token=eyJ&flag&a=1'), '/p?access_token=…&…&a=…');
    assert.equal(pathWithoutQueryValues('/p?'), '/p');
    assert.equal(pathWithoutQueryValues('*'), '/');
    assert.equal(pathWithoutQueryValues(`/${'x'.repeat(400)}`).length, 300);
  });
});

describe('DashboardSessionStore', () => {
  const adminToken = new Secret('admin-token-for-units-0123456789');

  it('verifies its own cookies until they expire or are ended, and refuses altered ones', async () => {
    const clock = clockAt(Date.now());
    const store = new DashboardSessionStore({ adminToken, ttlMs: 60_000, clock, logger: noopLogger });
    const { session, cookieValue } = await store.create();
    assert.equal(cookieValue.includes(adminToken.reveal()), false);
    assert.deepEqual(await store.verify(cookieValue), session);
    assert.ok(store.csrfMatches(session, session.csrfToken));
    assert.equal(store.csrfMatches(session, `${session.csrfToken}x`), false);
    assert.equal(store.csrfMatches(session, undefined), false);
    const other = new DashboardSessionStore({ adminToken: new Secret('another-admin-token-0123456789'), ttlMs: 60_000, clock, logger: noopLogger });
    assert.equal(await other.verify(cookieValue), undefined, 'another admin token, another key');
    assert.equal(await store.verify(cookieValue.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))), undefined, 'altered MAC');
    clock.ms += 61_000;
    assert.equal(await store.verify(cookieValue), undefined, 'expired');
  });

  it('refuses ended sessions, keeping a bounded deny list', async () => {
    const clock = clockAt(Date.now());
    const store = new DashboardSessionStore({ adminToken, ttlMs: 60_000, clock, logger: noopLogger, maxEndedSessions: 2 });
    const made = await Promise.all([store.create(), store.create(), store.create()]);
    for (const m of made) store.end(m.session);
    store.end(made[2]!.session);
    const refused = await Promise.all(made.map((m) => store.verify(m.cookieValue)));
    assert.equal(refused.filter((s) => s === undefined).length, 2, 'at most maxEndedSessions remembered');
    assert.ok(store.isEnded(made[2]!.session));
  });
});
