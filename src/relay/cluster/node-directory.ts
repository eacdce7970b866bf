/**
 * The nodes of the cluster as this node sees them, and this node's own
 * lease. Each node keeps one row in `relay_nodes` and renews its lease every
 * third of `nodeLeaseMs`; every node reads the table on the same rhythm (and
 * at once when a node announces a change), and trusts a node only while its
 * lease is current by the database's clock, never by its own. While the
 * store cannot be reached, the last known state is kept: a store outage
 * must not make every node believe every other one dead.
 */
import { randomBytes } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { appendChanges, type StoreChange } from '../store/postgres/change-log.js';
import type { ChangeSubscriber } from '../store/postgres/change-feed.js';
import { pgQuery, pgTransaction, type PgExecutor } from '../store/postgres/pg-transaction.js';

/** The database's clock, in ms since the Unix epoch. */
export const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** A node's state: serving, draining before it stops, or stopped cleanly. */
export type NodeState = 'ready' | 'draining' | 'stopped';

/** A node as known here. */
export interface ClusterNodeView {
  readonly nodeId: string;
  readonly peerAddress: string | null;
  readonly publicUrl: string | null;
  readonly state: NodeState;
  /** Its lease was current at the last read. */
  readonly alive: boolean;
  readonly startedAtMs: number;
}

interface NodeRow {
  node_id: string;
  peer_address: string | null;
  public_url: string | null;
  state: NodeState;
  started_at: number;
  alive: boolean;
}

/** What the node directory needs. */
export interface NodeDirectoryOptions {
  executor: PgExecutor;
  nodeId: string;
  nodeLeaseMs: number;
  logger: Logger;
  clock: Clock;
}

/** The cluster's nodes and this node's lease. */
export class NodeDirectory implements ChangeSubscriber {
  readonly #o: NodeDirectoryOptions;
  readonly #incarnation = randomBytes(8).toString('hex');
  readonly #listeners = new Set<() => void>();
  #nodes = new Map<string, ClusterNodeView>();
  #state: NodeState = 'ready';
  #timer: TimerHandle | undefined;
  #rounds = 0;
  #started = false;
  #stopped = false;

  constructor(options: NodeDirectoryOptions) {
    this.#o = options;
  }

  /** Every node known, this one included, by id. */
  nodes(): ClusterNodeView[] {
    return [...this.#nodes.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }

  /** One node, if known. */
  node(nodeId: string): ClusterNodeView | undefined {
    return this.#nodes.get(nodeId);
  }

  /** True when `nodeId` may be sent visitors: its lease is current and it is not stopped. */
  isServing(nodeId: string): boolean {
    const node = this.#nodes.get(nodeId);
    return node !== undefined && node.alive && node.state !== 'stopped';
  }

  /** This node's state. */
  get state(): NodeState {
    return this.#state;
  }

  /** Called after every change of what `nodes()` returns. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Claims this node's row (refusing with `ConfigError` when a live process
   * already holds the same node id), removes the session directory entries a
   * previous run of this node left behind, and starts renewing and reading.
   */
  async start(peerAddress: string, publicUrl: string | null): Promise<void> {
    if (this.#started) return;
    const { executor, nodeId, nodeLeaseMs, clock } = this.#o;
    await pgTransaction(executor, 'registering this relay node', async (client) => {
      const existing = await client.query<{ incarnation: string; alive: boolean; state: NodeState }>(
        `SELECT incarnation, lease_expires_at > ${DB_NOW_MS} AS alive, state FROM relay_nodes WHERE node_id = $1 FOR UPDATE`,
        [nodeId],
      );
      const row = existing.rows[0];
      if (row !== undefined && row.alive && row.state !== 'stopped') {
        throw new ConfigError('cluster.nodeId', 'is held by another running relay (its lease is current); give each node its own id', nodeId);
      }
      await client.query(
        `INSERT INTO relay_nodes (node_id, incarnation, peer_address, public_url, state, started_at, lease_expires_at, updated_at)
         VALUES ($1, $2, $3, $4, 'ready', $5, ${DB_NOW_MS} + $6, $5)
         ON CONFLICT (node_id) DO UPDATE SET incarnation = excluded.incarnation, peer_address = excluded.peer_address,
           public_url = excluded.public_url, state = 'ready', started_at = excluded.started_at,
           lease_expires_at = excluded.lease_expires_at, updated_at = excluded.updated_at`,
        [nodeId, this.#incarnation, peerAddress, publicUrl, clock.now(), nodeLeaseMs],
      );
      await removeLinksOf(client, nodeId, clock.now());
      await appendChanges(client, [{ kind: 'node-changed', nodeId }], clock.now());
    });
    this.#started = true;
    await this.#read();
    this.#schedule();
  }

  /** Marks this node draining (new visitors and agents go elsewhere) and tells the other nodes at once. */
  async setState(state: NodeState): Promise<void> {
    this.#state = state;
    if (!this.#started || this.#stopped) return;
    const { executor, nodeId, clock } = this.#o;
    await pgTransaction(executor, 'changing this node’s state', async (client) => {
      await client.query('UPDATE relay_nodes SET state = $3, updated_at = $4 WHERE node_id = $1 AND incarnation = $2', [nodeId, this.#incarnation, state, clock.now()]);
      await appendChanges(client, [{ kind: 'node-changed', nodeId }], clock.now());
    });
  }

  /**
   * Marks this node stopped with an expired lease and removes its directory
   * entries, so the others stop routing to it at once. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    if (!this.#started) return;
    const { executor, nodeId, clock } = this.#o;
    await pgTransaction(executor, 'stopping this relay node', async (client) => {
      await client.query(`UPDATE relay_nodes SET state = 'stopped', lease_expires_at = ${DB_NOW_MS}, updated_at = $3 WHERE node_id = $1 AND incarnation = $2`, [
        nodeId,
        this.#incarnation,
        clock.now(),
      ]);
      await removeLinksOf(client, nodeId, clock.now());
      await appendChanges(client, [{ kind: 'node-changed', nodeId }], clock.now());
    }).catch((err: unknown) => this.#o.logger.warn('cannot mark this node stopped', { error: (err as Error).message }));
  }

  async apply(changes: readonly StoreChange[]): Promise<void> {
    if (this.#started && changes.some((c) => c.kind === 'node-changed')) await this.#read();
  }

  async reload(client: PoolClient): Promise<void> {
    this.#setNodes((await client.query<NodeRow>(NODE_SELECT)).rows);
  }

  async #read(): Promise<void> {
    this.#setNodes(await pgQuery<NodeRow>(this.#o.executor, 'reading the relay nodes', NODE_SELECT));
  }

  #setNodes(rows: readonly NodeRow[]): void {
    const next = new Map<string, ClusterNodeView>();
    for (const r of rows) {
      next.set(r.node_id, { nodeId: r.node_id, peerAddress: r.peer_address, publicUrl: r.public_url, state: r.state, alive: r.alive, startedAtMs: r.started_at });
    }
    const changed = next.size !== this.#nodes.size || [...next].some(([id, n]) => {
      const old = this.#nodes.get(id);
      return old === undefined || old.alive !== n.alive || old.state !== n.state || old.peerAddress !== n.peerAddress;
    });
    this.#nodes = next;
    if (changed) for (const l of [...this.#listeners]) l();
  }

  async #renew(): Promise<void> {
    if (!this.#started || this.#stopped) return;
    const { executor, nodeId, nodeLeaseMs, clock, logger } = this.#o;
    const rows = await pgQuery(
      executor,
      'renewing this node’s lease',
      `UPDATE relay_nodes SET lease_expires_at = ${DB_NOW_MS} + $3, state = $4, updated_at = $5 WHERE node_id = $1 AND incarnation = $2 RETURNING node_id`,
      [nodeId, this.#incarnation, nodeLeaseMs, this.#state, clock.now()],
    );
    if (rows.length === 0) logger.error('another relay took over this node id; give each node its own --node-id', { nodeId });
  }

  /** Removes the directory entries of nodes whose lease ran out more than ten leases ago (a node that never came back). */
  async #sweep(): Promise<void> {
    const { executor, nodeLeaseMs, clock } = this.#o;
    await pgTransaction(executor, 'removing entries of dead nodes', async (client) => {
      const dead = await client.query<{ node_id: string }>(
        `SELECT node_id FROM relay_nodes WHERE lease_expires_at < ${DB_NOW_MS} - $1 AND node_id <> $2`,
        [10 * nodeLeaseMs, this.#o.nodeId],
      );
      for (const { node_id } of dead.rows) await removeLinksOf(client, node_id, clock.now());
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#rounds += 1;
      this.#renew()
        .then(() => this.#read())
        .then(() => (this.#rounds % SWEEP_EVERY_ROUNDS === 0 ? this.#sweep() : undefined))
        .catch((err: unknown) => this.#o.logger.debug('node lease renewal failed', { error: (err as Error).message }))
        .finally(() => this.#schedule());
    }, Math.max(100, Math.floor(this.#o.nodeLeaseMs / 3)));
    this.#timer.unref?.();
  }
}

/** Every this many lease rounds, a node removes the directory entries of nodes dead for long. */
const SWEEP_EVERY_ROUNDS = 10;

const NODE_SELECT = `SELECT node_id, peer_address, public_url, state, started_at, lease_expires_at > ${DB_NOW_MS} AS alive FROM relay_nodes`;

/** Deletes every directory row of `nodeId` and logs a `link-down` for each, in the caller's transaction. */
export async function removeLinksOf(client: PoolClient, nodeId: string, nowMs: number): Promise<number> {
  const removed = await client.query<{ agent_name: string; link_index: number; epoch: number }>(
    'DELETE FROM agent_links WHERE node_id = $1 RETURNING agent_name, link_index, epoch',
    [nodeId],
  );
  await appendChanges(
    client,
    removed.rows.map((r) => ({ kind: 'link-down', agentName: r.agent_name, linkIndex: r.link_index, epoch: r.epoch, nodeId })),
    nowMs,
  );
  return removed.rowCount ?? 0;
}
