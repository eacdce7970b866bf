/**
 * The session directory's rules (highest epoch wins whatever the order of
 * the changes, a stale link-down never removes a successor, waiters wake on
 * a change) and the instance-conflict tracker (A, B, A within the window is
 * a conflict; a restart never is; the conflict ends after a quiet window).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionDirectory, type DirectoryLink } from '../../../src/relay/cluster/session-directory.js';
import { InstanceConflicts } from '../../../src/relay/instance-conflicts.js';
import type { StoreChange } from '../../../src/relay/store/postgres/change-log.js';
import { systemClock } from '../../../src/shared/clock.js';
import { ManualClock } from '../relay-store/fixtures.js';

let seq = 0;
function change(kind: 'link-up' | 'link-down', agentName: string, nodeId: string, epoch: number, instance: string | null = null, linkIndex = 0): StoreChange {
  seq += 1;
  return { seq, kind, agentName, tokenId: null, nodeId, linkIndex, epoch, detail: instance, createdAtMs: 0 };
}

describe('SessionDirectory', () => {
  it('keeps the highest epoch per agent and link, whatever order the changes come in', () => {
    const ups: DirectoryLink[] = [];
    const dir = new SessionDirectory({ onLinkUp: (l) => ups.push(l), clock: systemClock });
    dir.apply([change('link-up', 'edge', 'n2', 7), change('link-up', 'edge', 'n1', 5)]);
    assert.deepEqual(dir.linksOf('edge').map((l) => [l.nodeId, l.epoch]), [['n2', 7]], 'epoch 7 on n2 wins over a later-delivered 5 on n1');
    assert.deepEqual(ups.map((l) => l.epoch), [7], 'the older link-up was not announced');
    dir.apply([change('link-down', 'edge', 'n1', 5)]);
    assert.equal(dir.linksOf('edge').length, 1, 'a link-down of the replaced epoch does not remove its successor');
    dir.apply([change('link-up', 'edge', 'n3', 9, null, 1)]);
    assert.deepEqual(dir.linksOf('edge').map((l) => [l.nodeId, l.linkIndex]), [['n3', 1], ['n2', 0]], 'two links, newest first');
    dir.apply([change('link-down', 'edge', 'n2', 7)]);
    assert.deepEqual(dir.linksOf('edge').map((l) => l.nodeId), ['n3'], 'the matching link-down removes it');
    assert.equal(dir.size, 1, 'one link left');
    assert.deepEqual(dir.linksOnNode('n3').map((l) => l.agentName), ['edge'], 'found by node');
  });

  it('wakes a waiter on a change of that agent, and lets it time out otherwise', async () => {
    const dir = new SessionDirectory({ clock: systemClock });
    const woken = dir.waitForChange('edge', 10_000);
    dir.apply([change('link-up', 'other', 'n1', 1)]);
    let done = false;
    void woken.then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false, 'another agent’s change does not wake it');
    dir.apply([change('link-up', 'edge', 'n1', 2)]);
    await woken;
    await dir.waitForChange('edge', 1);
    const aborted = new AbortController();
    const waiting = dir.waitForChange('edge', 10_000, aborted.signal);
    aborted.abort();
    await assert.rejects(waiting, (e: unknown) => (e as { code?: string }).code === 'ERR_ABORTED', 'an aborted wait rejects');
  });
});

describe('InstanceConflicts', () => {
  it('calls A, B, A within the window a conflict, refuses the loser, and ends it after a quiet window', () => {
    const clock = new ManualClock();
    const c = new InstanceConflicts({ clock, windowMs: 60_000 });
    c.noteHolder('edge', 'A');
    clock.advance(1000);
    c.noteHolder('edge', 'B');
    assert.deepEqual(c.conflicts(), [], 'one takeover is a restart, or a move: no conflict');
    clock.advance(1000);
    c.noteHolder('edge', 'A');
    const [conflict] = c.conflicts();
    assert.equal(conflict?.agentName, 'edge', 'A taking the link back makes a conflict');
    assert.deepEqual(conflict?.instances, ['A', 'B'], 'the holder first');
    assert.equal(c.shouldRefuse('edge', 'B'), true, 'the other instance is refused');
    assert.equal(c.shouldRefuse('edge', 'A'), false, 'the holder is not');
    assert.equal(c.shouldRefuse('edge', undefined), false, 'an agent without an instance id (Go) is never refused');
    assert.equal(c.totalTakeovers, 2, 'two takeovers counted');
    clock.advance(61_000);
    assert.deepEqual(c.conflicts(), [], 'the conflict ends after a quiet window');
    assert.equal(c.shouldRefuse('edge', 'B'), false, 'and nobody is refused any more');
  });

  it('never calls a chain of restarts a conflict (each start has a new instance id)', () => {
    const clock = new ManualClock();
    const c = new InstanceConflicts({ clock });
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      c.noteHolder('edge', id);
      clock.advance(500);
    }
    assert.deepEqual(c.conflicts(), [], 'five restarts in a row');
    c.noteHolder('edge', null);
    assert.equal(c.totalTakeovers, 4, 'agents without an instance id are not tracked');
  });
});
