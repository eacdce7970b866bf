/**
 * Where every agent link of the cluster is, as this node knows it: the
 * `agent_links` rows, kept in memory from the change log (`link-up`,
 * `link-down`), so that routing a visitor never waits on the database. One
 * entry per agent and link index; the entry with the highest epoch wins,
 * whatever order the changes arrive in, and a `link-down` removes an entry
 * only if it carries the same epoch (a late down of a replaced link never
 * removes its successor).
 */
import type { PoolClient } from 'pg';
import { onAbort, throwIfAborted } from '../../shared/abort.js';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { StoreChange } from '../store/postgres/change-log.js';
import type { ChangeSubscriber } from '../store/postgres/change-feed.js';

/** One agent link somewhere in the cluster. */
export interface DirectoryLink {
  readonly agentName: string;
  readonly linkIndex: number;
  readonly nodeId: string;
  readonly epoch: number;
  /** The agent process's instance id (our agents send one; Go agents do not). */
  readonly instanceId: string | null;
}

interface LinkRow {
  agent_name: string;
  link_index: number;
  node_id: string;
  epoch: number;
  instance_id: string | null;
}

/** What the directory tells its owner. */
export interface SessionDirectoryOptions {
  /** A link of another node became the newest for its agent and link index (replacing `previous`, if any). */
  onLinkUp?: (link: DirectoryLink, previous: DirectoryLink | undefined) => void;
  /** The directory was replaced from a snapshot. */
  onReload?: () => void;
  clock: Clock;
}

/** Agent links by agent name and link index. */
export class SessionDirectory implements ChangeSubscriber {
  readonly #o: SessionDirectoryOptions;
  #links = new Map<string, Map<number, DirectoryLink>>();
  #size = 0;
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(options: SessionDirectoryOptions) {
    this.#o = options;
  }

  /** Links known, over all agents. */
  get size(): number {
    return this.#size;
  }

  /** The agent's links, newest epoch first. */
  linksOf(agentName: string): DirectoryLink[] {
    const byIndex = this.#links.get(agentName);
    if (byIndex === undefined) return [];
    return [...byIndex.values()].sort((a, b) => b.epoch - a.epoch);
  }

  /** The link of `agentName` with `linkIndex`, if any. */
  link(agentName: string, linkIndex: number): DirectoryLink | undefined {
    return this.#links.get(agentName)?.get(linkIndex);
  }

  /** Every link held by `nodeId`. */
  linksOnNode(nodeId: string): DirectoryLink[] {
    const out: DirectoryLink[] = [];
    for (const byIndex of this.#links.values()) for (const l of byIndex.values()) if (l.nodeId === nodeId) out.push(l);
    return out;
  }

  /**
   * Resolves at the next change of the agent's links, or after `timeoutMs`;
   * rejects with `AbortError` when `signal` aborts.
   */
  waitForChange(agentName: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    return new Promise((resolve, reject) => {
      let set = this.#waiters.get(agentName);
      if (set === undefined) {
        set = new Set();
        this.#waiters.set(agentName, set);
      }
      const waiters = set;
      const finish = (): void => {
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(agentName) === waiters) this.#waiters.delete(agentName);
        this.#o.clock.clearTimeout(timer);
        removeAbort();
      };
      const wake = (): void => {
        finish();
        resolve();
      };
      const removeAbort = onAbort(signal, (err) => {
        finish();
        reject(err);
      });
      // Not unref'd: a wait is bounded by timeoutMs, and an unref'd timer lets
      // a process with nothing else to do exit while a caller still awaits it.
      const timer: TimerHandle = this.#o.clock.setTimeout(wake, timeoutMs);
      waiters.add(wake);
    });
  }

  apply(changes: readonly StoreChange[]): void {
    for (const c of changes) {
      if (c.agentName === null || c.linkIndex === null || c.epoch === null) continue;
      if (c.kind === 'link-up' && c.nodeId !== null) {
        this.#up({ agentName: c.agentName, linkIndex: c.linkIndex, nodeId: c.nodeId, epoch: c.epoch, instanceId: c.detail });
      } else if (c.kind === 'link-down') {
        this.#down(c.agentName, c.linkIndex, c.epoch);
      }
    }
  }

  async reload(client: PoolClient): Promise<void> {
    const rows = await client.query<LinkRow>('SELECT agent_name, link_index, node_id, epoch, instance_id FROM agent_links');
    const next = new Map<string, Map<number, DirectoryLink>>();
    for (const r of rows.rows) {
      let byIndex = next.get(r.agent_name);
      if (byIndex === undefined) {
        byIndex = new Map();
        next.set(r.agent_name, byIndex);
      }
      byIndex.set(r.link_index, { agentName: r.agent_name, linkIndex: r.link_index, nodeId: r.node_id, epoch: r.epoch, instanceId: r.instance_id });
    }
    this.#links = next;
    this.#size = rows.rows.length;
    this.#o.onReload?.();
    for (const agent of [...this.#waiters.keys()]) this.#wake(agent);
  }

  #up(link: DirectoryLink): void {
    let byIndex = this.#links.get(link.agentName);
    if (byIndex === undefined) {
      byIndex = new Map();
      this.#links.set(link.agentName, byIndex);
    }
    const previous = byIndex.get(link.linkIndex);
    if (previous !== undefined && previous.epoch >= link.epoch) return;
    byIndex.set(link.linkIndex, link);
    if (previous === undefined) this.#size += 1;
    this.#o.onLinkUp?.(link, previous);
    this.#wake(link.agentName);
  }

  #down(agentName: string, linkIndex: number, epoch: number): void {
    const byIndex = this.#links.get(agentName);
    const current = byIndex?.get(linkIndex);
    if (byIndex === undefined || current === undefined || current.epoch !== epoch) return;
    byIndex.delete(linkIndex);
    this.#size -= 1;
    if (byIndex.size === 0) this.#links.delete(agentName);
    this.#wake(agentName);
  }

  #wake(agentName: string): void {
    const set = this.#waiters.get(agentName);
    if (set === undefined) return;
    for (const wake of [...set]) wake();
  }
}
