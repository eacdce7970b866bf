/**
 * Follows the store's change log on one node: a dedicated connection
 * LISTENs for the wake-up, and every wake-up (and a slow fallback poll) reads
 * the log from the last applied position and hands the changes, in order, to
 * the subscribers. The position is the truth, not the notifications: after
 * the LISTEN connection drops, the feed reconnects with backoff and catches
 * up; when the log was pruned past its position, every subscriber reloads
 * from a snapshot instead.
 */
import type { Client, ClientConfig, PoolClient } from 'pg';
import type { Clock, TimerHandle } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logger.js';
import { CHANGE_CHANNEL, latestChangeSeq, readChanges, type StoreChange } from './change-log.js';
import { loadPg } from './pg-connection.js';
import { pgTransaction, type PgExecutor } from './pg-transaction.js';

/** A consumer of the change log. Both methods must be idempotent: a change may be delivered again after a reload. */
export interface ChangeSubscriber {
  /** Applies changes, oldest first. A rejection stops this round; the same changes come again next round. */
  apply(changes: readonly StoreChange[]): Promise<void> | void;
  /** Replaces everything it holds with what `client` reads (a REPEATABLE READ snapshot at the feed's new position). */
  reload(client: PoolClient): Promise<void>;
}

/** Settings of a `ChangeFeed`. */
export interface ChangeFeedOptions {
  executor: PgExecutor;
  /** Connection settings of the LISTEN client. */
  listenConfig: ClientConfig;
  /** Period of the fallback poll (ms). */
  pollIntervalMs: number;
  /** Largest page read at once. */
  pageSize?: number;
  logger: Logger;
  clock: Clock;
}

const RECONNECT_INITIAL_MS = 250;
const RECONNECT_MAX_MS = 5000;

/** The change log, followed from a position. */
export class ChangeFeed {
  readonly #o: ChangeFeedOptions;
  readonly #subscribers: ChangeSubscriber[] = [];
  readonly #pageSize: number;
  #position = 0;
  #started = false;
  #stopped = false;
  #listenClient: Client | null = null;
  #listening = false;
  #reconnectDelayMs = RECONNECT_INITIAL_MS;
  #reconnectTimer: TimerHandle | undefined;
  #pollTimer: TimerHandle | undefined;
  /** The read in progress, and the one queued after it for callers that came during it. */
  #round: Promise<void> | undefined;
  #followUp: Promise<void> | undefined;
  #listenChange: ((listening: boolean) => void) | undefined;

  constructor(options: ChangeFeedOptions) {
    this.#o = options;
    this.#pageSize = options.pageSize ?? 1000;
  }

  /** The seq of the last change applied by every subscriber. */
  get position(): number {
    return this.#position;
  }

  /** True while the LISTEN connection is up (wake-ups arrive). */
  get isListening(): boolean {
    return this.#listening;
  }

  /** Called when the LISTEN connection comes up or goes down. */
  onListeningChange(listener: (listening: boolean) => void): void {
    this.#listenChange = listener;
  }

  /** Adds a subscriber; only before `start()`, so that the first snapshot covers it. */
  subscribe(subscriber: ChangeSubscriber): void {
    if (this.#started) throw new Error('ChangeFeed.subscribe() after start()');
    this.#subscribers.push(subscriber);
  }

  /**
   * Loads every subscriber from one snapshot, sets the position to the
   * snapshot's newest change, then starts listening and polling. Rejects
   * (with a store error) when the first snapshot cannot be read.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#reloadAll();
    this.#connectListener();
    this.#schedulePoll();
  }

  /**
   * Reads and applies every change committed before this call (at least):
   * joins the round in progress and runs one more after it if needed.
   * Rejects with a store error when the log cannot be read.
   */
  catchUp(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#round !== undefined) {
      // The round in progress may have read the log before the caller's change: one more round after it.
      this.#followUp ??= this.#round
        .catch(() => undefined)
        .then(() => {
          this.#followUp = undefined;
          return this.catchUp();
        });
      return this.#followUp;
    }
    const round = this.#readAll().finally(() => {
      this.#round = undefined;
    });
    this.#round = round;
    return round;
  }

  /** Stops listening and polling; idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#reconnectTimer !== undefined) this.#o.clock.clearTimeout(this.#reconnectTimer);
    if (this.#pollTimer !== undefined) this.#o.clock.clearTimeout(this.#pollTimer);
    const client = this.#listenClient;
    this.#listenClient = null;
    this.#setListening(false);
    await this.#round?.catch(() => undefined);
    if (client !== null) await client.end().catch(() => undefined);
  }

  async #readAll(): Promise<void> {
    for (;;) {
      const page = await pgTransaction(this.#o.executor, 'reading the change log', (client) => readChanges(client, this.#position, this.#pageSize), { skipReady: true });
      if (page.prunedThrough > this.#position) {
        this.#o.logger.warn('change log pruned past this node; reloading the store', { position: this.#position, prunedThrough: page.prunedThrough });
        await this.#reloadAll();
        continue;
      }
      if (page.changes.length === 0) return;
      for (const s of this.#subscribers) await s.apply(page.changes);
      this.#position = (page.changes[page.changes.length - 1] as StoreChange).seq;
      if (page.changes.length < this.#pageSize) return;
    }
  }

  async #reloadAll(): Promise<void> {
    await pgTransaction(
      this.#o.executor,
      'loading the store',
      async (client) => {
        const seq = await latestChangeSeq(client);
        for (const s of this.#subscribers) await s.reload(client);
        this.#position = seq;
      },
      { isolation: 'REPEATABLE READ', skipReady: true },
    );
  }

  #schedulePoll(): void {
    if (this.#stopped) return;
    this.#pollTimer = this.#o.clock.setTimeout(() => {
      this.catchUp()
        .catch((err: unknown) => this.#o.logger.debug('change log poll failed', { err: err instanceof Error ? err.message : String(err) }))
        .finally(() => this.#schedulePoll());
    }, this.#o.pollIntervalMs);
    this.#pollTimer.unref?.();
  }

  #connectListener(): void {
    if (this.#stopped) return;
    const pg = loadPg();
    const client = new pg.Client(this.#o.listenConfig);
    this.#listenClient = client;
    let failed = false;
    const onFailure = (err: Error): void => {
      if (failed) return;
      failed = true;
      if (this.#listenClient === client) this.#listenClient = null;
      this.#setListening(false);
      client.end().catch(() => undefined);
      if (this.#stopped) return;
      this.#o.logger.warn('change log listener lost; reconnecting', { err: err.message, retryInMs: this.#reconnectDelayMs });
      this.#reconnectTimer = this.#o.clock.setTimeout(() => this.#connectListener(), this.#reconnectDelayMs);
      this.#reconnectTimer.unref?.();
      this.#reconnectDelayMs = Math.min(RECONNECT_MAX_MS, this.#reconnectDelayMs * 2);
    };
    client.on('error', onFailure);
    client.on('end', () => onFailure(new Error('connection ended')));
    client.on('notification', () => {
      this.catchUp().catch((err: unknown) => this.#o.logger.debug('change log read failed', { err: err instanceof Error ? err.message : String(err) }));
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${CHANGE_CHANNEL}`))
      .then(async () => {
        if (failed || this.#stopped) return;
        this.#reconnectDelayMs = RECONNECT_INITIAL_MS;
        this.#setListening(true);
        // Whatever was committed while we were not listening.
        await this.catchUp();
      })
      .catch((err: unknown) => onFailure(err instanceof Error ? err : new Error(String(err))));
  }

  #setListening(listening: boolean): void {
    if (this.#listening === listening) return;
    this.#listening = listening;
    this.#listenChange?.(listening);
  }
}
