/**
 * Publishes this node's agent sessions in the session directory
 * (`agent_links`), batched: a reconnect storm of thousands of agents costs a
 * few statements, not thousands. Each published link gets its epoch from a
 * database sequence, and a row is only ever replaced by a higher epoch; a
 * session whose row was taken by a newer epoch meanwhile has lost (newest
 * wins) and is reported through `onLost`. While the store cannot be reached,
 * the queue waits and is retried with backoff: the session keeps serving
 * this node's visitors.
 */
import type { PoolClient } from 'pg';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentConnection } from '../agent-registry.js';
import { appendChanges, type NewStoreChange } from '../store/postgres/change-log.js';
import { pgTransaction, type PgExecutor } from '../store/postgres/pg-transaction.js';

/** What the publisher needs. */
export interface LinkPublisherOptions {
  executor: PgExecutor;
  nodeId: string;
  /** A published session lost to a newer epoch elsewhere. */
  onLost: (connection: AgentConnection) => void;
  /** How long to gather a batch (ms, default 10). */
  batchDelayMs?: number;
  /** Largest batch per statement (default 500). */
  maxBatch?: number;
  logger: Logger;
  clock: Clock;
}

const RETRY_INITIAL_MS = 250;
const RETRY_MAX_MS = 5000;

/** This node's pending directory writes. */
export class LinkPublisher {
  readonly #o: LinkPublisherOptions;
  readonly #batchDelayMs: number;
  readonly #maxBatch: number;
  /** Sessions to publish, by agent and link (only the newest of each is kept). */
  #ups = new Map<string, AgentConnection>();
  /** Published sessions to remove. */
  #downs = new Set<AgentConnection>();
  #timer: TimerHandle | undefined;
  #flushing: Promise<void> | undefined;
  #retryDelayMs = RETRY_INITIAL_MS;
  #closed = false;

  constructor(options: LinkPublisherOptions) {
    this.#o = options;
    this.#batchDelayMs = options.batchDelayMs ?? 10;
    this.#maxBatch = options.maxBatch ?? 500;
  }

  /** Writes pending, for the operator. */
  get pendingCount(): number {
    return this.#ups.size + this.#downs.size;
  }

  /** Queues `connection` for publication. */
  up(connection: AgentConnection): void {
    if (this.#closed) return;
    this.#ups.set(keyOf(connection), connection);
    this.#schedule(this.#batchDelayMs);
  }

  /** Queues the removal of `connection`'s entry (or drops its pending publication). */
  down(connection: AgentConnection): void {
    if (this.#closed) return;
    const key = keyOf(connection);
    const pending = this.#ups.get(key);
    if (pending === connection) this.#ups.delete(key);
    // A newer session of the same agent and link is about to replace the row anyway.
    else if (pending !== undefined) return;
    if (connection.epoch !== undefined) this.#downs.add(connection);
    else if (this.#flushing !== undefined) {
      // Its publication may be in flight: remove it once the epoch is known.
      void this.#flushing.then(() => {
        if (connection.epoch !== undefined) this.down(connection);
      });
    }
    this.#schedule(this.#batchDelayMs);
  }

  /** Writes everything pending now; resolves when done (or when the store could not be reached). */
  async flush(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
    if (this.#ups.size === 0 && this.#downs.size === 0) return;
    const flushing = this.#write();
    this.#flushing = flushing;
    try {
      await flushing;
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Stops; pending writes are dropped (the node's stop removes all its entries). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    await this.#flushing?.catch(() => undefined);
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(() => undefined);
    }, delayMs);
    this.#timer.unref?.();
  }

  async #write(): Promise<void> {
    const ups = [...this.#ups.values()].slice(0, this.#maxBatch).filter((c) => !c.session.isClosed);
    const downs = [...this.#downs].slice(0, this.#maxBatch);
    for (const c of ups) this.#ups.delete(keyOf(c));
    for (const c of downs) this.#downs.delete(c);
    for (const c of this.#ups.values()) if (c.session.isClosed) this.#ups.delete(keyOf(c));
    const { executor, nodeId, clock, logger } = this.#o;
    let won: Map<string, number>;
    try {
      won = await pgTransaction(executor, 'publishing agent links', async (client) => {
        const changes: NewStoreChange[] = [];
        const epochs = ups.length === 0 ? new Map<string, number>() : await upsertLinks(client, nodeId, ups);
        for (const c of ups) {
          const epoch = epochs.get(keyOf(c));
          if (epoch !== undefined) changes.push({ kind: 'link-up', agentName: c.agentName, linkIndex: c.linkIndex, nodeId, epoch, detail: c.instanceId ?? null });
        }
        if (downs.length > 0) {
          const removed = await client.query<{ agent_name: string; link_index: number; epoch: number }>(
            `DELETE FROM agent_links l USING unnest($1::text[], $2::integer[], $3::bigint[]) AS d(agent_name, link_index, epoch)
             WHERE l.agent_name = d.agent_name AND l.link_index = d.link_index AND l.epoch = d.epoch AND l.node_id = $4
             RETURNING l.agent_name, l.link_index, l.epoch`,
            [downs.map((c) => c.agentName), downs.map((c) => c.linkIndex), downs.map((c) => c.epoch), nodeId],
          );
          for (const r of removed.rows) changes.push({ kind: 'link-down', agentName: r.agent_name, linkIndex: r.link_index, nodeId, epoch: r.epoch });
        }
        await appendChanges(client, changes, clock.now());
        return epochs;
      });
    } catch (err) {
      // Put them back (unless newer entries came meanwhile) and retry later.
      for (const c of ups) if (!this.#ups.has(keyOf(c)) && !c.session.isClosed) this.#ups.set(keyOf(c), c);
      for (const c of downs) this.#downs.add(c);
      logger.warn('cannot publish agent links; retrying', { pending: this.pendingCount, retryInMs: this.#retryDelayMs, error: (err as Error).message });
      const delay = this.#retryDelayMs;
      this.#retryDelayMs = Math.min(RETRY_MAX_MS, this.#retryDelayMs * 2);
      this.#schedule(delay);
      return;
    }
    this.#retryDelayMs = RETRY_INITIAL_MS;
    for (const c of ups) {
      const epoch = won.get(keyOf(c));
      if (epoch === undefined) {
        this.#o.onLost(c);
        continue;
      }
      c.epoch = epoch;
      // Closed while it was being published: remove it again.
      if (c.session.isClosed) this.#downs.add(c);
    }
    if (this.#ups.size > 0 || this.#downs.size > 0) this.#schedule(0);
  }
}

function keyOf(c: AgentConnection): string {
  return `${c.agentName}#${c.linkIndex}`;
}

/** Upserts the links (a row is replaced only by a higher epoch); returns the epochs of those that won. */
async function upsertLinks(client: PoolClient, nodeId: string, ups: readonly AgentConnection[]): Promise<Map<string, number>> {
  const rows = await client.query<{ agent_name: string; link_index: number; epoch: number }>(
    `INSERT INTO agent_links (agent_name, link_index, node_id, epoch, instance_id, token_id, remote_address, agent_version, connected_at)
     SELECT i.agent_name, i.link_index, $1, nextval('agent_link_epochs'), i.instance_id, i.token_id, i.remote_address, i.agent_version, i.connected_at
     FROM unnest($2::text[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])
       AS i(agent_name, link_index, instance_id, token_id, remote_address, agent_version, connected_at)
     ON CONFLICT (agent_name, link_index) DO UPDATE SET node_id = excluded.node_id, epoch = excluded.epoch,
       instance_id = excluded.instance_id, token_id = excluded.token_id, remote_address = excluded.remote_address,
       agent_version = excluded.agent_version, connected_at = excluded.connected_at
     WHERE agent_links.epoch < excluded.epoch
     RETURNING agent_name, link_index, epoch`,
    [
      nodeId,
      ups.map((c) => c.agentName),
      ups.map((c) => c.linkIndex),
      ups.map((c) => c.instanceId ?? null),
      ups.map((c) => c.tokenId),
      ups.map((c) => c.remoteAddress),
      ups.map((c) => c.agentVersion ?? null),
      ups.map((c) => c.connectedAtMs),
    ],
  );
  return new Map(rows.rows.map((r) => [`${r.agent_name}#${r.link_index}`, r.epoch]));
}
