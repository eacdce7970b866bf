/**
 * One page's Server-Sent Events stream of the fleet. It starts with a full
 * snapshot (`reset`, then the rows in chunks, then `synced`), then sends
 * deltas: `rows` (changed rows and removed names), `overview` once a second,
 * `cluster` when the nodes change, and `session` before it ends (logout,
 * expiry).
 *
 * Memory per stream is bounded whatever the page's speed: nothing is queued
 * but the names of changed rows (each once: a row that changes ten times
 * while the page is slow is sent once, with its latest values), and the
 * socket's own buffer, filled only while under `highWaterBytes`. When more
 * than `maxPendingRows` rows are waiting, the names are dropped and the page
 * gets a fresh snapshot instead (resync); a page that reads nothing for
 * `stallTimeoutMs` is disconnected (its EventSource reconnects).
 */
import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { fleetRowTuple, FLEET_ROW_FIELDS, type FleetListener, type FleetModel } from './fleet-model.js';

/** Limits of one stream. */
export interface FleetEventStreamLimits {
  /** Socket buffer above which nothing more is written until it drains, in bytes. */
  highWaterBytes: number;
  /** Changed rows waiting at most before the stream falls back to a fresh snapshot. */
  maxPendingRows: number;
  /** A stream whose socket does not drain for this long is closed, in ms. */
  stallTimeoutMs: number;
  /** Rows per `rows` event. */
  rowsPerEvent: number;
}

/** Default limits of a stream. */
export const DEFAULT_FLEET_EVENT_STREAM_LIMITS: Readonly<FleetEventStreamLimits> = Object.freeze({
  highWaterBytes: 256 * 1024,
  maxPendingRows: 5_000,
  stallTimeoutMs: 30_000,
  rowsPerEvent: 500,
});

/** What the `reset` event says besides the rows. */
export interface FleetStreamContext {
  /** About the relay, so the page can tell a restart (`startedAt` changes). */
  relay: { version: string; startedAt: string };
  /** When the page's session ends, ISO 8601. */
  sessionExpiresAt: string;
}

/** How a stream ended. */
export type FleetStreamEnd = 'logged-out' | 'expired' | 'stalled' | 'closed';

/** Streams the fleet to one page; `close()` (idempotent) ends it. */
export class FleetEventStream implements FleetListener {
  readonly #res: ServerResponse;
  readonly #model: FleetModel;
  readonly #limits: FleetEventStreamLimits;
  readonly #clock: Clock;
  readonly #context: FleetStreamContext;
  readonly #pending = new Set<string>();
  readonly #removed = new Set<string>();
  readonly #unsubscribe: () => void;
  #needsReset = true;
  /** Names still to send of the snapshot in progress. */
  #snapshot: string[] | undefined;
  #snapshotIndex = 0;
  #overviewDue = false;
  #clusterDue = false;
  /** Start of the newest traffic bucket sent complete; buckets after it are sent next. */
  #trafficSentUntilMs = -Infinity;
  #waitingForDrain = false;
  #stallTimer: TimerHandle | undefined;
  #resyncs = 0;
  #closed = false;

  constructor(res: ServerResponse, model: FleetModel, context: FleetStreamContext, clock: Clock, limits: FleetEventStreamLimits = DEFAULT_FLEET_EVENT_STREAM_LIMITS) {
    this.#res = res;
    this.#model = model;
    this.#context = context;
    this.#clock = clock;
    this.#limits = limits;
    this.#unsubscribe = model.subscribe(this);
    res.once('close', () => this.close('closed'));
    res.write('retry: 2000\n\n');
    this.#pump();
  }

  /** Names of changed rows waiting to be sent (bounded by `maxPendingRows`). */
  get pendingRows(): number {
    return this.#pending.size + this.#removed.size;
  }

  /** Times the stream fell back to a fresh snapshot because the page was too slow. */
  get resyncs(): number {
    return this.#resyncs;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  rowsChanged(upserted: readonly string[], removed: readonly string[]): void {
    if (this.#closed || this.#needsReset) return;
    for (const name of upserted) {
      this.#removed.delete(name);
      this.#pending.add(name);
    }
    for (const name of removed) {
      this.#pending.delete(name);
      this.#removed.add(name);
    }
    if (this.pendingRows > this.#limits.maxPendingRows) {
      // Too far behind: a snapshot costs less than the backlog, and keeps memory bounded.
      this.#pending.clear();
      this.#removed.clear();
      this.#needsReset = true;
      this.#resyncs += 1;
    }
    this.#pump();
  }

  tick(): void {
    this.#overviewDue = true;
    this.#pump();
  }

  clusterChanged(): void {
    this.#clusterDue = true;
    this.#pump();
  }

  /** Ends the stream, telling the page why first (unless the socket is gone or stalled). */
  close(reason: FleetStreamEnd): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    if (this.#stallTimer !== undefined) this.#clock.clearTimeout(this.#stallTimer);
    if (reason === 'stalled') {
      this.#res.destroy();
      return;
    }
    if (!this.#res.destroyed && !this.#res.writableEnded) {
      if (reason !== 'closed') this.#res.write(event('session', { state: reason }));
      this.#res.end();
    }
  }

  #pump(): void {
    if (this.#closed || this.#waitingForDrain) return;
    for (;;) {
      if (this.#res.writableLength >= this.#limits.highWaterBytes) {
        this.#waitForDrain();
        return;
      }
      const text = this.#nextEvent();
      if (text === undefined) return;
      this.#res.write(text);
    }
  }

  #waitForDrain(): void {
    this.#waitingForDrain = true;
    this.#stallTimer = this.#clock.setTimeout(() => this.close('stalled'), this.#limits.stallTimeoutMs);
    this.#stallTimer.unref?.();
    this.#res.once('drain', () => {
      if (this.#stallTimer !== undefined) this.#clock.clearTimeout(this.#stallTimer);
      this.#stallTimer = undefined;
      this.#waitingForDrain = false;
      this.#pump();
    });
  }

  #nextEvent(): string | undefined {
    const model = this.#model;
    if (this.#needsReset) {
      this.#needsReset = false;
      this.#snapshot = model.names();
      this.#snapshotIndex = 0;
      this.#pending.clear();
      this.#removed.clear();
      this.#clusterDue = false;
      return event('reset', {
        fields: FLEET_ROW_FIELDS,
        total: this.#snapshot.length,
        relay: this.#context.relay,
        sessionExpiresAt: this.#context.sessionExpiresAt,
        cluster: model.clusterNodes(),
      });
    }
    if (this.#snapshot !== undefined) {
      const names = this.#snapshot.slice(this.#snapshotIndex, this.#snapshotIndex + this.#limits.rowsPerEvent);
      this.#snapshotIndex += names.length;
      if (names.length > 0) return this.#rowsEvent(names, []);
      this.#snapshot = undefined;
      this.#trafficSentUntilMs = -Infinity;
      return event('synced', this.#overview());
    }
    if (this.pendingRows > 0) {
      const names: string[] = [];
      for (const name of this.#pending) {
        if (names.length >= this.#limits.rowsPerEvent) break;
        names.push(name);
      }
      for (const name of names) this.#pending.delete(name);
      const removed = names.length < this.#limits.rowsPerEvent ? [...this.#removed] : [];
      for (const name of removed) this.#removed.delete(name);
      return this.#rowsEvent(names, removed);
    }
    if (this.#clusterDue) {
      this.#clusterDue = false;
      return event('cluster', { nodes: model.clusterNodes() });
    }
    if (this.#overviewDue) {
      this.#overviewDue = false;
      return event('overview', this.#overview());
    }
    return undefined;
  }

  #rowsEvent(names: readonly string[], removed: readonly string[]): string {
    const upsert: unknown[][] = [];
    const gone = [...removed];
    for (const name of names) {
      const row = this.#model.row(name);
      if (row === undefined) gone.push(name);
      else upsert.push(fleetRowTuple(row));
    }
    return event('rows', { upsert, remove: gone });
  }

  #overview(): unknown {
    const overview = this.#model.overview(this.#trafficSentUntilMs);
    const { t, bucketMs } = overview.traffic;
    // The newest bucket is still filling: it is sent again, updated, next time.
    if (t.length > 0) this.#trafficSentUntilMs = (t[t.length - 1] as number) - bucketMs;
    return overview;
  }
}

/** One SSE event, its data a single JSON line. */
function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
