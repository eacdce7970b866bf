/**
 * The dashboard's model of the fleet: one row per agent (known to the store
 * or connected), kept current from the agent registry's connect and
 * disconnect events, a sample of the live counters every second, and a
 * periodic read of the store through the admin API. Listeners hear which
 * rows changed (coalesced), so the page gets deltas, never the whole table
 * again; `overview()` sums the fleet up.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { requireInt } from '../../shared/validate.js';
import type { AdminAgentView } from '../admin-api.js';
import { liveAgentState, type AgentLiveState } from '../agent-live-state.js';
import type { AgentConnection, AgentRegistry } from '../agent-registry.js';
import type { AuthFailureReason, RelayMetrics } from '../metrics.js';
import type { ClusterNodeView, DashboardClusterSource } from './dashboard-cluster.js';
import type { TrafficPoints } from './traffic-series.js';
import type { VisitorActivity } from './visitor-activity.js';

/** Fields of a row as sent to the page (each row is an array in this order). */
export const FLEET_ROW_FIELDS = [
  'name',
  'state',
  'since',
  'neverConnected',
  'remoteAddress',
  'version',
  'rttMs',
  'streams',
  'requests',
  'bytesToAgent',
  'bytesFromAgent',
  'accessMode',
  'registered',
  'sessions',
  'activeTokens',
] as const;

/** One agent in the table: its live state on this relay (`rttMs` to 0.1 ms) and what the store says. */
export interface FleetRow
  extends Pick<AgentLiveState, 'since' | 'remoteAddress' | 'version' | 'rttMs' | 'streams' | 'requests' | 'bytesToAgent' | 'bytesFromAgent'> {
  name: string;
  state: 'online' | 'offline';
  /** Offline, and no token of it was ever used. */
  neverConnected: boolean;
  accessMode: string | null;
  registered: boolean;
  /** Sessions on this relay, draining ones included. */
  sessions: number;
  activeTokens: number;
}

/** A row as the array of `FLEET_ROW_FIELDS`. */
export type FleetRowTuple = unknown[];

/** The fleet summed up, for the overview. */
export interface FleetOverview {
  counts: { total: number; online: number; offline: number; neverConnected: number };
  /** Per-second visitor traffic (buckets after the `afterMs` asked for). */
  traffic: TrafficPoints;
  errorsByCode: Record<string, number>;
  authFailures: Partial<Record<AuthFailureReason, number>>;
  totalRequests: number;
}

/** Hears what changed. Calls must not throw. */
export interface FleetListener {
  /** Rows updated or added (`upserted`) and rows gone (`removed`), by name. */
  rowsChanged(upserted: readonly string[], removed: readonly string[]): void;
  /** Once per sample (every second): the overview moved on. */
  tick(): void;
  /** The cluster's nodes may have changed. */
  clusterChanged(): void;
}

/** What the model reads. */
export interface FleetModelOptions {
  registry: AgentRegistry;
  /** Every agent of the store with its view (the admin API's `GET /api/agents`). */
  loadAgents: () => Promise<AdminAgentView[]>;
  activity: VisitorActivity;
  metrics: RelayMetrics;
  cluster?: DashboardClusterSource | undefined;
  clock: Clock;
  logger: Logger;
  /** Live counters are sampled this often (ms, default 1000). */
  sampleIntervalMs?: number;
  /** The store is read this often (ms, default 10000); also soon after a change made through the dashboard. */
  storeRefreshIntervalMs?: number;
}

/** What the store says about an agent. */
interface StoreFacts {
  accessMode: string | null;
  activeTokens: number;
  hasUsedToken: boolean;
}

/** Rows changed by events are sent this long after the first event (coalesced), in ms. */
const EVENT_COALESCE_MS = 50;
/** After an unknown agent connects, the store is read again this soon, in ms. */
const SOON_REFRESH_MS = 250;

/** The fleet as the dashboard shows it. */
export class FleetModel {
  readonly #o: FleetModelOptions;
  readonly #sampleIntervalMs: number;
  readonly #refreshIntervalMs: number;
  readonly #rows = new Map<string, FleetRow>();
  readonly #store = new Map<string, StoreFacts>();
  readonly #connections = new Map<string, AgentConnection[]>();
  readonly #offlineSinceMs = new Map<string, number>();
  readonly #listeners = new Set<FleetListener>();
  readonly #stale = new Set<string>();
  /** Rows online and never connected, kept as rows change. */
  #online = 0;
  #neverConnected = 0;
  #flushTimer: TimerHandle | undefined;
  #sampleTimer: TimerHandle | undefined;
  #refreshTimer: TimerHandle | undefined;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;
  #unsubscribeCluster: (() => void) | undefined;
  #closed = false;
  /** Resolves once the store was read the first time (even when that failed: rows then come from the registry). */
  readonly ready: Promise<void>;

  readonly #onConnect = (connection: AgentConnection): void => {
    const name = connection.agentName;
    const list = this.#connections.get(name);
    if (list === undefined) this.#connections.set(name, [connection]);
    else list.push(connection);
    if (!this.#store.has(name)) this.refreshSoon(SOON_REFRESH_MS);
    this.#markStale(name);
  };

  readonly #onDisconnect = (connection: AgentConnection): void => {
    const name = connection.agentName;
    const list = this.#connections.get(name);
    if (list !== undefined) {
      const kept = list.filter((c) => c !== connection);
      if (kept.length === 0) this.#connections.delete(name);
      else this.#connections.set(name, kept);
    }
    if (!this.#connections.has(name) || this.#connections.get(name)?.every((c) => c.isReplaced) === true) {
      this.#offlineSinceMs.set(name, this.#o.clock.now());
    }
    this.#markStale(name);
  };

  constructor(options: FleetModelOptions) {
    this.#o = options;
    this.#sampleIntervalMs = requireInt('sampleIntervalMs', options.sampleIntervalMs ?? 1000, 10);
    this.#refreshIntervalMs = requireInt('storeRefreshIntervalMs', options.storeRefreshIntervalMs ?? 10_000, 100);
    for (const c of options.registry.connections()) this.#onConnect(c);
    options.registry.on('connect', this.#onConnect);
    options.registry.on('disconnect', this.#onDisconnect);
    this.#unsubscribeCluster = options.cluster?.onChange(() => {
      for (const l of this.#listeners) l.clusterChanged();
    });
    this.ready = this.#refresh();
    this.#scheduleSample();
  }

  /** Agents in the table now. */
  get size(): number {
    return this.#rows.size;
  }

  /** Every row's name, in no particular order (a copy). */
  names(): string[] {
    return [...this.#rows.keys()];
  }

  /** The row of `name`, or undefined. */
  row(name: string): FleetRow | undefined {
    return this.#rows.get(name);
  }

  /** The sessions of `name` on this relay (current and draining). */
  connectionsOf(name: string): readonly AgentConnection[] {
    return this.#connections.get(name) ?? [];
  }

  /** The cluster's nodes, or null when the relay is not in a cluster. */
  clusterNodes(): ClusterNodeView[] | null {
    return this.#o.cluster === undefined ? null : this.#o.cluster.nodes();
  }

  /** The cluster source, if any. */
  get cluster(): DashboardClusterSource | undefined {
    return this.#o.cluster;
  }

  /** The fleet summed up, with the traffic buckets that start after `afterMs`. */
  overview(afterMs = -Infinity): FleetOverview {
    const { activity, metrics, clock } = this.#o;
    return {
      counts: { total: this.#rows.size, online: this.#online, offline: this.#rows.size - this.#online, neverConnected: this.#neverConnected },
      traffic: activity.fleet.points(clock.now(), afterMs),
      errorsByCode: activity.errorsByCode(),
      authFailures: Object.fromEntries(metrics.authFailureCounts()),
      totalRequests: activity.totalRequests,
    };
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: FleetListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reads the store now; resolves once the rows reflect it (never rejects: a failed read is logged). */
  refreshNow(): Promise<void> {
    return this.#refresh();
  }

  /** Reads the store again within `delayMs` (after a change made through the dashboard). */
  refreshSoon(delayMs = 0): void {
    if (this.#closed) return;
    if (this.#refreshTimer !== undefined) this.#o.clock.clearTimeout(this.#refreshTimer);
    this.#refreshTimer = this.#o.clock.setTimeout(() => {
      this.#refreshTimer = undefined;
      void this.#refresh();
    }, delayMs);
    this.#refreshTimer.unref?.();
  }

  /** Stops following the registry and the cluster, and every timer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const { registry, clock } = this.#o;
    registry.off('connect', this.#onConnect);
    registry.off('disconnect', this.#onDisconnect);
    this.#unsubscribeCluster?.();
    for (const t of [this.#flushTimer, this.#sampleTimer, this.#refreshTimer]) if (t !== undefined) clock.clearTimeout(t);
    this.#listeners.clear();
  }

  #markStale(name: string): void {
    this.#stale.add(name);
    if (this.#flushTimer !== undefined || this.#closed) return;
    this.#flushTimer = this.#o.clock.setTimeout(() => {
      this.#flushTimer = undefined;
      this.#recompute([...this.#stale]);
      this.#stale.clear();
    }, EVENT_COALESCE_MS);
    this.#flushTimer.unref?.();
  }

  /** Rebuilds the rows of `names` and tells listeners which changed. */
  #recompute(names: Iterable<string>): void {
    const upserted: string[] = [];
    const removed: string[] = [];
    for (const name of names) {
      const before = this.#rows.get(name);
      const after = this.#buildRow(name);
      if (after === undefined) {
        if (before !== undefined) {
          this.#rows.delete(name);
          this.#tally(before, -1);
          removed.push(name);
        }
        continue;
      }
      if (before !== undefined && !rowsDiffer(before, after)) continue;
      if (before !== undefined) this.#tally(before, -1);
      this.#tally(after, 1);
      this.#rows.set(name, after);
      upserted.push(name);
    }
    if (upserted.length === 0 && removed.length === 0) return;
    for (const l of this.#listeners) l.rowsChanged(upserted, removed);
  }

  #buildRow(name: string): FleetRow | undefined {
    const store = this.#store.get(name);
    const connections = this.#connections.get(name) ?? [];
    if (store === undefined && connections.length === 0) return undefined;
    const offlineSinceMs = this.#offlineSinceMs.get(name);
    const live = liveAgentState(connections, offlineSinceMs);
    return {
      name,
      state: live.online ? 'online' : 'offline',
      since: live.since,
      neverConnected: !live.online && offlineSinceMs === undefined && store !== undefined && !store.hasUsedToken,
      remoteAddress: live.remoteAddress,
      version: live.version,
      rttMs: live.rttMs === null ? null : Math.round(live.rttMs * 10) / 10,
      streams: live.streams,
      requests: live.requests,
      bytesToAgent: live.bytesToAgent,
      bytesFromAgent: live.bytesFromAgent,
      accessMode: store?.accessMode ?? null,
      registered: store !== undefined,
      sessions: connections.length,
      activeTokens: store?.activeTokens ?? 0,
    };
  }

  #scheduleSample(): void {
    if (this.#closed) return;
    this.#sampleTimer = this.#o.clock.setTimeout(() => {
      this.#sampleTimer = undefined;
      this.#recompute([...this.#connections.keys()]);
      for (const l of this.#listeners) l.tick();
      this.#scheduleSample();
    }, this.#sampleIntervalMs);
    this.#sampleTimer.unref?.();
  }

  #tally(row: FleetRow, delta: 1 | -1): void {
    if (row.state === 'online') this.#online += delta;
    else if (row.neverConnected) this.#neverConnected += delta;
  }

  /** Reads every agent from the store (one read at a time; a request meanwhile runs once more after it). */
  #refresh(): Promise<void> {
    if (this.#refreshing !== undefined) {
      this.#refreshAgain = true;
      return this.#refreshing;
    }
    this.#refreshing = this.#readStore().finally(() => {
      this.#refreshing = undefined;
      if (this.#refreshAgain && !this.#closed) {
        this.#refreshAgain = false;
        void this.#refresh();
      } else if (this.#refreshTimer === undefined) {
        this.refreshSoon(this.#refreshIntervalMs);
      }
    });
    return this.#refreshing;
  }

  async #readStore(): Promise<void> {
    let views: AdminAgentView[];
    try {
      views = await this.#o.loadAgents();
    } catch (err) {
      this.#o.logger.warn('dashboard could not read the agents from the store', { error: err instanceof Error ? err.message : String(err) });
      this.#recompute([...this.#connections.keys()]);
      return;
    }
    if (this.#closed) return;
    const touched = new Set<string>(this.#store.keys());
    this.#store.clear();
    for (const v of views) {
      if (!v.registered) continue;
      this.#store.set(v.name, { accessMode: v.accessMode, activeTokens: v.activeTokens, hasUsedToken: v.lastTokenUseAt !== null });
      if (!v.online && v.since !== null && !this.#offlineSinceMs.has(v.name)) this.#offlineSinceMs.set(v.name, Date.parse(v.since));
      touched.add(v.name);
    }
    for (const name of this.#connections.keys()) touched.add(name);
    this.#recompute(touched);
  }
}

/** True when a row changed enough to send: any field, except keepalive RTT jitter under max(1 ms, 10 %). */
function rowsDiffer(a: FleetRow, b: FleetRow): boolean {
  for (const field of FLEET_ROW_FIELDS) {
    if (field === 'rttMs') continue;
    if (a[field] !== b[field]) return true;
  }
  if (a.rttMs === null || b.rttMs === null) return a.rttMs !== b.rttMs;
  return Math.abs(a.rttMs - b.rttMs) >= Math.max(1, 0.1 * a.rttMs);
}

/** `row` as the array of `FLEET_ROW_FIELDS`. */
export function fleetRowTuple(row: FleetRow): FleetRowTuple {
  return FLEET_ROW_FIELDS.map((field) => row[field]);
}
