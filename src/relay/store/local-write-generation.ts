/**
 * A counter per SQLite connection that the store classes bump after every
 * write that can change what a cache over the same connection holds. Caches
 * that check the database's own change stamp only once per event-loop turn
 * (see `AccessPolicyStore.getPolicy`) compare this counter on every call, so a
 * write made in the same turn through another store class is seen at once.
 */
import type { Database } from 'better-sqlite3';

const generations = new WeakMap<Database, number>();

/** Records a write made through `db` by this process. */
export function noteLocalWrite(db: Database): void {
  generations.set(db, (generations.get(db) ?? 0) + 1);
}

/** How many writes were recorded through `db`; 0 before the first. */
export function localWriteGeneration(db: Database): number {
  return generations.get(db) ?? 0;
}
