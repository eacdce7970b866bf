/**
 * The store's change log (`store_changes`): every write that another node must
 * know about appends one row per fact, in the same transaction, and wakes the
 * nodes with `NOTIFY`. Appends hold an advisory lock until commit, so the
 * sequence numbers are committed in order and a reader that saw `seq = n`
 * has seen every row before it.
 */
import type { PoolClient } from 'pg';

/** What a change is about. */
export type StoreChangeKind =
  | 'agent-created'
  | 'agent-deleted'
  | 'token-created'
  | 'token-revoked'
  | 'policy-changed'
  | 'link-up'
  | 'link-down'
  | 'node-changed';

/** One row of the change log. */
export interface StoreChange {
  readonly seq: number;
  readonly kind: StoreChangeKind;
  readonly agentName: string | null;
  readonly tokenId: string | null;
  readonly nodeId: string | null;
  readonly linkIndex: number | null;
  readonly epoch: number | null;
  /** Kind-specific text (the revocation reason, a link's instance id). */
  readonly detail: string | null;
  readonly createdAtMs: number;
}

/** A change to append: the kind and whichever fields it uses. */
export type NewStoreChange = { kind: StoreChangeKind } & Partial<Omit<StoreChange, 'seq' | 'kind' | 'createdAtMs'>>;

/** The NOTIFY channel that wakes the nodes. */
export const CHANGE_CHANNEL = 'visiona_tunnel_changes';

/** Key of the advisory lock that orders appends ("visiona-changes"). */
const CHANGE_LOCK_KEY = 0x7669_6368;

interface ChangeRow {
  seq: number;
  kind: StoreChangeKind;
  agent_name: string | null;
  token_id: string | null;
  node_id: string | null;
  link_index: number | null;
  epoch: number | null;
  detail: string | null;
  created_at: number;
}

/** Appends `changes` inside the caller's transaction on `client` and queues the wake-up (sent at commit). */
export async function appendChanges(client: PoolClient, changes: readonly NewStoreChange[], nowMs: number): Promise<void> {
  if (changes.length === 0) return;
  await client.query('SELECT pg_advisory_xact_lock($1)', [CHANGE_LOCK_KEY]);
  await client.query(
    `INSERT INTO store_changes (kind, agent_name, token_id, node_id, link_index, epoch, detail, created_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[], $7::text[], $8::bigint[])`,
    [
      changes.map((c) => c.kind),
      changes.map((c) => c.agentName ?? null),
      changes.map((c) => c.tokenId ?? null),
      changes.map((c) => c.nodeId ?? null),
      changes.map((c) => c.linkIndex ?? null),
      changes.map((c) => c.epoch ?? null),
      changes.map((c) => c.detail ?? null),
      changes.map(() => nowMs),
    ],
  );
  await client.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, '']);
}

/** A page of the log after `afterSeq`, and how far the log was pruned. */
export interface ChangePage {
  readonly changes: StoreChange[];
  /** Rows up to this seq were deleted: a reader behind it must reload everything. */
  readonly prunedThrough: number;
}

/** Reads up to `limit` changes after `afterSeq`, oldest first. */
export async function readChanges(client: Pick<PoolClient, 'query'>, afterSeq: number, limit: number): Promise<ChangePage> {
  const rows = await client.query<ChangeRow & { pruned_through: number }>(
    `SELECT m.pruned_through, c.* FROM store_meta m
       LEFT JOIN LATERAL (SELECT * FROM store_changes WHERE seq > $1 ORDER BY seq LIMIT $2) c ON true
     WHERE m.id = 1`,
    [afterSeq, limit],
  );
  const prunedThrough = rows.rows[0]?.pruned_through ?? 0;
  const changes = rows.rows.filter((r) => r.seq !== null).map(toChange);
  return { changes, prunedThrough };
}

/** The newest seq in the log (0 when empty), read in the caller's snapshot. */
export async function latestChangeSeq(client: Pick<PoolClient, 'query'>): Promise<number> {
  const row = await client.query<{ seq: number }>('SELECT COALESCE(MAX(seq), (SELECT pruned_through FROM store_meta WHERE id = 1), 0) AS seq FROM store_changes');
  return row.rows[0]?.seq ?? 0;
}

/** Deletes changes older than `beforeMs` and records how far the log now starts; returns the rows deleted. */
export async function pruneChanges(client: PoolClient, beforeMs: number): Promise<number> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [CHANGE_LOCK_KEY]);
  const deleted = await client.query<{ seq: number }>('DELETE FROM store_changes WHERE created_at < $1 RETURNING seq', [beforeMs]);
  const maxSeq = deleted.rows.reduce((m, r) => Math.max(m, r.seq), 0);
  if (maxSeq > 0) await client.query('UPDATE store_meta SET pruned_through = GREATEST(pruned_through, $1) WHERE id = 1', [maxSeq]);
  return deleted.rowCount ?? 0;
}

function toChange(r: ChangeRow): StoreChange {
  return {
    seq: r.seq,
    kind: r.kind,
    agentName: r.agent_name,
    tokenId: r.token_id,
    nodeId: r.node_id,
    linkIndex: r.link_index,
    epoch: r.epoch,
    detail: r.detail,
    createdAtMs: r.created_at,
  };
}
